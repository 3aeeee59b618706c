"""The one converter between records/configs and JSON-ready data.

``to_dict`` turns any job config, record or report (or a list of them) into plain
data carrying a ``"type"`` tag; ``from_dict`` rebuilds it. A config's tag is its job
name (``"Sleep"``, ``"Load"``, …); a config class without a class-level ``name``
is tagged ``"module:QualName"``. A record's tag is its class name.

``to_plain`` and ``from_plain`` carry task arguments and results over a transport that
sends plain data (msgpack, JSON): attrs records anywhere inside them are tagged with
their class so the other side rebuilds them.
"""

import contextlib
import importlib
import re
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import BaseValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import (
    JobInfo,
    JobServiceSummary,
    JobWorkerHealth,
    MasterConfig,
    Status,
    TaskInfo,
    TaskRequest,
    TaskResult,
    WorkerInfo,
)
from alluxio_jobs.plans.base import JobConfig

__all__ = ["RECORD_TAG", "config_tag", "converter", "from_dict", "from_plain",
           "import_qualified", "record_class", "register_record", "to_dict", "to_plain"]

T = TypeVar("T")
TYPE_KEY = "type"

converter = cattrs.Converter(forbid_extra_keys=True)

_records: dict[str, type] = {
    cls.__name__: cls
    for cls in (JobInfo, TaskInfo, WorkerInfo, JobWorkerHealth, JobServiceSummary,
                TaskRequest, TaskResult, MasterConfig)
}


def register_record(cls: type[T]) -> type[T]:
    """Let :func:`from_dict` rebuild records of ``cls`` (used for report records)."""
    _records[cls.__name__] = cls
    return cls


def config_tag(cls: type[JobConfig]) -> str:
    """The ``"type"`` tag of a config class."""
    name = cls.__dict__.get("name")
    if isinstance(name, str):
        return name
    return f"{cls.__module__}:{cls.__qualname__}"


def import_qualified(tag: str, field: str = TYPE_KEY) -> Any:
    """The object named ``"module:Qual.Name"``.

    :raises JobConfigError: naming ``field`` and the tag, when it cannot be imported
    """
    module, _, qualname = tag.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise JobConfigError(field, tag, "no such class") from None
    return obj


def _config_class(tag: object) -> type[JobConfig]:
    if not isinstance(tag, str):
        raise JobConfigError(TYPE_KEY, tag, "must be a job config type name")
    if ":" in tag:
        obj = import_qualified(tag)
        if isinstance(obj, type) and issubclass(obj, JobConfig):
            return obj
        raise JobConfigError(TYPE_KEY, tag, "not a JobConfig class")
    stack = list(JobConfig.__subclasses__())
    while stack:
        cls = stack.pop()
        if config_tag(cls) == tag and not getattr(cls, "__abstractmethods__", None):
            return cls
        stack.extend(cls.__subclasses__())
    raise JobConfigError(TYPE_KEY, tag, "unknown job config type")


def _unstructure_config(config: JobConfig) -> dict[str, Any]:
    cls = type(config)
    data = {TYPE_KEY: config_tag(cls)}
    for field in attrs.fields(cls):
        data[field.name] = converter.unstructure(getattr(config, field.name))
    return data


def _structure_config(data: Any, _cls: type) -> JobConfig:
    """Top level: errors become JobConfigError naming the field."""
    if isinstance(data, JobConfig):
        return data
    if not isinstance(data, dict):
        raise JobConfigError("config", data, "must be a mapping with a 'type' key")
    body = dict(data)
    cls = _config_class(body.pop(TYPE_KEY, None))
    return _structure_attrs(body, cls)


def _structure_nested_config(data: Any, _cls: type) -> JobConfig:
    """Inside another record: raw errors, so the outer error carries the whole path."""
    if isinstance(data, JobConfig):
        return data
    if not isinstance(data, dict):
        raise TypeError(f"must be a mapping with a 'type' key, got {data!r}")
    body = dict(data)
    cls = _config_class(body.pop(TYPE_KEY, None))
    config: JobConfig = _config_hook(cls)(body, cls)
    return config


def _config_hook(cls: type) -> Callable[[Any, Any], Any]:
    hook = _config_hooks.get(cls)
    if hook is None:
        hook = _config_hooks[cls] = make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=True)
    return hook


_config_hooks: dict[type, Callable[[Any, Any], Any]] = {}


def _structure_attrs(body: dict[str, Any], cls: type[T]) -> T:
    """Build ``cls`` from ``body`` strictly: no coercion, no unknown keys; errors name
    the field (its path, for nested configs) and the value."""
    try:
        if isinstance(cls, type) and issubclass(cls, JobConfig):
            result: T = _config_hook(cls)(body, cls)
            return result
        return converter.structure(body, cls)
    except JobConfigError:
        raise
    except BaseValidationError as exc:
        raise _config_error(exc, body) from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise JobConfigError(cls.__name__, body, str(exc)) from exc


