"""The storage fixtures, for every test module in this directory."""

from tests.plans.support import (  # noqa: F401
    flaky_fixture,
    flaky_fs_fixture,
    fs_fixture,
    make_fs_fixture,
    ufs_url_fixture,
)
