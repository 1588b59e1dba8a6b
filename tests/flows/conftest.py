"""Metaflow reads its configuration when first imported: give the flow tests one private local datastore and a
user name (CI has no USER) before any test imports it. The clean tiny run is shared by every flow test module."""

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("USERNAME", "tester")
os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = tempfile.mkdtemp(prefix="recsys-metaflow-")
# the flow runs' datastore (~200 MB) goes when the session ends, passed or failed
atexit.register(shutil.rmtree, os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"], ignore_errors=True)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory):
    """One successful run of the flow on the tiny preset: ``(workdir, metaflow Run)``. Its co-visitation branch
    fails on its first attempt (the test hook), which its ``@retry`` recovers from: the run is still clean."""
    from tests.flows.runner import run_flow

    workdir = tmp_path_factory.mktemp("flow_clean")
    result = run_flow(workdir, fail_step="covisit:once")
    assert result.status == "successful", result.stderr[-3000:]
    return workdir, result.run