def _config_error(exc: BaseValidationError, body: dict[str, Any]) -> JobConfigError:
    """The first leaf error of a cattrs validation error, as a JobConfigError naming the
    field's path and its value."""
    for leaf in _leaves(exc):
        if isinstance(leaf, JobConfigError):
            return leaf
        if isinstance(leaf, ForbiddenExtraKeysError):
            extra = sorted(leaf.extra_fields)
            return JobConfigError(", ".join(extra), body.get(extra[0]), "unknown field")
    messages = cattrs.transform_error(exc)
    reason, _, path = (messages[0] if messages else str(exc)).partition(" @ ")
    field = path.removeprefix("$.").removeprefix("$") or "config"
    return JobConfigError(field, _value_at(body, field), reason)


def _value_at(data: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found = []
        for inner in exc.exceptions:
            found.extend(_leaves(inner))
        return found
    return [exc]


def _strict(kind: type) -> Callable[[Any, Any], Any]:
    """A structure hook that accepts only ``kind`` (ints for floats; never bools for
    numbers) instead of coercing, so ``"5"`` or ``1.5`` for an int field is an error."""

    def structure(value: Any, _type: Any) -> Any:
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise TypeError(f"must be {kind.__name__}, got {value!r}")
        return value

    return structure


for _kind in (int, float, str, bool):
    converter.register_structure_hook(_kind, _strict(_kind))


def _strict_list(type_: Any, conv: cattrs.Converter) -> Any:
    """Lists must be lists (a string is not a list of characters)."""
    items = list_structure_factory(type_, conv)

    def structure(value: Any, target: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"must be a list, got {value!r}")
        return items(value, target)

    return structure


def _is_list(type_: Any) -> bool:
    return get_origin(type_) is list


converter.register_structure_hook_factory(_is_list, _strict_list)

converter.register_unstructure_hook_func(
    lambda cls: isinstance(cls, type) and issubclass(cls, JobConfig), _unstructure_config
)
converter.register_structure_hook_func(
    lambda cls: isinstance(cls, type) and issubclass(cls, JobConfig), _structure_nested_config
)
converter.register_structure_hook(Status, lambda value, _type: Status(value))
converter.register_unstructure_hook(Status, lambda status: status.value)


def _structure_request(data: Any, _cls: type) -> TaskRequest:
    body = {k: v for k, v in data.items() if k != TYPE_KEY}
    config = _structure_config(body.pop("config", None), JobConfig)
    request = _structure_attrs({**body, "config": None}, _RawTaskRequest)
    return TaskRequest(job_id=request.job_id, task_id=request.task_id,
                       attempt=request.attempt, config=config, args=request.args)


@attrs.frozen(kw_only=True)
class _RawTaskRequest:
    job_id: int
    task_id: int
    attempt: int
    config: Any
    args: Any


converter.register_structure_hook(TaskRequest, _structure_request)


def to_dict(obj: Any) -> Any:
    """Plain, JSON-ready data for a config, record, report, or a list of them."""
    if isinstance(obj, list | tuple):
        return [to_dict(item) for item in obj]
    if isinstance(obj, JobConfig):
        return _unstructure_config(obj)
    if attrs.has(type(obj)):
        data = converter.unstructure(obj)
        return {TYPE_KEY: type(obj).__name__, **data}
    return converter.unstructure(obj)


def from_dict(data: Any) -> Any:
    """Rebuild what :func:`to_dict` produced: a config or record (or a list of them).

    :raises JobConfigError: unknown type tag, missing or invalid fields (naming the field)
    """
    if isinstance(data, list):
        return [from_dict(item) for item in data]
    if not isinstance(data, dict):
        raise JobConfigError("data", data, "must be a mapping with a 'type' key")
    tag = data.get(TYPE_KEY)
    record = _records.get(tag) if isinstance(tag, str) else None
    if record is not None:
        body = {k: v for k, v in data.items() if k != TYPE_KEY}
        if record is TaskRequest:
            return _structure_request(body, TaskRequest)
        return _structure_attrs(body, record)
    return _structure_config(data, JobConfig)


# ------------------------------------------------------ task data as plain data

#: The key marking a tagged record in :func:`to_plain` output.
RECORD_TAG = "__attrs__"
_SCALARS = (str, int, float, bool, bytes)


def to_plain(value: Any) -> Any:
    """Task arguments or a task result as plain data a remote transport can carry.

    attrs records, at any depth, become ``{"__attrs__": "module:QualName", "data":
    {...}}`` (job configs ``{"__attrs__": "", "data": to_dict(config)}``); tuples become
    lists; dicts and lists are walked. Anything else is left as it is (a transport then
    has to pickle it). :func:`from_plain` undoes it.
    """
    if value is None or type(value) in _SCALARS:
        return value
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if type(value) is dict:
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, JobConfig):
        return {RECORD_TAG: "", "data": to_dict(value)}
    cls = type(value)
    if attrs.has(cls):
        return {RECORD_TAG: f"{cls.__module__}:{cls.__qualname__}",
                "data": _record_fields(value)}
    return value


