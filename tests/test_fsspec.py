"""The embedded storage as an fsspec filesystem: listing, reading through the block
caches (or the UFS), writing whole files, and URLs with the ``alluxio`` protocol."""

from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from alluxio_jobs.commands import distributed_load
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.fsspec_fs import AlluxioFileSystem
from alluxio_jobs.model import Status
from tests.plans.support import WAIT

BLOCK = 1024


@pytest.fixture
def ufs(tmp_path: Path) -> Path:
    root = tmp_path / "ufs"
    (root / "sales" / "2024").mkdir(parents=True)
    (root / "sales" / "a.csv").write_bytes(b"id,amount\n1,2.5\n2,4.0\n")
    (root / "sales" / "2024" / "big.bin").write_bytes(bytes(range(256)) * 20)  # 5 blocks
    return root


@pytest.fixture
def storage(ufs: Path) -> Iterator[FileSystem]:
    with FileSystem.local(3, block_size=BLOCK, cache="memory", cache_capacity=1 << 20,
                          threadpool_size=2) as fs:
        fs.mount("/data", ufs.as_uri())
        yield fs


@pytest.fixture
def afs(storage: FileSystem) -> AlluxioFileSystem:
    return AlluxioFileSystem(storage)


def test_ls_info_and_find(afs: AlluxioFileSystem) -> None:
    assert afs.ls("/data/sales", detail=False) == ["/data/sales/2024", "/data/sales/a.csv"]
    big = afs.info("alluxio:///data/sales/2024/big.bin")
    assert (big["name"], big["size"], big["type"]) == ("/data/sales/2024/big.bin", 5120, "file")
    assert big["persistence_state"] == "PERSISTED"
    assert big["in_alluxio_percentage"] == 0
    assert len(big["block_ids"]) == 5
    assert afs.info("alluxio://data/sales")["type"] == "directory"
    assert afs.ls("/data/sales/a.csv", detail=False) == ["/data/sales/a.csv"]
    assert afs.find("/data") == ["/data/sales/2024/big.bin", "/data/sales/a.csv"]
    assert afs.glob("/data/**/*.csv") == ["/data/sales/a.csv"]
    assert afs.isdir("/data/sales/2024")
    assert afs.isfile("/data/sales/a.csv")
    assert not afs.exists("/data/nope")
    with pytest.raises(FileNotFoundError):
        afs.info("/data/nope")
    with pytest.raises(FileNotFoundError):
        afs.ls("/data/nope")


def test_reads_match_the_ufs(afs: AlluxioFileSystem, ufs: Path) -> None:
    raw = (ufs / "sales" / "2024" / "big.bin").read_bytes()
    path = "/data/sales/2024/big.bin"
    assert afs.cat(path) == raw
    assert afs.cat_file(path, 1000, 3100) == raw[1000:3100]
    assert afs.cat_file(path, -100) == raw[-100:]
    assert afs.cat_file(path, 10, -10) == raw[10:-10]
    assert afs.cat_file(path, 4000, 10) == b""
    with afs.open(path) as f:
        assert f.read(10) == raw[:10]
        f.seek(2040)
        assert f.read(20) == raw[2040:2060]  # across a block boundary
        f.seek(-5, 2)
        assert f.read() == raw[-5:]
    with fsspec.open(f"alluxio://{path}", fs=afs.storage) as f:
        assert f.read() == raw
    assert afs.cat("/data/sales/a.csv").splitlines()[0] == b"id,amount"
    with pytest.raises(IsADirectoryError):
        afs.open("/data/sales")


def test_cached_copies_are_read_when_the_ufs_no_longer_has_them(
        storage: FileSystem, afs: AlluxioFileSystem, ufs: Path) -> None:
    path = "/data/sales/2024/big.bin"
    raw = (ufs / "sales" / "2024" / "big.bin").read_bytes()
    assert distributed_load(storage, path).wait(WAIT).status is Status.COMPLETED
    assert afs.info(path)["in_alluxio_percentage"] == 100
    (ufs / "sales" / "2024" / "big.bin").write_bytes(b"")  # only the caches have it now
    assert afs.cat(path) == raw
    with afs.open(path) as f:
        f.seek(3000)
        assert f.read(100) == raw[3000:3100]
    storage.free(path)  # now the UFS is asked, and its copy does not verify
    with pytest.raises(OSError, match="block"):
        afs.cat(path)


def test_writes_appear_whole_or_not_at_all(storage: FileSystem, afs: AlluxioFileSystem,
                                           ufs: Path) -> None:
    with afs.open("/data/out/new.txt", "wb", write_type="CACHE_THROUGH") as f:
        f.write(b"hello ")
        f.write(b"world" * 500)
    assert afs.cat("/data/out/new.txt") == b"hello " + b"world" * 500
    assert (ufs / "out" / "new.txt").read_bytes() == b"hello " + b"world" * 500
    def write_then_fail() -> None:
        with afs.open("/data/out/broken.txt", "wb") as f:
            f.write(b"partial")
            raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert not afs.exists("/data/out/broken.txt")
    assert not (ufs / "out" / "broken.txt").exists()
    with pytest.raises(FileExistsError):
        afs.open("/data/out/new.txt", "xb")
    cached = AlluxioFileSystem(storage, write_type="MUST_CACHE")
    cached.pipe("/data/out/cached.bin", b"\x00" * 10)
    assert cached.info("/data/out/cached.bin")["persistence_state"] == "NOT_PERSISTED"
    assert not (ufs / "out" / "cached.bin").exists()
    with pytest.raises(NotImplementedError):
        afs.open("/data/out/new.txt", "ab")


def test_mkdir_mv_and_rm(afs: AlluxioFileSystem, ufs: Path) -> None:
    afs.makedirs("/data/tmp/deep", exist_ok=True)
    afs.makedirs("/data/tmp/deep", exist_ok=True)
    with pytest.raises(FileExistsError):
        afs.mkdir("/data/tmp")
    assert (ufs / "tmp" / "deep").is_dir()
    afs.mv("/data/sales/a.csv", "/data/tmp/a.csv")
    assert afs.cat("/data/tmp/a.csv").startswith(b"id,amount")
    assert (ufs / "tmp" / "a.csv").exists()
    assert not (ufs / "sales" / "a.csv").exists()
    afs.rm("/data/tmp", recursive=True)
    assert not afs.exists("/data/tmp")
    assert not (ufs / "tmp").exists()
    with pytest.raises(FileNotFoundError):
        afs.rm_file("/data/tmp/a.csv")


def test_the_protocol_is_registered(storage: FileSystem) -> None:
    fs = fsspec.filesystem("alluxio", fs=storage)
    assert isinstance(fs, AlluxioFileSystem)
    assert fs.ls("/data", detail=False) == ["/data/sales"]
    of = fsspec.open("alluxio:///data/sales/a.csv", "rb", fs=storage)
    with of as f:
        assert f.readline() == b"id,amount\n"


def test_pandas_reads_through_it(storage: FileSystem) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv("alluxio:///data/sales/a.csv", storage_options={"fs": storage})
    assert list(frame["amount"]) == [2.5, 4.0]
