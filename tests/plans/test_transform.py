"""Compact and transform(): grouping, formats, all-or-nothing commits, partitions."""

import csv
import gzip
import io
import json
import pickle
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import Status
from alluxio_jobs.plans.base import SelectContext
from alluxio_jobs.plans.transform import (
    DEFAULT_MAX_NUM_FILES,
    DEFAULT_MIN_FILE_SIZE,
    PARQUET_EXTRA,
    CompactConfig,
    CompactPlan,
    TableFormat,
    compression_ratio,
    group_files,
    parse_definition,
    transform,
)
from alluxio_jobs.serde import from_dict, to_dict
from alluxio_jobs.storage import WriteType
from tests.plans.support import (
    WAIT,
    FlakyFileSystem,
    FsFactory,
    completed,
    put_ufs,
    run,
    ufs_bytes,
    ufs_names,
)

Row = tuple[Any, ...]

# --------------------------------------------------------------- table files


def csv_bytes(names: list[str], rows: list[Row], gz: bool = False) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(names)
    writer.writerows(rows)
    data = text.getvalue().encode()
    return gzip.compress(data, mtime=0) if gz else data


def json_bytes(names: list[str], rows: list[Row]) -> bytes:
    return "".join(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) + "\n"
                   for row in rows).encode()


def parquet_bytes(names: list[str], rows: list[Row], types: list[Any] | None = None) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    types = types or [pa.string()] * len(names)
    table = pa.table({n: pa.array(list(c), type=t)
                      for n, c, t in zip(names, columns, types, strict=True)})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def encode(fmt: TableFormat, names: list[str], rows: list[Row], gz: bool = False) -> bytes:
    if fmt is TableFormat.CSV:
        return csv_bytes(names, rows, gz)
    if fmt is TableFormat.JSON:
        return json_bytes(names, rows)
    return parquet_bytes(names, rows)