def from_plain(value: Any) -> Any:
    """Rebuild what :func:`to_plain` made (tuples stay lists).

    :raises JobConfigError: a tag names no importable attrs class (the error's ``field`` is
        ``"__attrs__"`` and its ``value`` the tag), or a record's data does not fit its
        class (naming the field)
    """
    if type(value) is list or type(value) is tuple:  # msgpack may give tuples
        return [from_plain(v) for v in value]
    if type(value) is dict:
        if RECORD_TAG not in value:
            return {k: from_plain(v) for k, v in value.items()}
        tag = value[RECORD_TAG]
        data = value.get("data")
        if not isinstance(data, dict) or set(value) != {RECORD_TAG, "data"}:
            raise JobConfigError(RECORD_TAG, tag, "a tagged record needs exactly a 'data' "
                                                  "mapping beside its tag")
        if tag == "":
            return from_dict(data)
        return _record_from_plain(record_class(tag), data)
    return value


def _record_from_plain(cls: type, data: dict[str, Any]) -> Any:
    """A record from its tagged data: loose fields through :func:`from_plain`, the
    others through the converter, each field on its own so that records rebuilt
    inside a typed list are not structured a second time."""
    loose = _loose_fields(cls)
    if not loose:
        return _structure_attrs(data, cls)
    fields = attrs.fields_dict(cls)
    kwargs = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            raise JobConfigError(name, value, f"is not a field of {cls.__name__}")
        if name in loose or field.type is None:
            kwargs[name] = from_plain(value)
            continue
        try:
            kwargs[name] = converter.structure(value, field.type)
        except BaseValidationError as exc:
            inner = _config_error(exc, value)
            path = name if inner.field == "config" else f"{name}.{inner.field}"
            raise JobConfigError(path, inner.value, inner.reason) from exc
        except (TypeError, ValueError) as exc:
            raise JobConfigError(name, value, str(exc)) from exc
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise JobConfigError(cls.__name__, data, str(exc)) from exc


def record_class(tag: object) -> type:
    """The attrs class a :func:`to_plain` tag names.

    :raises JobConfigError: naming ``"__attrs__"`` and the tag when it is not one
    """
    if not isinstance(tag, str) or ":" not in tag:
        raise JobConfigError(RECORD_TAG, tag, "must be a 'module:QualName' class name")
    obj = import_qualified(tag, RECORD_TAG)
    if not (isinstance(obj, type) and attrs.has(obj)):
        raise JobConfigError(RECORD_TAG, tag, "not an attrs class")
    return obj


def _record_fields(value: Any) -> dict[str, Any]:
    """A record's fields as plain data: typed fields through the converter, fields whose
    type cannot rebuild their value (``Any`` somewhere in it) tagged recursively."""
    loose = _loose_fields(type(value))
    return {f.name: (to_plain(getattr(value, f.name)) if f.name in loose
                     else converter.unstructure(getattr(value, f.name)))
            for f in attrs.fields(type(value))}


_loose_cache: dict[type, frozenset[str]] = {}


def _loose_fields(cls: type, within: frozenset[type] = frozenset()) -> frozenset[str]:
    """The fields of ``cls`` that :func:`_is_loose` calls loose. ``within``: the records
    whose fields are being looked at already. Only a top-level answer is cached, and
    only once complete: another thread may read the cache meanwhile."""
    found = _loose_cache.get(cls)
    if found is not None:
        return found
    with contextlib.suppress(Exception):  # unresolvable hints count as Any
        attrs.resolve_types(cls)
    found = frozenset(f.name for f in attrs.fields(cls) if _is_loose(f.type, within | {cls}))
    if not within:
        _loose_cache[cls] = found
    return found


def _is_loose(hint: Any, within: frozenset[type] = frozenset()) -> bool:
    """Whether a value of type ``hint`` may hold records the converter cannot rebuild
    from the hint alone."""
    if hint is None or hint is Any or hint is object or isinstance(hint, str):
        return True
    if isinstance(hint, type) and attrs.has(hint):  # a record with a loose field
        # a record that holds itself (or its holder) is taken as loose: tagging is
        # always right, only slower
        return hint in within or bool(_loose_fields(hint, within))
    return any(_is_loose(arg, within) for arg in get_args(hint) if arg is not type(None)
               and not isinstance(arg, int | str | bool | bytes))
