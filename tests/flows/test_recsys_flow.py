"""End to end through ``metaflow.Runner`` on the tiny preset: a clean run, and a failed run finished by ``resume``.

A failed Runner run does not raise, so every test asserts on the run's status and on its artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from recsys.submission import validate_submission

FLOW = Path(__file__).resolve().parents[2] / "flows" / "recsys_flow.py"
TOP_USERS, K = 100, 10
PARAMS = {
    "preset": "tiny",
    "top_users": TOP_USERS,
    "k": K,
    "pool_size": 300,
    "candidates": 30,
    "train_cuts": 1,
    "grid": '{"objective": ["YetiRank", "Logloss"], "depth": [4], "iterations": [30]}',
}

pytestmark = pytest.mark.slow


def run_flow(workdir: Path, command: str = "run", fail_step: str | None = None, **kwargs):
    """Run (or resume) the flow in ``workdir`` (its data cache, submission and MLflow DB live there)."""
    from metaflow import Runner

    env = {
        "USERNAME": os.environ["USERNAME"],
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"],
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "RECSYS_FAIL_STEP": fail_step or "",
    }
    runner = Runner(str(FLOW), show_output=False, cwd=str(workdir), env=env)
    if command == "run":
        return runner.run(output=str(workdir / "submission.csv"), **PARAMS, **kwargs)
    return runner.resume(**kwargs)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("flow_clean")
    result = run_flow(workdir)
    assert result.status == "successful", result.stderr[-3000:]
    return workdir, result.run


def test_run_succeeds_with_a_valid_submission(clean_run):
    workdir, run = clean_run
    assert run.successful
    end = run["end"].task.data
    sub = validate_submission(workdir / "submission.csv", k=K, top_users=TOP_USERS)
    assert len(sub) == TOP_USERS
    ds = run["start"].task.data.ds
    assert set(sub["user_id"]) <= set(ds.users["user_id"])
    assert {p for ps in sub["products"] for p in ps} <= set(ds.items["product_id"])
    pd.testing.assert_frame_equal(sub, end.submission)


def test_trials_sources_and_hypotheses_are_recorded(clean_run):
    _, run = clean_run
    data = run["end"].task.data
    assert len(list(run["train_trial"])) == 2  # one task per trial of the grid
    assert set(data.trial_table["objective"]) == {"YetiRank", "Logloss"}
    assert data.valid_recall == data.trial_table["recall"].max()
    assert {"history", "covisit", "als", "faiss", "popular", "popular_category"} <= set(data.source_alone)
    assert data.hypotheses.index[0].startswith("reranker") and "baseline: organisers" in data.hypotheses.index
    assert 0.0 < data.valid_recall <= 1.0
    assert data.test_results["buyers"] > 0  # the synthetic data ships the truth of the days after the log


def test_mlflow_run_has_metrics_artifacts_and_champion(clean_run):
    from mlflow import MlflowClient

    workdir, run = clean_run
    data = run["end"].task.data
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    mlrun = client.get_run(data.mlflow["run_id"])
    assert mlrun.data.tags["metaflow_run_id"] == run.id
    assert mlrun.data.metrics["valid.recall"] == pytest.approx(data.valid_recall)
    assert "test.recall" in mlrun.data.metrics and "source.history.valid.recall_at_25" in mlrun.data.metrics
    artifacts = {a.path for d in ("tables", "plots", "outputs") for a in client.list_artifacts(mlrun.info.run_id, d)}
    assert {"tables/trials.csv", "plots/feature_importance_top30.png", "outputs/submission.csv"} <= artifacts
    version = client.get_model_version_by_alias("stokman-reranker", "champion")
    assert str(version.version) == data.mlflow["model_version"] and version.run_id == mlrun.info.run_id


def test_resume_after_a_failure_gives_the_clean_submission(clean_run, tmp_path):
    clean_dir, _ = clean_run
    failed = run_flow(tmp_path, fail_step="final")
    assert failed.status == "failed"
    assert not (tmp_path / "submission.csv").exists()
    resumed = run_flow(tmp_path, command="resume", origin_run_id=failed.run.id)
    assert resumed.status == "successful", resumed.stderr[-3000:]
    assert resumed.run.id != failed.run.id
    # the steps before the failure were cloned, not rerun
    assert resumed.run["start"].task.origin_pathspec is not None
    clean = pd.read_csv(clean_dir / "submission.csv")
    again = pd.read_csv(tmp_path / "submission.csv")
    pd.testing.assert_frame_equal(clean, again)


def test_notebook_reads_the_run(clean_run):
    """The notebook's code cells run against the clean run's artifacts."""
    import matplotlib
    import nbformat

    matplotlib.use("Agg")
    _, run = clean_run
    notebook = nbformat.read(FLOW.parents[1] / "notebooks" / "explore_run.ipynb", as_version=4)
    namespace = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            exec(cell.source.replace("RUN_ID = None", f"RUN_ID = {run.id!r}"), namespace)  # noqa: S102
    assert namespace["run"].id == run.id
    assert set(namespace["candidate_recall"].index) == {
        "als",
        "covisit",
        "faiss",
        "history",
        "popular",
        "popular_category",
    }
    assert "recall_at_25" in namespace["candidate_recall"].columns
    assert namespace["hypotheses"].index[0].startswith("reranker")
