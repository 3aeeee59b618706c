"""Job types: the plan extension point and the built-in configs."""

from alluxio_jobs.plans.base import (
    JobConfig,
    JobPlan,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    WorkflowConfig,
)
from alluxio_jobs.plans.basic import NoopConfig, SleepConfig
from alluxio_jobs.plans.workflow import CompositeConfig

__all__ = [
    "CompositeConfig",
    "JobConfig",
    "JobPlan",
    "NoopConfig",
    "PlanRegistry",
    "RunTaskContext",
    "SelectContext",
    "SleepConfig",
    "WorkflowConfig",
]
