"""Job types: the plan extension point and the built-in configs.

The data job types (Load, Migrate, Persist, Evict, Replicate, SetReplica, Move,
BatchedJob, Compact) act on a :class:`~alluxio_jobs.filesystem.FileSystem`; their plans
are registered with :func:`~alluxio_jobs.filesystem.register_storage_plans`.
:func:`alluxio_jobs.plans.transform.transform` runs Compact jobs from Alluxio's
transform definition syntax.
"""

from alluxio_jobs.plans.base import (
    JobConfig,
    JobPlan,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    WorkflowConfig,
)
from alluxio_jobs.plans.basic import NoopConfig, SleepConfig
from alluxio_jobs.plans.batched import BatchedJobConfig
from alluxio_jobs.plans.cache import EvictConfig, LoadConfig, ReplicateConfig, SetReplicaConfig
from alluxio_jobs.plans.transfer import MigrateConfig, MoveConfig, PersistConfig
from alluxio_jobs.plans.transform import CompactCommitConfig, CompactConfig, TableFormat
from alluxio_jobs.plans.workflow import CompositeConfig

__all__ = [
    "BatchedJobConfig",
    "CompactCommitConfig",
    "CompactConfig",
    "CompositeConfig",
    "EvictConfig",
    "JobConfig",
    "JobPlan",
    "LoadConfig",
    "MigrateConfig",
    "MoveConfig",
    "NoopConfig",
    "PersistConfig",
    "PlanRegistry",
    "ReplicateConfig",
    "RunTaskContext",
    "SelectContext",
    "SetReplicaConfig",
    "SleepConfig",
    "TableFormat",
    "WorkflowConfig",
]
