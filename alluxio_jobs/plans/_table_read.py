"""The schemas and rows of a Compact task's input files.

Each input file's schema is read first (CSV: its header, every column text; JSON lines:
the types its values show; Parquet: its own), and the schemas of a group's files are
merged into the schema of its output file or refused naming both files. The rows then
follow in batches, in the output file's column order: Arrow record batches for Parquet
output, lists of row tuples otherwise.
"""

import contextlib
import csv
import json
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import attrs

from alluxio_jobs.errors import JobConfigError, StorageError
from alluxio_jobs.plans._table_format import TableFormat
from alluxio_jobs.plans._table_input import _reading, _Source

#: Rows per batch on the pure-Python (CSV and JSON lines) path.
_BATCH_ROWS = 4096
#: Bytes of CSV text per batch on the Arrow path.
_ARROW_BLOCK = 1 << 20
#: Rows per batch read from a Parquet file.
_PARQUET_BATCH_ROWS = 65536

Schema = list[list[str]]  # [[column name, type name], ...]


def _check_names(path: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise StorageError(path, f"column {name!r} appears twice")
        seen.add(name)


def _csv_header(source: _Source) -> list[str] | None:
    with _reading(source.path, "CSV"), source.text() as text:
        for row in csv.reader(text, strict=True):
            if row:
                _check_names(source.path, row)
                return row
    return None


_JSON_TYPES: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "int64"), (float, "double"),
                                             (str, "string"))


def _json_type(path: str, line: int, name: str, value: object) -> str | None:
    if value is None:
        return None
    for kind, type_name in _JSON_TYPES:
        if isinstance(value, kind):
            return type_name
    raise StorageError(path, f"line {line}: column {name!r} holds a nested value "
                             f"({type(value).__name__}); only scalar values are supported")


def _unify(a: str, b: str) -> str | None:
    """The type holding both ``a`` and ``b`` (JSON lines), or None."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int64", "double"}:
        return "double"
    return None


def _json_lines(text: IO[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise StorageError(path, f"line {number}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise StorageError(path, f"line {number}: not a JSON object")
        yield number, obj


def _json_schema(source: _Source, exact: bool) -> Schema | None:
    """Column names (from the first line) and types, reading until every column has
    shown a value (or to the end of the file). ``exact``: read on while a column holds
    integers only, as a later float makes it a float column."""
    names: list[str] | None = None
    types: dict[str, str] = {}
    with _reading(source.path, "JSON lines"), source.text() as text:
        for number, obj in _json_lines(text, source.path):
            if names is None:
                names = list(obj)
            _check_keys(source.path, number, names, obj)
            for name in names:
                found = _json_type(source.path, number, name, obj[name])
                if found is None:
                    continue
                known = types.get(name)
                merged = found if known is None else _unify(known, found)
                if merged is None:
                    raise StorageError(source.path, f"line {number}: column {name!r} holds "
                                                    f"{found} after {known}")
                types[name] = merged
            if len(types) == len(names) and not (exact and "int64" in types.values()):
                break
    if names is None:
        return None
    return [[name, types.get(name, "null")] for name in names]


def _check_keys(path: str, number: int, names: list[str], obj: dict[str, Any]) -> None:
    if len(obj) != len(names) or any(name not in obj for name in names):
        raise StorageError(path, f"line {number}: keys {sorted(obj)} differ from the first "
                                 f"line's {sorted(names)}")


def _schema_of(source: _Source, fmt: TableFormat, arrow: tuple[Any, Any, Any] | None,
               exact: bool) -> Schema | None:
    """The file's schema, or None for a file with no data and no header at all."""
    if source.item.length == 0:
        return None
    if fmt is TableFormat.CSV:
        header = _csv_header(source)
        return None if header is None else [[name, "string"] for name in header]
    if fmt is TableFormat.JSON:
        return _json_schema(source, exact)
    assert arrow is not None
    with _reading(source.path, "Parquet"), source.parquet(arrow[2]) as parquet:
        schema = parquet.schema_arrow
        return [[field.name, str(field.type)] for field in schema]


def _format_schema(schema: Schema) -> str:
    return "(" + ", ".join(f"{n}: {t}" for n, t in schema) + ")"


def _merge(merged: Schema, schema: Schema, first: str, path: str, fmt: TableFormat) -> Schema:
    """``merged`` (read from ``first``) and ``schema`` (from ``path``) as one schema, in
    ``merged``'s column order; a JobConfigError naming both files if they differ."""
    other = {pair[0]: pair[1] for pair in schema}
    out = []
    ok = len(other) == len(schema) == len(merged)
    for name, type_name in merged:
        if not ok or name not in other:
            ok = False
            break
        unified = (_unify(type_name, other[name]) if fmt is TableFormat.JSON
                   else type_name if type_name == other[name] else None)
        if unified is None:
            ok = False
            break
        out.append([name, unified])
    if not ok:
        raise JobConfigError("input", path.rsplit("/", 1)[0],
                             f"{first} and {path} have different schemas: "
                             f"{_format_schema(merged)} vs {_format_schema(schema)}")
    return out


def _arrow_type(pa: Any, type_name: str) -> Any:
    simple = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(),
              "bool": pa.bool_(), "null": pa.null()}
    return simple[type_name]


# ---------------------------------------------------------- batches of rows

Rows = list[tuple[Any, ...]]


