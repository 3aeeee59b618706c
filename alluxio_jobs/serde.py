"""The one converter between records/configs and JSON-ready data.

``to_dict`` turns any job config, record or report (or a list of them) into plain
data carrying a ``"type"`` tag; ``from_dict`` rebuilds it. A config's tag is its job
name (``"Sleep"``, ``"Load"``, …); a config class without a class-level ``name``
is tagged ``"module:QualName"``. A record's tag is its class name.
"""

import importlib
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import BaseValidationError

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import (
    JobInfo,
    JobServiceSummary,
    JobWorkerHealth,
    MasterConfig,
    TaskInfo,
    TaskRequest,
    TaskResult,
    WorkerInfo,
)
from alluxio_jobs.plans.base import JobConfig

__all__ = ["config_tag", "converter", "from_dict", "register_record", "to_dict"]

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


def _config_class(tag: object) -> type[JobConfig]:
    if not isinstance(tag, str):
        raise JobConfigError(TYPE_KEY, tag, "must be a job config type name")
    if ":" in tag:
        module, _, qualname = tag.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            raise JobConfigError(TYPE_KEY, tag, "no such job config class") from None
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
    if isinstance(data, JobConfig):
        return data
    if not isinstance(data, dict):
        raise JobConfigError("config", data, "must be a mapping with a 'type' key")
    body = dict(data)
    cls = _config_class(body.pop(TYPE_KEY, None))
    return _structure_attrs(body, cls)


def _structure_attrs(body: dict[str, Any], cls: type[T]) -> T:
    try:
        return converter.structure_attrs_fromdict(body, cls)
    except JobConfigError:
        raise
    except BaseValidationError as exc:
        raise _config_error(exc) from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise JobConfigError(cls.__name__, body, str(exc)) from exc


def _config_error(exc: BaseValidationError) -> JobConfigError:
    """The first leaf error of a cattrs validation error, as a JobConfigError with its path."""
    for leaf in _leaves(exc):
        if isinstance(leaf, JobConfigError):
            return leaf
    messages = cattrs.transform_error(exc)
    reason, _, path = (messages[0] if messages else str(exc)).partition(" @ ")
    return JobConfigError(path.removeprefix("$.") or "config", None, reason)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found = []
        for inner in exc.exceptions:
            found.extend(_leaves(inner))
        return found
    return [exc]


converter.register_unstructure_hook_func(
    lambda cls: isinstance(cls, type) and issubclass(cls, JobConfig), _unstructure_config
)
converter.register_structure_hook_func(
    lambda cls: isinstance(cls, type) and issubclass(cls, JobConfig), _structure_config
)


def _structure_request(data: Any, _cls: type) -> TaskRequest:
    body = dict(data)
    body.pop(TYPE_KEY, None)
    body["config"] = _structure_config(body.get("config"), JobConfig)
    return TaskRequest(**body)


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
