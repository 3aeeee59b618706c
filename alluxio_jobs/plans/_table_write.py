"""The output files of a Compact task: batches of rows in, one staged file out.

An output file is written in its format (CSV, JSON lines or Parquet, optionally
compressed) straight to a temporary file in the UFS, with a CRC-32 per block on the way,
so that the master can commit it as a file of the namespace without reading it again.
"""

import csv
import gzip
import io
import json
from collections.abc import Iterable
from typing import IO, Any, cast

import attrs

from alluxio_jobs.checksums import crc32
from alluxio_jobs.plans._table_format import TableFormat
from alluxio_jobs.plans._table_input import _IO_BUFFER
from alluxio_jobs.plans._table_read import Schema, _GroupSchema, _rows_of
from alluxio_jobs.ufs import UfsWriter

#: A Parquet row group is written once this many bytes of batches are pending.
_ROW_GROUP_BYTES = 32 << 20

class _Sink(io.RawIOBase):
    """Bytes into a UFS writer, with a CRC-32 per ``block_size`` bytes."""

    def __init__(self, writer: UfsWriter, block_size: int) -> None:
        self._writer = writer
        self._block_size = block_size
        self._crc = 0
        self._in_block = 0
        self.checksums: list[int] = []
        self.length = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.length

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        self._writer.write(view)
        size = self._block_size
        if size:
            offset = 0
            while offset < n:
                take = min(n - offset, size - self._in_block)
                self._crc = crc32(view[offset:offset + take], self._crc)
                self._in_block += take
                offset += take
                if self._in_block == size:
                    self.checksums.append(self._crc)
                    self._crc, self._in_block = 0, 0
        self.length += n
        return n

    def final_checksums(self) -> list[int]:
        if self._in_block:
            self.checksums.append(self._crc)
            self._crc, self._in_block = 0, 0
        return self.checksums


def _cell(value: Any) -> Any:
    """A value as CSV text (None stays None: an empty field)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _TableWriter:
    """One output file in one format; rows or Arrow batches in, bytes to ``out``."""

    def __init__(self, out: IO[bytes], fmt: TableFormat, compression: str, schema: Schema,
                 arrow_schema: Any, arrow: tuple[Any, Any, Any] | None,
                 cells_are_text: bool) -> None:
        self.fmt = fmt
        self.names = [n for n, _ in schema]
        self._cells_are_text = cells_are_text
        self._gzip: gzip.GzipFile | None = None
        self._text: io.TextIOWrapper | None = None
        self._parquet: Any = None
        self._pending: list[Any] = []
        self._pending_bytes = 0
        self._arrow_schema = arrow_schema
        if fmt is TableFormat.PARQUET:
            assert arrow is not None
            self._table = arrow[0].Table
            self._parquet = arrow[2].ParquetWriter(out, arrow_schema, compression=compression)
            return
        sink: IO[bytes] = out
        if compression == "gzip":
            self._gzip = gzip.GzipFile(fileobj=out, mode="wb", mtime=0)
            sink = cast(IO[bytes], self._gzip)
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="")
        if fmt is TableFormat.CSV:
            self._csv = csv.writer(self._text)  # RFC 4180: "\r\n", quotes any "\r" or "\n"
            if self.names:
                self._csv.writerow(self.names)

    def write(self, batch: Any) -> int:
        """Write rows (a list of tuples) or an Arrow batch; returns the row count."""
        if self._parquet is not None:
            self._pending.append(batch)
            self._pending_bytes += batch.nbytes
            if self._pending_bytes >= _ROW_GROUP_BYTES:
                self._flush_row_group()
            return int(batch.num_rows)
        rows = batch if isinstance(batch, list) else _rows_of(batch)
        assert self._text is not None
        if self.fmt is TableFormat.CSV:
            if self._cells_are_text:
                self._csv.writerows(rows)
            else:
                self._csv.writerows([[_cell(x) for x in row] for row in rows])
        else:
            names, write = self.names, self._text.write
            for row in rows:
                write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False,
                                 default=_json_default))
                write("\n")
        return len(rows)

    def _flush_row_group(self) -> None:
        if self._pending:
            table = self._table.from_batches(self._pending, schema=self._arrow_schema)
            self._parquet.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """Finish the file (its footer, its gzip trailer); leaves ``out`` open."""
        if self._parquet is not None:
            self._flush_row_group()
            self._parquet.close()
            return
        assert self._text is not None
        self._text.flush()
        self._text.detach()
        if self._gzip is not None:
            self._gzip.close()


@attrs.frozen
class _Written:
    """A staged output file: its temporary UFS path, length, CRC-32 per block, rows."""

    temp: str
    length: int
    checksums: list[int]
    rows: int


def _write_table(writer: UfsWriter, block_size: int, fmt: TableFormat, compression: str,
                 schema: _GroupSchema, arrow: tuple[Any, Any, Any] | None,
                 batches: Iterable[Any]) -> _Written:
    """Write ``batches`` (read in ``schema``) through ``writer`` as one file in ``fmt``;
    a failure aborts the writer."""
    sink = _Sink(writer, block_size)
    out = io.BufferedWriter(sink, _IO_BUFFER)
    rows = 0
    try:
        table = _TableWriter(out, fmt, compression, schema.columns, schema.arrow, arrow,
                             cells_are_text=schema.fmt is TableFormat.CSV)
        for batch in batches:
            rows += table.write(batch)
        table.close()
        out.flush()
        temp = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return _Written(temp=temp, length=sink.length, checksums=sink.final_checksums(), rows=rows)
