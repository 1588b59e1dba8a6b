"""Running the flow through ``metaflow.Runner`` on the tiny preset, for every flow test module."""

from __future__ import annotations

import os
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


def run_flow(workdir: Path, command: str = "run", fail_step: str | None = None, **kwargs):
    """Run (or resume) the flow in ``workdir`` (its data cache, submission and MLflow DB live there).

    A failed run does not raise: callers assert on ``result.status`` and the run's artifacts.
    """
    from metaflow import Runner

    env = {
        "USERNAME": os.environ["USERNAME"],
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"],
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "RECSYS_FAIL_STEP": fail_step or "",
    }
    runner = Runner(str(FLOW), show_output=False, cwd=str(workdir), env=env)
    if command == "run":
        return runner.run(output=str(workdir / "submission.csv"), **{**PARAMS, **kwargs})
    return runner.resume(**kwargs)
