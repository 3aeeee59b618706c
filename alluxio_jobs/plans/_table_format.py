"""The table formats of a Compact job, their compressions, and pyarrow when it is needed.

One place for what the configs accept, what the readers and writers switch on and what
the output files are named; ``pyarrow`` (the optional extra ``alluxio_jobs[parquet]``) is
imported only by a job that reads or writes Parquet.
"""

import enum
import importlib
from typing import Any

import attrs

from alluxio_jobs import _validate as v
from alluxio_jobs.errors import JobConfigError

#: How to install what Parquet needs.
PARQUET_EXTRA = "pip install 'alluxio_jobs[parquet]'"


class TableFormat(enum.StrEnum):
    """The file formats a Compact job reads and writes."""

    #: Comma-separated values with a header row; every column is text. Gzipped input
    #: files are recognised by their content.
    CSV = "csv"
    #: Parquet, through ``pyarrow`` (``alluxio_jobs[parquet]``).
    PARQUET = "parquet"
    #: JSON lines: one object per line, the same keys on every line.
    JSON = "json"

    @classmethod
    def of(cls, value: object, field: str) -> "TableFormat":
        if isinstance(value, TableFormat):
            return value
        text = value.lower() if isinstance(value, str) else ""
        if text == "jsonl":
            return cls.JSON
        try:
            return cls(text)
        except ValueError:
            raise JobConfigError(field, value,
                                 f"must be one of {[f.value for f in cls]}") from None


_TEXT_COMPRESSIONS = ("none", "gzip")
_PARQUET_COMPRESSIONS = ("none", "snappy", "gzip", "zstd", "brotli", "lz4")


def _output_compression(fmt: TableFormat, compression: str) -> str:
    if not compression:
        return "snappy" if fmt is TableFormat.PARQUET else "none"
    return compression


def _extension(fmt: TableFormat, compression: str) -> str:
    if fmt is TableFormat.PARQUET:
        return "parquet"
    return fmt.value + (".gz" if compression == "gzip" else "")


def compression_ratio(fmt: TableFormat, file_name: str) -> float:
    """Alluxio's ``COMPRESSION_RATIO``: how many bytes of this input make one byte of
    Parquet (PARQUET 1.0, CSV 5.0, GZIP_CSV 2.5; JSON lines count as CSV)."""
    if fmt is TableFormat.PARQUET:
        return 1.0
    return 2.5 if file_name.endswith(".gz") else 5.0


# ------------------------------------------------------------ config fields


def _compression(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Validator: a compression the config's ``output_format`` can write ('' for its
    default)."""
    v.instance_of(str)(inst, attribute, value)
    if value == "":
        return
    allowed = (_PARQUET_COMPRESSIONS if inst.output_format is TableFormat.PARQUET
               else _TEXT_COMPRESSIONS)
    if value not in allowed:
        raise JobConfigError(attribute.name, value,
                             f"must be one of {list(allowed)} for {inst.output_format.value} "
                             "output")


def _input_format(value: object) -> TableFormat:
    return TableFormat.of(value, "input_format")


def _output_format(value: object) -> TableFormat:
    return TableFormat.of(value, "output_format")


# ------------------------------------------------------------- pyarrow, lazily


def _arrow(field: str) -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.csv, pyarrow.parquet)``, or a JobConfigError naming the extra."""
    try:
        pa = importlib.import_module("pyarrow")
        pacsv = importlib.import_module("pyarrow.csv")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise JobConfigError(field, "parquet", "needs pyarrow, which is not installed; "
                                               f"install it with: {PARQUET_EXTRA}") from exc
    return pa, pacsv, pq
