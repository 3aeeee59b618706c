"""Alluxio paths: normal form, parents, ancestry.

Pure string helpers with no state, used by the namespace, the file system client,
the plans and the shell alike; apart so that none of them has to import the
namespace for them. :mod:`alluxio_jobs.storage` re-exports the public ones.
"""

import re
from collections.abc import Iterator

from alluxio_jobs.errors import JobConfigError

__all__ = ["ancestors", "is_under", "normalize_path", "parent_path"]


#: A path already in normal form (no empty components, no trailing slash, no control
#: characters); it still must not have "." or ".." components.
_NORMAL_PATH = re.compile(r"/(?:[^/\0\n]+(?:/[^/\0\n]+)*)?")


def normalize_path(path: object, field: str = "path") -> str:
    """``path`` as a normalized absolute Alluxio path; JobConfigError if it is not one."""
    if type(path) is str and _NORMAL_PATH.fullmatch(path):  # the common case, made cheap
        padded = path + "/"
        if "/./" not in padded and "/../" not in padded:
            return path
    if not isinstance(path, str) or not path.startswith("/"):
        raise JobConfigError(field, path, "must be an absolute Alluxio path starting with '/'")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts) or any(c in path for c in "\0\n"):
        raise JobConfigError(field, path, "must not contain '.', '..' or control characters")
    return "/" + "/".join(parts)


def parent_path(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def is_under(path: str, ancestor: str) -> bool:
    """True when ``path`` is strictly inside ``ancestor``."""
    if ancestor == "/":
        return path != "/"
    return path.startswith(ancestor + "/")


def ancestors(path: str) -> Iterator[str]:
    """The directories above ``path``, nearest first, ending with ``/``."""
    while path != "/":
        path = parent_path(path)
        yield path
