"""How a table's files become Compact jobs, before any job runs.

Which files of a directory are input (not ``_SUCCESS``, checksums or temporary files),
how a table partitioned Hive-style (``key=value/`` folders) splits into partitions,
Alluxio's transform definition (``file.count.max``, ``file.size.min``) and the greedy
grouping of input files into output files that the definition steers.
"""

import re
from collections.abc import Sequence

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.plans._table_sides import _Side
from alluxio_jobs.ufs import is_temp_name

#: Defaults of Alluxio's ``CompactAction``: ``file.count.max`` and ``file.size.min``.
DEFAULT_MAX_NUM_FILES = 100
DEFAULT_MIN_FILE_SIZE = 2 * 1024**3

_SUCCESS_FILE = "_SUCCESS"
_CRC_SUFFIX = ".crc"


# ------------------------------------------------------------------ grouping


def group_files(sizes: Sequence[int], max_num_files: int, min_group_size: int
                ) -> list[list[int]]:
    """Alluxio's greedy grouping (``CompactDefinition.selectExecutors``): indexes of
    ``sizes`` in at most ``max_num_files`` groups of consecutive files.

    The group size aimed at is ``min_group_size``, raised to ``total / max_num_files``
    when that many groups would not hold everything. A file joins the current group if
    the group is empty, is the last one allowed, stays within half the aim with it, or
    gets closer to the aim with it; otherwise it starts a new group.
    """
    if not sizes:
        return []
    total = float(sum(sizes))
    aim = min_group_size
    if aim <= 0 and total == 0:
        aim = 0
    elif aim <= 0 or total / aim > max_num_files:
        aim = int(total / max_num_files + 0.5)  # Java's Math.round
    half = aim // 2
    groups: list[list[int]] = []
    group: list[int] = []
    current = 0
    for i, size in enumerate(sizes):
        if (not group or len(groups) == max_num_files - 1 or current + size <= half
                or abs(current + size - aim) <= abs(current - aim)):
            group.append(i)
            current += size
        else:
            groups.append(group)
            group = [i]
            current = size
    if group:
        groups.append(group)
    return groups


def _is_input(name: str, is_dir: bool) -> bool:
    return not (is_dir or name == _SUCCESS_FILE or name.endswith(_CRC_SUFFIX)
                or is_temp_name(name))


# ------------------------------------------------------ the definition

_DEFINITION_KEYS = ("file.count.max", "file.size.min")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)


def _size(key: str, text: str) -> int:
    match = _SIZE_RE.match(text)
    if match is None:
        raise JobConfigError(key, text, "must be a size in bytes (e.g. 1073741824 or 1GB)")
    shift = 10 * " kmgtp".index(match.group(2).lower() or " ")
    return int(match.group(1)) << shift


def parse_definition(definition: str) -> tuple[int, int]:
    """``(max_num_files, min_file_size)`` from Alluxio's transform definition syntax:
    ``key=value`` pairs separated by ``;`` or new lines (``#`` starts a comment line),
    keys ``file.count.max`` (default 100) and ``file.size.min`` (bytes, default 2 GiB;
    ``KB``/``MB``/``GB`` suffixes count in 1024s). Unknown keys are refused."""
    if not isinstance(definition, str):
        raise JobConfigError("definition", definition, "must be a string")
    values: dict[str, str] = {}
    for raw in definition.replace(";", "\n").splitlines():
        entry = raw.strip()
        if not entry or entry.startswith(("#", "!")):
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise JobConfigError("definition", entry, "must be key=value")
        if key not in _DEFINITION_KEYS:
            raise JobConfigError("definition", key,
                                 f"unknown key; the known keys are {list(_DEFINITION_KEYS)}")
        values[key] = value
    max_num_files = DEFAULT_MAX_NUM_FILES
    if "file.count.max" in values:
        text = values["file.count.max"]
        try:
            max_num_files = int(text)
        except ValueError:
            raise JobConfigError("file.count.max", text, "must be an integer") from None
        if max_num_files < 1:
            raise JobConfigError("file.count.max", max_num_files,
                                 "Write action must have positive number of files")
    min_file_size = DEFAULT_MIN_FILE_SIZE
    if "file.size.min" in values:
        min_file_size = _size("file.size.min", values["file.size.min"])
    return max_num_files, min_file_size


# -------------------------------------------------------- partitions

_PARTITION_RE = re.compile(r"^[^=/]+=[^/]*$")


def _partitions(side: _Side, path: str, prefix: str = "") -> list[str]:
    """Hive-style partitions below ``path`` (``key=value`` folders, nested), relative;
    empty when ``path`` is not partitioned."""
    entries = side.list(path)
    dirs = [e for e in entries if e.is_dir and _PARTITION_RE.match(e.name)]
    if not dirs:
        return [prefix] if prefix else []
    stray = [e.path for e in entries if _is_input(e.name, e.is_dir)]
    if stray:
        raise JobConfigError("input", path, f"holds both partition folders and data files "
                                            f"({stray[0]})")
    out = []
    for entry in dirs:
        out.extend(_partitions(side, entry.path, f"{prefix}{entry.name}/"))
    return out