def _csv_rows(source: _Source, names: list[str]) -> Iterator[Rows]:
    """The rows of a CSV file in batches, columns in ``names`` order, '' read as None."""
    with _reading(source.path, "CSV"), source.text() as text:
        reader = csv.reader(text, strict=True)
        header = next((row for row in reader if row), None)
        if header is None:
            return
        order = None if header == names else [header.index(n) for n in names]
        width = len(header)
        batch: Rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise StorageError(source.path, f"line {reader.line_num}: expected {width} "
                                                f"fields, got {len(row)}")
            if order is not None:
                row = [row[i] for i in order]
            batch.append(tuple([x or None for x in row]))
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch


def _json_rows(source: _Source, names: list[str]) -> Iterator[Rows]:
    with _reading(source.path, "JSON lines"), source.text() as text:
        batch: Rows = []
        for number, obj in _json_lines(text, source.path):
            _check_keys(source.path, number, names, obj)
            batch.append(tuple([obj[name] for name in names]))
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch


def _rows_of(batch: Any) -> Rows:
    """An Arrow record batch as rows."""
    columns = [column.to_pylist() for column in batch.columns]
    return list(zip(*columns, strict=True)) if columns else [()] * batch.num_rows


def _arrow_batch(pa: Any, rows: Rows, schema: Any) -> Any:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [pa.array(list(col), type=field.type)
              for col, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _batches(source: _Source, fmt: TableFormat, schema: Schema, file_names: list[str],
             arrow_schema: Any, arrow: tuple[Any, Any, Any] | None) -> Iterator[Any]:
    """The rows of one input in the group's column order: Arrow record batches when
    ``arrow_schema`` is given (Parquet output), else lists of row tuples."""
    names = [n for n, _ in schema]
    if arrow_schema is not None:
        assert arrow is not None
        pa, pacsv, pq = arrow
        if fmt is TableFormat.CSV:
            with _reading(source.path, "CSV"), contextlib.closing(
                    source.arrow_stream(pa)) as stream:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(block_size=_ARROW_BLOCK),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        column_types={n: pa.string() for n in file_names},
                        strings_can_be_null=True, quoted_strings_can_be_null=True,
                        null_values=[""]))
                for batch in reader:
                    yield batch.select(names)
            return
        if fmt is TableFormat.PARQUET:
            with _reading(source.path, "Parquet"), source.parquet(pq) as parquet:
                for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                    yield pa.RecordBatch.from_arrays(batch.select(names).columns,
                                                     schema=arrow_schema)
            return
        for rows in _json_rows(source, names):
            with _reading(source.path, f"Parquet columns {_format_schema(schema)}"):
                converted = _arrow_batch(pa, rows, arrow_schema)
            yield converted
        return
    if fmt is TableFormat.CSV:
        yield from _csv_rows(source, names)
    elif fmt is TableFormat.JSON:
        yield from _json_rows(source, names)
    else:
        assert arrow is not None
        with _reading(source.path, "Parquet"), source.parquet(arrow[2]) as parquet:
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                yield _rows_of(batch.select(names))


# ------------------------------------------------------ the files of a group


@attrs.frozen
class _GroupSchema:
    """What a group's output file is read from: ``fmt``, the input format; ``files``,
    each input file's schema (None for a file with neither data nor a header);
    ``columns``, their merged schema, read first from file ``first``; ``arrow``, the
    output's Arrow schema when it is Parquet (else None)."""

    fmt: TableFormat
    files: list[Schema | None]
    columns: Schema
    first: str
    arrow: Any


def _group_schema(sources: Sequence[_Source], fmt: TableFormat, output_format: TableFormat,
                  arrow: tuple[Any, Any, Any] | None, check_canceled: Callable[[], None]
                  ) -> _GroupSchema:
    """Read and merge the schemas of a group's input files."""
    merged: Schema | None = None
    first = ""
    file_schemas: list[Schema | None] = []
    for source in sources:
        check_canceled()
        schema = _schema_of(source, fmt, arrow, exact=output_format is TableFormat.PARQUET)
        file_schemas.append(schema)
        if schema is None:
            continue
        if merged is None:
            merged, first = schema, source.path
        else:
            merged = _merge(merged, schema, first, source.path, fmt)
    merged = merged or []
    arrow_schema = None
    if output_format is TableFormat.PARQUET:
        assert arrow is not None
        pa = arrow[0]
        if fmt is TableFormat.PARQUET:
            first_with = next(i for i, s in enumerate(file_schemas) if s is not None) \
                if any(s is not None for s in file_schemas) else None
            if first_with is None:
                arrow_schema = pa.schema([])
            else:
                with _reading(sources[first_with].path, "Parquet"), \
                        sources[first_with].parquet(arrow[2]) as parquet:
                    schema_arrow = parquet.schema_arrow
                arrow_schema = pa.schema([pa.field(f.name, f.type) for f in schema_arrow])
        else:
            arrow_schema = pa.schema([(n, _arrow_type(pa, t)) for n, t in merged])
    return _GroupSchema(fmt=fmt, files=file_schemas, columns=merged, first=first,
                        arrow=arrow_schema)


def _group_batches(sources: Sequence[_Source], schema: _GroupSchema,
                   arrow: tuple[Any, Any, Any] | None, check_canceled: Callable[[], None]
                   ) -> Iterator[Any]:
    """The rows of a group's input files, one batch after another, in ``schema``'s
    column order; ``check_canceled`` is called before each batch is handed on."""
    for source, file_schema in zip(sources, schema.files, strict=True):
        if file_schema is None:
            continue
        file_names = [n for n, _ in file_schema]
        for batch in _batches(source, schema.fmt, schema.columns, file_names, schema.arrow,
                              arrow):
            check_canceled()
            yield batch
