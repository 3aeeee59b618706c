"""The public export lists: sorted, importable and complete."""

import importlib
import inspect

import pytest

import alluxio_jobs

PUBLIC_MODULES = [
    "alluxio_jobs.errors",
    "alluxio_jobs.model",
    "alluxio_jobs.serde",
    "alluxio_jobs.reports",
    "alluxio_jobs.render",
    "alluxio_jobs.master",
    "alluxio_jobs.worker",
    "alluxio_jobs.testing",
    "alluxio_jobs.plans",
    "alluxio_jobs.transports",
    "alluxio_jobs.stores",
    "alluxio_jobs.storage",
    "alluxio_jobs.blockcache",
    "alluxio_jobs.ufs",
    "alluxio_jobs.filesystem",
    "alluxio_jobs.commands",
    "alluxio_jobs.replication",
    "alluxio_jobs.plans.cache",
    "alluxio_jobs.plans.transfer",
    "alluxio_jobs.plans.batched",
]


def _public_objects(module: object) -> dict[str, object]:
    """Public classes and functions bound in a module's namespace (modules excluded)."""
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))}


def test_all_is_sorted_without_duplicates():
    names = alluxio_jobs.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", alluxio_jobs.__all__)
def test_every_exported_name_is_importable(name):
    namespace: dict[str, object] = {}
    exec(f"from alluxio_jobs import {name}", namespace)
    assert namespace[name] is getattr(alluxio_jobs, name)


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from alluxio_jobs import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(alluxio_jobs.__all__)


def test_version_is_exported():
    assert "__version__" in alluxio_jobs.__all__
    assert isinstance(alluxio_jobs.__version__, str)


def test_all_exported_classes_and_functions_are_listed():
    missing = sorted(set(_public_objects(alluxio_jobs)) - set(alluxio_jobs.__all__))
    assert missing == []


def test_workflow_config_is_exported():
    assert alluxio_jobs.WorkflowConfig.__name__ in alluxio_jobs.__all__


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_module_exports_exist(module_name):
    module = importlib.import_module(module_name)
    names = module.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_module_lists_what_it_defines(module_name):
    module = importlib.import_module(module_name)
    own = {name for name, obj in _public_objects(module).items()
           if getattr(obj, "__module__", None) == module_name}
    assert sorted(own - set(module.__all__)) == []


def test_the_storage_api_is_exported_from_the_package():
    from alluxio_jobs import commands, filesystem, plans, replication, storage

    expected = {
        "FileSystem": filesystem.FileSystem,
        "WriteType": storage.WriteType,
        "PersistenceState": storage.PersistenceState,
        "FileInfo": storage.FileInfo,
        "distributed_load": commands.distributed_load,
        "distributed_cp": commands.distributed_cp,
        "distributed_mv": commands.distributed_mv,
        "persist": commands.persist,
        "free": commands.free,
        "CommandHandle": commands.CommandHandle,
        "CmdInfo": commands.CmdInfo,
        "ReplicationChecker": replication.ReplicationChecker,
        "decommission": replication.decommission,
    }
    for name in ("LoadConfig", "MigrateConfig", "PersistConfig", "EvictConfig",
                 "ReplicateConfig", "SetReplicaConfig", "MoveConfig", "BatchedJobConfig"):
        expected[name] = getattr(plans, name)
    for name, obj in expected.items():
        assert name in alluxio_jobs.__all__, name
        assert getattr(alluxio_jobs, name) is obj, name
