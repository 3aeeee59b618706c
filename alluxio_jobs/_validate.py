"""attrs validators, and checks of plain arguments, that raise
:class:`~alluxio_jobs.errors.JobConfigError` naming the field."""

import math
from collections.abc import Callable
from typing import Any

import attrs

from alluxio_jobs.errors import JobConfigError

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def instance_of(*types: type) -> Validator:
    """Reject a value that is not one of ``types`` (``bool`` never passes for ``int``)."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise JobConfigError(attribute.name, value, f"must be {names}")

    return check


def at_least(minimum: float) -> Validator:
    """Reject a number below ``minimum``."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not value >= minimum:  # also rejects NaN
            raise JobConfigError(attribute.name, value, f"must be >= {minimum}")

    return check


def greater_than(bound: float) -> Validator:
    """Reject a number that is not strictly above ``bound``."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not value > bound:
            raise JobConfigError(attribute.name, value, f"must be > {bound}")

    return check


def at_most(maximum: float) -> Validator:
    """Reject a number above ``maximum``."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not value <= maximum:  # also rejects NaN
            raise JobConfigError(attribute.name, value, f"must be <= {maximum}")

    return check


def non_empty(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Reject an empty string or collection."""
    if len(value) == 0:
        raise JobConfigError(attribute.name, value, "must not be empty")


def one_of(*choices: object) -> Validator:
    """Reject a value that is not one of ``choices``."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value not in choices:
            raise JobConfigError(attribute.name, value, f"must be one of {list(choices)}")

    return check


def finite(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Reject infinity and NaN."""
    if not math.isfinite(value):
        raise JobConfigError(attribute.name, value, "must be a finite number")


def check_int(field: str, value: object, minimum: int) -> int:
    """An argument that must be an int (never a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobConfigError(field, value, f"must be an int >= {minimum}")
    return value


def check_number(field: str, value: object, *, above: float | None = None,
                 at_least: float | None = None) -> float:
    """An argument that must be a number (never a bool, never NaN) above ``above`` or
    at least ``at_least``."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if above is not None and not (number is not None and number > above):
        raise JobConfigError(field, value, f"must be a number > {above:g}")
    if at_least is not None and not (number is not None and number >= at_least):
        raise JobConfigError(field, value, f"must be a number >= {at_least:g}")
    if number is None:
        raise JobConfigError(field, value, "must be a number")
    return float(number)
