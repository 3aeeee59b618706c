"""CRC-32, the checksum every copy of a block is verified with.

The standard library's ``zlib.crc32`` runs at about 4 GB/s a core, as slow as the copy it
checks, so a load would spend half its time checksumming. The ``speedups`` extra
(``pip install 'alluxio_jobs[speedups]'``) installs zlib-ng, whose CRC-32 gives the same
values several times faster; it is used whenever it can be imported. Checksums made with
either implementation are interchangeable.
"""

import zlib
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["CRC32_IMPLEMENTATION", "crc32"]

Crc32: TypeAlias = Callable[[bytes | bytearray | memoryview, int], int]


def _fastest() -> tuple[Crc32, str]:
    """The fastest CRC-32 importable here, and its name."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return zlib.crc32, "zlib"
    return zlib_ng.crc32, "zlib-ng"


_crc32, CRC32_IMPLEMENTATION = _fastest()


def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """The CRC-32 of ``data``, continuing from ``value`` (the CRC of what came before)."""
    return _crc32(data, value)
