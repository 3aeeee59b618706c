"""The block checksum: the fast implementation gives zlib's values, and without it
zlib is used."""

import builtins
import importlib
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alluxio_jobs.checksums as checksums


@given(st.binary(max_size=4096), st.integers(0, 4096), st.integers(0, 2**32 - 1))
def test_crc32_equals_zlib_also_when_continued(data: bytes, cut: int, start: int) -> None:
    assert checksums.crc32(data) == zlib.crc32(data)
    assert checksums.crc32(data, start) == zlib.crc32(data, start)
    head, tail = data[:cut], data[cut:]
    assert checksums.crc32(memoryview(tail), checksums.crc32(head)) == zlib.crc32(data)


def test_without_zlib_ng_the_standard_library_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_zlib_ng(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("zlib_ng"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zlib_ng)
    try:
        fallback = importlib.reload(checksums)
        assert fallback.CRC32_IMPLEMENTATION == "zlib"
        assert fallback.crc32(b"alluxio") == zlib.crc32(b"alluxio")
    finally:
        monkeypatch.undo()
        importlib.reload(checksums)


def test_the_speedups_extra_is_used_when_installed() -> None:
    try:
        importlib.import_module("zlib_ng")
    except ImportError:
        pytest.skip("the speedups extra is not installed")
    assert checksums.CRC32_IMPLEMENTATION == "zlib-ng"
