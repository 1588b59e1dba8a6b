"""Running the flow through ``metaflow.Runner`` on the tiny preset, for every flow test module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLOW = Path(__file__).resolve().parents[2] / "flows" / "recsys_flow.py"
TOP_USERS, K = 100, 10
PARAMS = {
    "preset": "tiny",
    "top_users": TOP_USERS,
    "k": K,
    "pool_size": 300,
    "candidates": 30,
    "train_cuts": 2,
    "valid_windows": 3,
    "trials": 2,  # the grid's trial, then one of Optuna's
    "grid": '{"objective": ["YetiRank"], "depth": [4], "iterations": [100]}',
    "ablation": True,
}


def cli_args(params: dict) -> list[str]:
    """``params`` (``run_flow``'s keyword arguments) as the flow's command-line options."""
    return [arg for name, value in params.items() for arg in (f"--{name.replace('_', '-')}", str(value))]


def flow_command(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A command of the flow's CLI (``package list``, ``argo-workflows create``...) from the repository root."""
    return subprocess.run(
        [sys.executable, str(FLOW), *args],
        cwd=FLOW.parents[1],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_flow(workdir: Path, command: str = "run", fail_step: str | None = None, env: dict | None = None, **kwargs):
    """Run (or resume) the flow in ``workdir`` (its data cache, submission and MLflow DB live there); ``env``
    adds to (or overrides) the run's environment, e.g. another datastore or tracking server.

    A failed run does not raise: callers assert on ``result.status`` and the run's artifacts.
    """
    from metaflow import Runner

    env = {
        "USERNAME": os.environ["USERNAME"],
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"],
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "RECSYS_FAIL_STEP": fail_step or "",
        **(env or {}),
    }
    runner = Runner(str(FLOW), show_output=False, cwd=str(workdir), env=env)
    if command == "run":
        return runner.run(output=str(workdir / "submission.csv"), **{**PARAMS, **kwargs})
    return runner.resume(**kwargs)
