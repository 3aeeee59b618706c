"""Composite workflows: child jobs run one after another or all at once."""

from typing import ClassVar

import attrs

from alluxio_jobs import _validate as v
from alluxio_jobs.plans.base import JobConfig, WorkflowConfig

__all__ = ["CompositeConfig"]


def _job_configs(
    _inst: object, attribute: "attrs.Attribute[list[JobConfig]]", value: object
) -> None:
    v.instance_of(list, tuple)(_inst, attribute, value)
    assert isinstance(value, list | tuple)
    for i, job in enumerate(value):
        if not isinstance(job, JobConfig):
            from alluxio_jobs.errors import JobConfigError

            raise JobConfigError(f"{attribute.name}[{i}]", job, "must be a JobConfig")


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, list | tuple) else value


@attrs.frozen(kw_only=True)
class CompositeConfig(WorkflowConfig):
    """Runs ``jobs`` one at a time (``sequential=True``) or all at once; nesting is allowed.

    A failing or canceled child cancels its running siblings and no later child starts;
    the workflow finishes once none of its children runs.
    """

    name: ClassVar[str] = "Composite"

    jobs: list[JobConfig] = attrs.field(converter=_as_list, validator=_job_configs)
    sequential: bool = attrs.field(default=True, validator=v.instance_of(bool))

    def steps(self) -> list[list[JobConfig]]:
        if self.sequential:
            return [[job] for job in self.jobs]
        return [list(self.jobs)] if self.jobs else []