def decode(fmt: TableFormat, data: bytes) -> tuple[list[str], list[Row]]:
    """A written file's column names and rows, read with the plain libraries."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if fmt is TableFormat.CSV:
        if not data:
            return [], []
        reader = csv.reader(io.StringIO(data.decode(), newline=""))
        names = next(reader)
        return names, [tuple(x or None for x in row) for row in reader if row]
    if fmt is TableFormat.JSON:
        objects = [json.loads(line) for line in data.decode().split("\n") if line]
        names = list(objects[0]) if objects else []
        return names, [tuple(o.values()) for o in objects]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(io.BytesIO(data))
    return table.column_names, [tuple(r.values()) for r in table.to_pylist()]


def as_csv(rows: list[Row]) -> list[Row]:
    """What CSV keeps: text, with empty strings read back as null."""
    return [tuple(None if x is None or x == "" else str(x) for x in row) for row in rows]


def typed(rows: list[Row]) -> list[Row]:
    """Rows comparable with their types (True is not 1, 1.0 is not 1)."""
    return [tuple((type(x).__name__, x) for x in row) for row in rows]


def output_rows(fs: FileSystem, directory: str, fmt: TableFormat) -> tuple[list[str], list[Row]]:
    """Every part file under ``directory`` read in part order (through the namespace)."""
    parts = sorted((p for p in fs.list_status(directory) if p.name.startswith("part-")),
                   key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    names: list[str] = []
    rows: list[Row] = []
    for part in parts:
        part_names, part_rows = decode(fmt, fs.read(part.path))
        names = names or part_names
        rows.extend(part_rows)
    return names, rows


def unique_dir() -> str:
    return f"/data/t-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------- strategies

TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
NAMES = st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\ufeff"),
                         min_size=1, max_size=6),
                 min_size=1, max_size=4, unique=True)


@st.composite
def text_tables(draw: st.DrawFn) -> tuple[list[str], list[list[Row]]]:
    """Column names and 1-4 files of rows of text or nulls."""
    names = draw(NAMES)
    row = st.tuples(*[st.none() | TEXT for _ in names])
    files = draw(st.lists(st.lists(row, max_size=6), min_size=1, max_size=4))
    return names, files


JSON_VALUES = {
    "string": TEXT,
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
}


@st.composite
def json_tables(draw: st.DrawFn) -> tuple[list[str], list[list[Row]]]:
    """Column names and 1-4 files of rows; each column holds one type, or null."""
    names = draw(NAMES)
    kinds = [draw(st.sampled_from(sorted(JSON_VALUES))) for _ in names]
    row = st.tuples(*[st.none() | JSON_VALUES[k] for k in kinds])
    files = draw(st.lists(st.lists(row, max_size=6), min_size=1, max_size=4))
    return names, files


HYPOTHESIS = settings(max_examples=12, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])


def put_files(fs: FileSystem, directory: str, fmt: TableFormat, names: list[str],
              files: list[list[Row]], gz: list[bool] | None = None) -> list[bytes]:
    blobs = []
    for i, rows in enumerate(files):
        zipped = bool(gz and gz[i % len(gz)])
        data = encode(fmt, names, rows, zipped)
        put_ufs(fs, f"{directory}/f-{i}.{fmt.value}{'.gz' if zipped else ''}", data)
        blobs.append(data)
    return blobs


def compact_and_read(fs: FileSystem, fmt_in: TableFormat, fmt_out: TableFormat,
                     names: list[str], files: list[list[Row]], max_num_files: int,
                     gz: list[bool] | None = None, compression: str = ""
                     ) -> tuple[list[str], list[Row], str]:
    directory = unique_dir()
    blobs = put_files(fs, f"{directory}/in", fmt_in, names, files, gz)
    completed(fs, CompactConfig(input=f"{directory}/in", output=f"{directory}/out",
                                input_format=fmt_in, output_format=fmt_out,
                                max_num_files=max_num_files, min_file_size=1,
                                compression=compression))
    for i, blob in enumerate(blobs):  # the input is untouched
        name = next(p for p in fs.list_status(f"{directory}/in") if p.name.startswith(f"f-{i}."))
        assert fs.read(name.path) == blob
    return (*output_rows(fs, f"{directory}/out", fmt_out), f"{directory}/out")


# ------------------------------------------------------------------- configs


def test_config_validates_and_round_trips() -> None:
    config = CompactConfig(input="/in", output="/out", input_format="JSONL",
                           output_format="CSV", compression="gzip", max_num_files=3)
    assert config.input_format is TableFormat.JSON
    assert config.output_format is TableFormat.CSV
    assert from_dict(to_dict(config)) == config
    assert CompactConfig(input="/in", output="/out").output_format is TableFormat.PARQUET
    with pytest.raises(JobConfigError, match="Write action must have positive number of files"):
        CompactConfig(input="/in", output="/out", max_num_files=0)
    with pytest.raises(JobConfigError, match="input_format"):
        CompactConfig(input="/in", output="/out", input_format="orc")
    with pytest.raises(JobConfigError, match="compression"):
        CompactConfig(input="/in", output="/out", output_format="csv", compression="snappy")
    with pytest.raises(JobConfigError, match="min_file_size"):
        CompactConfig(input="/in", output="/out", min_file_size=-1)
    with pytest.raises(JobConfigError, match="output"):
        CompactConfig(input="/in", output="/in/out")
    with pytest.raises(JobConfigError, match="output"):
        CompactConfig(input="/in/sub", output="/in")
    with pytest.raises(JobConfigError, match="URL"):
        CompactConfig(input="file:///in", output="/out")
    with pytest.raises(JobConfigError, match="input"):
        CompactConfig(input="in", output="/out")


def test_parse_definition() -> None:
    assert parse_definition("") == (DEFAULT_MAX_NUM_FILES, DEFAULT_MIN_FILE_SIZE)
    assert parse_definition("file.count.max=12") == (12, DEFAULT_MIN_FILE_SIZE)
    assert parse_definition("file.count.max=1000;file.size.min=1024") == (1000, 1024)
    assert parse_definition(" file.size.min = 1GB ;\n# a comment\nfile.count.max=3;") == (
        3, 1 << 30)
    assert parse_definition("file.size.min=64MiB")[1] == 64 << 20
    with pytest.raises(JobConfigError, match=r"file\.count\.min") as info:
        parse_definition("file.count.max=3;file.count.min=1")
    assert info.value.field == "definition"
    assert info.value.value == "file.count.min"
    with pytest.raises(JobConfigError, match="Write action must have positive number of files"):
        parse_definition("file.count.max=0")
    with pytest.raises(JobConfigError, match=r"file\.count\.max"):
        parse_definition("file.count.max=many")
    with pytest.raises(JobConfigError, match=r"file\.size\.min"):
        parse_definition("file.size.min=big")
    with pytest.raises(JobConfigError, match="key=value"):
        parse_definition("file.count.max")


# ------------------------------------------------------------------ grouping


def test_group_files_follows_alluxio() -> None:
    assert group_files([], 10, 100) == []
    # aim 20: pairs of files of 10
    assert group_files([10] * 6, 100, 20) == [[0, 1], [2, 3], [4, 5]]
    # too many groups for max 2: the aim becomes total / 2, the last group takes the rest
    assert group_files([10] * 6, 2, 1) == [[0, 1, 2], [3, 4, 5]]
    assert group_files([10, 10, 10, 10, 100], 2, 20) == [[0, 1, 2, 3], [4]]  # aim 70
    assert group_files([30, 1, 1, 1, 30, 30], 2, 1) == [[0, 1, 2, 3], [4, 5]]
    # a big file starts a new group; a file within half the aim joins
    assert group_files([5, 100, 5], 10, 20) == [[0], [1], [2]]
    assert group_files([0, 0, 0], 10, 0) == [[0, 1, 2]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**9), max_size=60), st.integers(1, 20), st.integers(0, 10**10))
def test_group_files_never_exceeds_max_and_keeps_order(sizes: list[int], max_num_files: int,
                                                       aim: int) -> None:
    groups = group_files(sizes, max_num_files, aim)
    assert len(groups) <= max_num_files
    assert [i for g in groups for i in g] == list(range(len(sizes)))
    assert all(groups)


def test_compression_ratio_is_alluxios() -> None:
    assert compression_ratio(TableFormat.PARQUET, "a.parquet") == 1.0
    assert compression_ratio(TableFormat.CSV, "a.csv") == 5.0
    assert compression_ratio(TableFormat.CSV, "a.csv.gz") == 2.5
    assert compression_ratio(TableFormat.JSON, "a.json") == 5.0


def test_no_job_worker() -> None:
    with pytest.raises(RuntimeError, match="No job worker"):
        CompactPlan().select_executors(CompactConfig(input="memory://a", output="memory://b"),
                                       [], SelectContext(job_id=1))


def test_listing_skips_success_crc_and_directories(fs: FileSystem) -> None:
    rows = [("1", "x")]
    for name in ("a.csv", "b.csv", "c.csv"):
        put_ufs(fs, f"/data/in/{name}", csv_bytes(["k", "v"], rows))
    put_ufs(fs, "/data/in/_SUCCESS", b"")
    put_ufs(fs, "/data/in/.a.csv.crc", b"\x00garbage")
    put_ufs(fs, "/data/in/sub/d.csv", b"not,even\ncsv,at,all\n")
    info = completed(fs, CompactConfig(input="/data/in", output="/data/out",
                                       output_format="csv"))
    assert info.result == "Compacted 3 files (3 rows) into 1 file in /data/out"
    assert [p.name for p in fs.list_status("/data/out")] == ["part-0.csv"]
    assert output_rows(fs, "/data/out", TableFormat.CSV) == (["k", "v"], rows * 3)


def test_groups_go_round_robin_to_workers_then_at_most_ten_tasks_each(
        make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs(2)
    fs.mount("/data", ufs_url)
    for i in range(30):
        put_ufs(fs, f"/data/in/f-{i:02d}.csv", csv_bytes(["n"], [(str(i),)]))
    info = completed(fs, CompactConfig(input="/data/in", output="/data/out",
                                       output_format="csv", max_num_files=30, min_file_size=1))
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    # 30 groups: even ones on worker 0, odd ones on worker 1; 15 each, in 10 tasks each
    by_worker: dict[str, list[str]] = {}
    for task in tasks:
        by_worker.setdefault(task.worker_host, []).append(task.description)
    assert sorted(len(t) for t in by_worker.values()) == [10, 10]
    first = sorted(by_worker)[0]
    assert "CompactTask{part-0.csv <- 1 files, part-20.csv <- 1 files}" in by_worker[first]
    assert "CompactTask{part-18.csv <- 1 files}" in by_worker[first]
    assert len(fs.list_status("/data/out")) == 30
    assert output_rows(fs, "/data/out", TableFormat.CSV)[1] == [(str(i),) for i in range(30)]


def test_min_file_size_is_scaled_by_the_compression_ratio(fs: FileSystem) -> None:
    data = csv_bytes(["n"], [("x" * 90,)])
    for i in range(10):
        put_ufs(fs, f"/data/in/f-{i}.csv", data)
    # min_file_size is in bytes of Parquet: one file's worth makes 5 files of CSV
    completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                min_file_size=len(data)))
    assert [p.name for p in fs.list_status("/data/out")] == ["part-0.csv", "part-1.csv"]
    assert output_rows(fs, "/data/out", TableFormat.CSV)[1] == [("x" * 90,)] * 10
    # Parquet input has ratio 1: one file per output file
    pytest.importorskip("pyarrow")
    table = parquet_bytes(["n"], [("x" * 90,)])
    for i in range(4):
        put_ufs(fs, f"/data/pq/f-{i}.parquet", table)
    completed(fs, CompactConfig(input="/data/pq", output="/data/pq-out", input_format="parquet",
                                min_file_size=len(table)))
    assert len(fs.list_status("/data/pq-out")) == 4


# --------------------------------------------------------- content preserved


@HYPOTHESIS
@given(table=text_tables(), max_num_files=st.integers(1, 3))
def test_csv_to_csv_keeps_every_row(fs: FileSystem, table: Any, max_num_files: int) -> None:
    names, files = table
    out_names, rows, _ = compact_and_read(fs, TableFormat.CSV, TableFormat.CSV, names, files,
                                          max_num_files)
    assert out_names == names
    assert rows == [r for f in files for r in as_csv(f)]


@HYPOTHESIS
@given(table=text_tables(), gz=st.lists(st.booleans(), min_size=1, max_size=4),
       max_num_files=st.integers(1, 3))
def test_gzipped_csv_to_gzipped_csv_keeps_every_row(fs: FileSystem, table: Any, gz: list[bool],
                                                    max_num_files: int) -> None:
    names, files = table
    out_names, rows, out = compact_and_read(fs, TableFormat.CSV, TableFormat.CSV, names, files,
                                            max_num_files, gz=gz, compression="gzip")
    assert out_names == names
    assert rows == [r for f in files for r in as_csv(f)]
    assert all(p.name.endswith(".csv.gz") for p in fs.list_status(out))


@HYPOTHESIS
@given(table=json_tables(), max_num_files=st.integers(1, 3))
def test_json_lines_to_json_lines_keeps_every_row(fs: FileSystem, table: Any,
                                                  max_num_files: int) -> None:
    names, files = table
    _, rows, _ = compact_and_read(fs, TableFormat.JSON, TableFormat.JSON, names, files,
                                  max_num_files)
    assert typed(rows) == typed([r for f in files for r in f])


@HYPOTHESIS
@given(table=text_tables(), max_num_files=st.integers(1, 3))
def test_csv_to_parquet_keeps_every_row(fs: FileSystem, table: Any, max_num_files: int) -> None:
    pytest.importorskip("pyarrow")
    names, files = table
    out_names, rows, _ = compact_and_read(fs, TableFormat.CSV, TableFormat.PARQUET, names,
                                          files, max_num_files)
    assert out_names == names
    assert rows == [r for f in files for r in as_csv(f)]


@HYPOTHESIS
@given(table=json_tables(), max_num_files=st.integers(1, 3))
def test_json_lines_to_parquet_keeps_every_row(fs: FileSystem, table: Any,
                                               max_num_files: int) -> None:
    pytest.importorskip("pyarrow")
    names, files = table
    out_names, rows, _ = compact_and_read(fs, TableFormat.JSON, TableFormat.PARQUET, names,
                                          files, max_num_files)
    assert out_names == (names if any(files) else [])  # JSON lines name columns in rows
    assert typed(rows) == typed([r for f in files for r in f])


@HYPOTHESIS
@given(table=text_tables(), max_num_files=st.integers(1, 3),
       out=st.sampled_from([TableFormat.PARQUET, TableFormat.JSON, TableFormat.CSV]))
def test_parquet_to_each_format_keeps_every_row(fs: FileSystem, table: Any, max_num_files: int,
                                                out: TableFormat) -> None:
    pytest.importorskip("pyarrow")
    names, files = table
    out_names, rows, _ = compact_and_read(fs, TableFormat.PARQUET, out, names, files,
                                          max_num_files)
    assert out_names == ([] if out is TableFormat.JSON and not any(files) else names)
    expected = [r for f in files for r in f]
    assert rows == (as_csv(expected) if out is TableFormat.CSV else expected)


def test_reordered_columns_are_aligned_and_empty_files_skipped(fs: FileSystem) -> None:
    put_ufs(fs, "/data/in/f-0.csv", csv_bytes(["a", "b"], [("1", "2")]))
    put_ufs(fs, "/data/in/f-1.csv", csv_bytes(["b", "a"], [("4", "3")]))
    put_ufs(fs, "/data/in/f-2.csv", b"")
    put_ufs(fs, "/data/in/f-3.csv", b"a,b\n")
    completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="json",
                                max_num_files=1))
    assert output_rows(fs, "/data/out", TableFormat.JSON) == (["a", "b"],
                                                              [("1", "2"), ("3", "4")])


def test_inputs_cached_only_in_workers_are_read_through_the_caches(fs: FileSystem) -> None:
    rows = [(str(i), "é" * (i % 7)) for i in range(400)]  # several 1 KiB blocks per file
    for i in range(3):
        fs.write(f"/data/in/f-{i}.csv", csv_bytes(["n", "s"], rows),
                 write_type=WriteType.MUST_CACHE)
    completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                max_num_files=2, min_file_size=1))
    assert output_rows(fs, "/data/out", TableFormat.CSV)[1] == as_csv(rows * 3)


def test_output_is_streamed_in_batches(fs: FileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from alluxio_jobs.plans import _table_read, _table_write

    monkeypatch.setattr(_table_read, "_BATCH_ROWS", 7)
    monkeypatch.setattr(_table_write, "_ROW_GROUP_BYTES", 1)
    rows = [(i, f"v{i}") for i in range(50)]
    put_ufs(fs, "/data/in/f-0.json", json_bytes(["n", "v"], rows))
    completed(fs, CompactConfig(input="/data/in", output="/data/out", input_format="json"))
    data = fs.read("/data/out/part-0.parquet")
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 8  # 50 rows, 7 at a time
    assert decode(TableFormat.PARQUET, data)[1] == rows


def test_urls_with_a_bare_master(make_master: Any, tmp_path: Path) -> None:
    master = make_master()
    for url in (f"file://{tmp_path}", f"memory://alluxio-test-{uuid.uuid4().hex}"):
        ufs, root = fsspec.core.url_to_fs(url)
        ufs.makedirs(f"{root}/in", exist_ok=True)
        for i in range(4):
            ufs.pipe_file(f"{root}/in/f-{i}.csv", csv_bytes(["n"], [(str(i),), (None,)]))
        job_id = transform(master, f"{url}/in", f"{url}/out", "file.count.max=2;file.size.min=1",
                           output_format="csv")
        info = master.wait(job_id, timeout=WAIT)
        assert info.status is Status.COMPLETED, info.error_message
        names = sorted(p.rsplit("/", 1)[-1] for p in ufs.ls(f"{root}/out", detail=False))
        assert names == ["part-0.csv", "part-1.csv"]
        rows = [r for n in names for r in decode(TableFormat.CSV,
                                                 ufs.cat_file(f"{root}/out/{n}"))[1]]
        assert rows == [(str(i // 2),) if i % 2 == 0 else (None,) for i in range(8)]
        assert sorted(p.rsplit("/", 1)[-1] for p in ufs.ls(root, detail=False)) == ["in", "out"]
        if url.startswith("memory"):
            ufs.rm(root, recursive=True)


def test_urls_all_or_nothing(make_master: Any, tmp_path: Path) -> None:
    """With URLs too, a failed job leaves the output as it was and overwrite replaces it;
    a partitioned table is committed in one go."""
    master = make_master()
    ufs = fsspec.filesystem("file")
    root = str(tmp_path)
    for d in ("t/k=a", "t/k=b", "out"):
        ufs.makedirs(f"{root}/{d}", exist_ok=True)
    for i in range(3):
        ufs.pipe_file(f"{root}/t/k=a/f-{i}.csv", csv_bytes(["n"], [(f"a{i}",)]))
        ufs.pipe_file(f"{root}/t/k=b/f-{i}.csv", csv_bytes(["n"], [(f"b{i}",)]))
    ufs.pipe_file(f"{root}/out/old.csv", b"n\nold\n")

    def listing() -> dict[str, bytes]:
        return {p[len(root) + 1:]: ufs.cat_file(p) for p in ufs.find(root)
                if not p.startswith(f"{root}/t/")}

    before = listing()
    ufs.pipe_file(f"{root}/t/k=b/f-9.csv", b"n\ntoo,many\n")
    job_id = transform(master, f"file://{root}/t", f"file://{root}/out", overwrite=True,
                       output_format="csv")
    assert master.wait(job_id, timeout=WAIT).status is Status.FAILED
    assert {k: v for k, v in listing().items() if "alluxio-" not in k} == before
    deadline = time.monotonic() + WAIT
    while any("alluxio-" in k for k in listing()):  # removed as the job finishes
        assert time.monotonic() < deadline
        threading.Event().wait(0.01)
    ufs.rm(f"{root}/t/k=b/f-9.csv")
    job_id = transform(master, f"file://{root}/t", f"file://{root}/out", overwrite=True,
                       output_format="csv")
    assert master.wait(job_id, timeout=WAIT).status is Status.COMPLETED
    assert sorted(listing()) == ["out/k=a/part-0.csv", "out/k=b/part-0.csv"]
    assert decode(TableFormat.CSV, listing()["out/k=b/part-0.csv"])[1] == [
        ("b0",), ("b1",), ("b2",)]


def test_alluxio_paths_need_a_file_system(make_master: Any) -> None:
    master = make_master()
    with pytest.raises(JobConfigError, match="Alluxio path"):
        transform(master, "/in", "/out")


# ------------------------------------------------------------ nothing lost


def old_output(fs: FileSystem) -> dict[str, bytes | None]:
    put_ufs(fs, "/data/out/part-0.csv", b"old,data\n1,2\n")
    put_ufs(fs, "/data/out/keep.txt", b"previous run")
    return {n: ufs_bytes(fs, f"/data/out/{n}") for n in ("part-0.csv", "keep.txt")}


def staged(fs: FileSystem) -> list[str]:
    return [n for n in ufs_names(fs, "/data") if "alluxio-" in n]


def assert_cleaned(fs: FileSystem) -> None:
    """Nothing staged is left: the master removes a failed job's staging directory as the
    job finishes, in a done callback that may run just after ``wait`` returned."""
    deadline = time.monotonic() + WAIT
    pause = threading.Event()
    while staged(fs):
        assert time.monotonic() < deadline, staged(fs)
        pause.wait(0.01)


def assert_untouched(fs: FileSystem, before: dict[str, bytes | None],
                     inputs: dict[str, bytes]) -> None:
    """The output holds what it held before, nothing is staged, the input is intact."""
    names = ufs_names(fs, "/data")
    out = sorted(n[len("out/"):] for n in names if n.startswith("out/"))
    assert out == sorted(before)
    for name, data in before.items():
        assert ufs_bytes(fs, f"/data/out/{name}") == data
    if before:
        assert sorted(p.name for p in fs.list_status("/data/out")) == sorted(before)
    else:
        assert not fs.exists("/data/out")
    for path, data in inputs.items():
        assert ufs_bytes(fs, path) == data
    assert_cleaned(fs)


def put_inputs(fs: FileSystem, count: int = 6) -> dict[str, bytes]:
    inputs = {}
    for i in range(count):
        path = f"/data/in/f-{i}.csv"
        inputs[path] = csv_bytes(["n", "s"], [(str(i), "ü" * i)] * 3)
        put_ufs(fs, path, inputs[path])
    return inputs


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("corruption", ["fields", "gzip", "utf8"])
def test_corrupt_input_fails_and_leaves_the_output_as_it_was(fs: FileSystem, existing: bool,
                                                             corruption: str) -> None:
    before = old_output(fs) if existing else {}
    inputs = put_inputs(fs)
    bad = {"fields": b"n,s\n1,2,3\n", "gzip": b"\x1f\x8bnot gzip at all",
           "utf8": b"n,s\n1,\xff\xfe\n"}[corruption]
    inputs["/data/in/f-4.csv"] = bad
    put_ufs(fs, "/data/in/f-4.csv", bad)
    info = run(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                 max_num_files=3, min_file_size=1, overwrite=True))
    assert info.status is Status.FAILED
    assert "/data/in/f-4.csv" in info.error_message
    assert_untouched(fs, before, inputs)


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_failing_ufs_write_leaves_the_output_as_it_was(flaky_fs: FileSystem,
                                                       flaky: FlakyFileSystem,
                                                       output_format: str) -> None:
    if output_format == "parquet":
        pytest.importorskip("pyarrow")
    before = old_output(flaky_fs)
    inputs = put_inputs(flaky_fs)
    flaky.fail("write", "part-1.")
    info = run(flaky_fs, CompactConfig(input="/data/in", output="/data/out",
                                       output_format=output_format, max_num_files=3,
                                       min_file_size=1, overwrite=True))
    assert info.status is Status.FAILED
    assert "injected write failure" in info.error_message
    assert flaky.tripped.is_set()
    flaky.heal()
    assert_untouched(flaky_fs, before, inputs)


def test_failing_commit_rolls_back(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    before = old_output(flaky_fs)
    inputs = put_inputs(flaky_fs)
    flaky.fail("rename", "part-2.")  # part-0 and part-1 are already in place by then
    info = run(flaky_fs, CompactConfig(input="/data/in", output="/data/out",
                                       output_format="csv", max_num_files=3, min_file_size=1,
                                       overwrite=True))
    assert info.status is Status.FAILED
    assert "injected rename failure" in info.error_message
    flaky.heal()
    assert_untouched(flaky_fs, before, inputs)


def test_cancel_mid_job_leaves_the_output_as_it_was(flaky_fs: FileSystem,
                                                    flaky: FlakyFileSystem) -> None:
    before = old_output(flaky_fs)
    inputs = put_inputs(flaky_fs)
    gate = flaky.hold("read", "f-4.csv")
    job_id = flaky_fs.master.run(CompactConfig(input="/data/in", output="/data/out",
                                               output_format="csv", max_num_files=3,
                                               min_file_size=1, overwrite=True))
    assert gate.entered.wait(WAIT)
    flaky_fs.master.cancel(job_id)
    gate.release.set()
    info = flaky_fs.master.wait(job_id, timeout=WAIT)
    assert info.status is Status.CANCELED
    assert_untouched(flaky_fs, before, inputs)


def test_output_with_files_needs_overwrite(fs: FileSystem) -> None:
    before = old_output(fs)
    inputs = put_inputs(fs)
    info = run(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv"))
    assert info.status is Status.FAILED
    assert "is not empty; set overwrite to replace it" in info.error_message
    assert_untouched(fs, before, inputs)
    with pytest.raises(JobConfigError, match="set overwrite"):
        transform(fs, "/data/in", "/data/out", output_format="csv")
    completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                overwrite=True))
    assert [p.name for p in fs.list_status("/data/out")] == ["part-0.csv"]
    assert len(output_rows(fs, "/data/out", TableFormat.CSV)[1]) == 18
    assert [n for n in ufs_names(fs, "/data") if "alluxio-" in n] == []


def test_empty_input_completes_at_once_and_writes_nothing(fs: FileSystem) -> None:
    fs.mkdir("/data/in")
    info = completed(fs, CompactConfig(input="/data/in", output="/data/out"))
    assert fs.master.get_status(info.job_id, verbose=True).tasks == []
    assert not fs.exists("/data/out")


# ------------------------------------------------------------ schema mismatch


def test_schema_mismatch_in_one_group_names_both_files(fs: FileSystem) -> None:
    put_ufs(fs, "/data/in/f-0.csv", csv_bytes(["a", "b"], [("1", "2")]))
    put_ufs(fs, "/data/in/f-1.csv", csv_bytes(["a", "c"], [("1", "2")]))
    info = run(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                 max_num_files=1))
    assert info.status is Status.FAILED
    assert ("/data/in/f-0.csv and /data/in/f-1.csv have different schemas: "
            "(a: string, b: string) vs (a: string, c: string)") in info.error_message
    assert not fs.exists("/data/out")


def test_schema_mismatch_across_groups_names_both_files(fs: FileSystem) -> None:
    put_ufs(fs, "/data/in/f-0.json", json_bytes(["a"], [(1,)]))
    put_ufs(fs, "/data/in/f-1.json", json_bytes(["a"], [("one",)]))
    info = run(fs, CompactConfig(input="/data/in", output="/data/out", input_format="json",
                                 output_format="json", max_num_files=2, min_file_size=1))
    assert len(fs.master.get_status(info.job_id, verbose=True).tasks) == 2
    assert info.status is Status.FAILED
    assert ("/data/in/f-0.json and /data/in/f-1.json have different schemas: "
            "(a: int64) vs (a: string)") in info.error_message
    assert not fs.exists("/data/out")
    assert_cleaned(fs)


# ---------------------------------------------------------------- partitions


PARTITIONS = ["year=2020/month=1", "year=2020/month=2", "year=2021/month=1"]


def put_partitions(fs: FileSystem) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {}
    for p, name in enumerate(PARTITIONS):
        rows[name] = []
        for i in range(3):
            part_rows = [(f"{p}-{i}-{j}", None if j == 1 else "x") for j in range(2)]
            put_ufs(fs, f"/data/t/{name}/f-{i}.csv", csv_bytes(["id", "v"], part_rows))
            rows[name].extend(part_rows)
    put_ufs(fs, "/data/t/_SUCCESS", b"")
    return rows


def test_partitioned_table_runs_one_compact_per_partition(fs: FileSystem) -> None:
    pytest.importorskip("pyarrow")
    rows = put_partitions(fs)
    job_id = transform(fs, "/data/t", "/data/o", "file.count.max=2;file.size.min=1")
    info = fs.master.wait(job_id, timeout=WAIT)
    assert info.status is Status.COMPLETED, info.error_message
    top = fs.master.get_status(job_id, verbose=True)
    assert top.name == "Composite"
    step, commit = (fs.master.get_status(c.job_id, verbose=True) for c in top.children)
    assert [c.name for c in step.children] == ["Compact"] * len(PARTITIONS)
    assert commit.name == "CompactCommit"
    for name in PARTITIONS:
        assert [p.name for p in fs.list_status(f"/data/o/{name}")] == ["part-0.parquet",
                                                                       "part-1.parquet"]
        assert output_rows(fs, f"/data/o/{name}", TableFormat.PARQUET)[1] == as_csv(rows[name])
    assert [n for n in ufs_names(fs, "/data") if "alluxio-" in n] == []


def test_failing_partition_leaves_the_output_as_it_was(fs: FileSystem) -> None:
    put_partitions(fs)
    put_ufs(fs, "/data/t/year=2021/month=1/f-9.csv", b"id,v\nonly-one-field\n")
    before = {n: ufs_bytes(fs, f"/data/t/{n}") for n in ufs_names(fs, "/data/t")}
    job_id = transform(fs, "/data/t", "/data/o", "file.count.max=1", output_format="json")
    info = fs.master.wait(job_id, timeout=WAIT)
    assert info.status is Status.FAILED
    assert "f-9.csv" in info.error_message
    assert not fs.exists("/data/o")
    assert_cleaned(fs)
    assert [n for n in ufs_names(fs, "/data") if not n.startswith("t/")] == []
    assert {n: ufs_bytes(fs, f"/data/t/{n}") for n in ufs_names(fs, "/data/t")} == before


def test_partition_folders_next_to_data_files_are_refused(fs: FileSystem) -> None:
    put_partitions(fs)
    put_ufs(fs, "/data/t/stray.csv", csv_bytes(["id", "v"], []))
    with pytest.raises(JobConfigError, match="both partition folders and data files"):
        transform(fs, "/data/t", "/data/o", output_format="csv")


# ------------------------------------------------------------------- pyarrow


@pytest.fixture
def no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import pyarrow`` fails, as when the parquet extra is not installed."""
    for name in ("pyarrow", "pyarrow.csv", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_pyarrow")
def test_parquet_without_pyarrow_names_the_extra(fs: FileSystem) -> None:
    put_inputs(fs, 2)
    with pytest.raises(JobConfigError, match=PARQUET_EXTRA.replace("[", r"\[").replace("]", r"\]")
                       ) as info:
        transform(fs, "/data/in", "/data/out")
    assert info.value.field == "output_format"
    failed = run(fs, CompactConfig(input="/data/in", output="/data/out"))
    assert failed.status is Status.FAILED
    assert PARQUET_EXTRA in failed.error_message
    with pytest.raises(JobConfigError, match="input_format"):
        transform(fs, "/data/in", "/data/out", input_format="parquet", output_format="csv")
    # text formats need no pyarrow
    completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="json"))


def test_task_arguments_and_results_are_plain_data(fs: FileSystem) -> None:
    """What crosses the transport pickles (attrs records of module-level types)."""
    put_inputs(fs, 3)
    fs.write("/data/in/cached.csv", csv_bytes(["n", "s"], [("9", "z")]),
             write_type=WriteType.MUST_CACHE)
    info = completed(fs, CompactConfig(input="/data/in", output="/data/out", output_format="csv",
                                       max_num_files=2, min_file_size=1))
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    assert len(tasks) == 2
    for task in tasks:
        assert pickle.loads(pickle.dumps(task.result)) == task.result
        assert task.result.parts[0].rows > 0
    plan = fs.master.plans.get(CompactConfig(input="/in", output="/out"))
    assert isinstance(plan, CompactPlan)
    args = plan.select_executors(CompactConfig(input="/data/in", output="/data/o2"),
                                 fs.workers(), SelectContext(job_id=info.job_id))
    assert [pickle.loads(pickle.dumps(a)) for _, a in args] == [a for _, a in args]
    assert any(i.blocks for _, a in args for g in a.groups for i in g.inputs)
