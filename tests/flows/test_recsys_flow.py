"""End to end through ``metaflow.Runner`` on the tiny preset: a clean run, and a failed run finished by ``resume``.

A failed Runner run does not raise, so every test asserts on the run's status and on its artifacts.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys.hypotheses import PLAIN_ROW
from recsys.report import hypothesis_verdicts
from recsys.reranker import TrialParams
from recsys.rows import BEST_TRIAL, REMOVED, RowKey, of_kind
from recsys.submission import validate_submission
from tests.flows.runner import FLOW, TOP_USERS, K, run_flow

pytestmark = pytest.mark.slow


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


def test_a_step_that_fails_once_is_retried(clean_run):
    _, run = clean_run
    assert run["covisit"].task.current_attempt == 1  # the second attempt (counted from 0) succeeded
    assert run["history"].task.current_attempt == 0


def test_the_run_ends_with_next_steps_that_name_the_run(clean_run):
    _, run = clean_run
    out = run["end"].task.stdout
    assert "Next steps:" in out and f"card view {run.id}/end" in out and f"present --run-id {run.id}" in out
    assert "Submission:" in out
    table = out.split("Validation")[1].split("Submission:")[0]
    assert not re.search(r"\b\d+\.0000\b", table)  # counts print as integers


def test_the_mlflow_run_has_a_child_run_per_trial_and_the_model_a_description(clean_run):
    from mlflow import MlflowClient

    workdir, run = clean_run
    data = run["end"].task.data
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    parent = client.get_run(data.mlflow["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.tags["recsys.trial"] for c in children) == ["0", "1"]
    by_trial = {c.data.tags["recsys.trial"]: c.data for c in children}
    assert (by_trial["0"].params["objective"], by_trial["0"].params["depth"]) == ("YetiRank", "4")  # the --grid one
    for child in children:  # every searched parameter, and each strategy's mean and s.e. over the windows
        assert set(TrialParams.__dataclass_fields__) <= set(child.data.params)
        assert {"p_buy.recall", "p_buy.recall_se", "p_buy.windows"} <= set(child.data.metrics)
    assert not any(k.startswith("trial.") for k in parent.data.metrics)  # no flat trial metrics any more
    tags = parent.data.tags
    assert len(tags["data_fingerprint"]) == 16 and tags["git_commit"] and tags["mlflow.user"] == os.environ["USERNAME"]
    model = client.get_registered_model("stokman-recommender")
    version = client.get_model_version("stokman-recommender", data.mlflow["model_version"])
    assert "Input: the user ids" in model.description and f"{data.valid_recall:.4f}" in version.description


def test_every_registered_branch_is_a_step_of_the_flow(clean_run):
    from recsys.candidates import SOURCES, branches

    _, run = clean_run
    steps = {step.id for step in run}
    assert set(branches()) <= steps
    data = run["end"].task.data
    from recsys.shards import ArtifactReader, candidates_artifact

    final_sources = ArtifactReader(data, data.shard_plan).final_sources()
    assert list(final_sources) == sorted(SOURCES) and set(getattr(data, candidates_artifact("final"))) == set(SOURCES)


def test_trials_sources_and_hypotheses_are_recorded(clean_run):
    from recsys.candidates import SOURCES

    _, run = clean_run
    data = run["end"].task.data
    # one task per trial: the --grid trial in the first batch, Optuna's in the second
    assert len(list(run["train_trial"])) == 1 and len(list(run["train_more"])) == 1
    assert sorted(data.trial_table["trial"].unique()) == [0, 1] and data.search.frame()["trial"].tolist() == [0, 1]
    first = data.trial_table[data.trial_table["trial"] == 0].iloc[0]
    assert (first["objective"], first["depth"], first["iterations"]) == ("YetiRank", 4, 100)
    assert data.valid_recall == data.trial_table["recall"].max()
    assert (data.trial_table["windows"] == 3).all()  # every figure is a mean over the validation windows
    assert set(data.valid_by_window) == {"valid", "valid2", "valid3"}
    assert set(data.source_alone) == set(SOURCES) == set(data.source_removed)  # --ablation True
    assert data.hypotheses.index[0].startswith("reranker") and "baseline: organisers" in data.hypotheses.index
    # --plain True (the default): the plain two-stage model in the reranker's place, on the same windows
    assert data.plain_results["windows"] == 3 and 0.0 <= data.plain_results["recall"] <= 1.0
    assert PLAIN_ROW in data.hypotheses.index
    assert 0.0 < data.valid_recall <= 1.0
    assert data.test_results["buyers"] > 0  # the synthetic data ships the truth of the days after the log
    # every hypothesis row keeps its recall per buyer and window: the verdicts compare rows buyer by buyer
    recalls = data.buyer_recalls
    objectives = dict.fromkeys(data.trial_table.sort_values("trial")["objective"])  # the best trial of each too
    assert list(recalls["row"].unique()) == [*data.hypotheses.index, *(RowKey(BEST_TRIAL, o).name for o in objectives)]
    chosen = recalls[recalls["row"] == f"reranker ({data.best_strategy})"]
    assert chosen.groupby("window")["recall"].mean().mean() == pytest.approx(data.valid_recall)
    verdicts = hypothesis_verdicts(data.report_summary)
    assert len(verdicts) >= 4 and verdicts["difference (paired)"].str.contains("±").all()  # every one, trials too


def test_mlflow_run_has_metrics_artifacts_and_champion(clean_run, tmp_path):
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
    # the verdicts of the run's report, paired differences included, are a table of the MLflow run too
    logged = pd.read_csv(client.download_artifacts(mlrun.info.run_id, "tables/hypothesis_verdicts.csv", tmp_path))
    verdicts = hypothesis_verdicts(data.report_summary).reset_index()
    assert logged["hypothesis"].tolist() == verdicts["hypothesis"].tolist()
    assert logged["verdict"].tolist() == verdicts["verdict"].tolist()
    assert logged["difference (paired)"].fillna("").tolist() == verdicts["difference (paired)"].tolist()
    assert mlrun.info.status == "FINISHED" and "error" not in mlrun.data.tags
    ds = run["start"].task.data.ds  # the loader's cleaning counts are metrics too
    assert {f"data.{k}": float(v) for k, v in ds.report.items()}.items() <= mlrun.data.metrics.items()
    version = client.get_model_version_by_alias("stokman-recommender", "champion")
    assert str(version.version) == data.mlflow["model_version"] and version.run_id == mlrun.info.run_id
    # the first model of its lineage: both aliases, the decision and the model's standing on the run
    assert data.mlflow["aliases"] == ["champion-synthetic-tiny-seed0", "champion"]
    assert mlrun.data.tags["promotion.rule"] == "first" and mlrun.data.tags["lineage"] == "synthetic-tiny-seed0"
    assert version.tags["lineage"] == "synthetic-tiny-seed0" and float(version.tags["valid_recall"]) > 0
    standing = json.loads(Path(client.download_artifacts(mlrun.info.run_id, "standing.json", tmp_path)).read_text())
    assert standing["recall"] == pytest.approx(data.valid_recall) and standing["buyer_recalls"]
    # the data as the run's dataset input: source, fingerprint, counts
    (used,) = mlrun.inputs.dataset_inputs
    assert used.dataset.digest == mlrun.data.tags["data_fingerprint"] and used.dataset.name == "synthetic-tiny-seed0"
    facts = {tag.key: tag.value for tag in used.tags}
    assert facts["mlflow.data.context"] == "training" and int(facts["users"]) == len(ds.users)
    assert data.resolved_data_dir in used.dataset.source


def test_champion_model_serves_the_submission_lists(clean_run):
    """The registered pyfunc model, loaded without the flow or its data, gives the submitted users their lists."""
    import mlflow

    workdir, _ = clean_run
    sub = validate_submission(workdir / "submission.csv", k=K, top_users=TOP_USERS)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/stokman-recommender@champion")
    users = sub["user_id"].tolist()[:20]
    served = model.predict(pd.DataFrame({"user_id": [*users, "never-seen"]}), params={"k": K})
    lists = {u: g.sort_values("rank")["product_id"].tolist() for u, g in served.groupby("user_id")}
    assert {u: lists[u] for u in users} == dict(zip(sub["user_id"][:20], sub["products"][:20], strict=True))
    assert set(served.loc[served["user_id"] == "never-seen", "source"]) == {"popular_fallback"}


def seed_user_results(workdir: Path) -> str:
    """A user's results of another lineage in ``workdir``: a submission written by hand and a registered model
    holding ``@champion`` (a real shop's data); returns its version."""
    import mlflow
    from mlflow import MlflowClient

    from recsys.promotion import STANDING_FILE, Standing

    (workdir / "submission.csv").write_text("user_id,products\nmine,\"['1']\"\n")
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    with mlflow.start_run() as run:
        mlflow.log_dict(Standing("shop", "f0", False, 0.3, 0.2, (0.1, 0.01)).to_json(), STANDING_FILE)
    client = MlflowClient()
    client.create_registered_model("stokman-recommender")
    version = client.create_model_version("stokman-recommender", f"runs:/{run.info.run_id}/none", run.info.run_id)
    client.set_registered_model_alias("stokman-recommender", "champion", version.version)
    return str(version.version)


def test_resume_after_a_failure_gives_the_clean_submission(clean_run, tmp_path):
    """The failure drill, run beside a user's results: it fails, resumes, and leaves their submission and
    champion as they were (another lineage's file and model)."""
    clean_dir, _ = clean_run
    from mlflow import MlflowClient

    users_champion = seed_user_results(tmp_path)
    users_file = (tmp_path / "submission.csv").read_bytes()
    failed = run_flow(tmp_path, fail_step="final", ablation=False)
    assert failed.status == "failed"
    assert not (tmp_path / "submission-synthetic-tiny-seed0.csv").exists()
    # the MLflow run opened in start ends FAILED with the error (the flow's exit hook), nothing half-finished
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow_id = failed.run["start"].task.data.mlflow_run_id
    mlrun = client.get_run(mlflow_id)
    assert mlrun.info.status == "FAILED" and "failing step 'final' on purpose" in mlrun.data.tags["error"]
    assert not client.list_artifacts(mlflow_id, "outputs")
    resumed = run_flow(tmp_path, command="resume", origin_run_id=failed.run.id)
    assert resumed.status == "successful", resumed.stderr[-3000:]
    assert resumed.run["end"].task.data.mlflow["run_id"] == mlflow_id  # the same MLflow run, now finished
    mlrun = client.get_run(mlflow_id)
    assert mlrun.info.status == "FINISHED" and "error" not in mlrun.data.tags
    assert resumed.run.id != failed.run.id
    # the steps before the failure were cloned, not rerun
    assert resumed.run["start"].task.origin_pathspec is not None
    clean = pd.read_csv(clean_dir / "submission.csv")
    end = resumed.run["end"].task.data
    assert end.output_path == str(tmp_path / "submission-synthetic-tiny-seed0.csv")  # beside the user's file
    pd.testing.assert_frame_equal(clean, pd.read_csv(end.output_path))  # the ablation does not change it
    assert (tmp_path / "submission.csv").read_bytes() == users_file
    assert str(client.get_model_version_by_alias("stokman-recommender", "champion").version) == users_champion
    tiny = client.get_model_version_by_alias("stokman-recommender", "champion-synthetic-tiny-seed0")
    assert tiny.run_id == mlflow_id and end.mlflow["aliases"] == ["champion-synthetic-tiny-seed0"]
    # the resumed MLflow run says both Metaflow runs
    assert mlrun.data.tags["metaflow_run_id"] == resumed.run.id
    assert mlrun.data.tags["metaflow_origin_run_id"] == failed.run.id
    assert mlrun.info.run_name == f"RecsysFlow/{resumed.run.id} (resumed from {failed.run.id})"
    # without --ablation the report says the ablation was skipped, and has no "source removed" rows
    assert end.source_removed is None and of_kind(end.hypotheses, REMOVED).empty
    from recsys.report import build_slides

    assert end.report_summary["ablation"] is False
    slides, _ = build_slides(end.report_summary)
    assert "ablation was skipped" in next(s for s in slides if s.key == "hypotheses").facts


def test_notebook_runs_against_the_run(clean_run):
    """notebooks/explore_run.ipynb executes top to bottom (nbclient, the venv's kernel) on the clean run's artifacts
    and draws its plots."""
    import nbformat
    from nbclient import NotebookClient

    _, run = clean_run
    path = FLOW.parents[1] / "notebooks" / "explore_run.ipynb"
    notebook = nbformat.read(path, as_version=4)
    os.environ["RECSYS_RUN_ID"] = run.id  # the kernel inherits the environment (and the test datastore)
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        del os.environ["RECSYS_RUN_ID"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"RecsysFlow/{run.id}" in printed and f"kernel: {sys.executable}" in printed
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 6  # every section draws its plot
    tables = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "source removed: history" in tables and "recall_at_25" in tables


def test_card_shows_every_section(clean_run):
    """The end step's card, where ``card view <run>/end`` reads it from the run's working directory (Metaflow
    keeps local cards in the first ``.metaflow`` folder at or above the working directory, whatever the
    datastore root)."""
    workdir, run = clean_run
    task = run["end"].task
    cards = list(
        (workdir / ".metaflow" / "mf.cards" / "RecsysFlow" / "runs" / run.id).glob("steps/end/tasks/*/cards/*")
    )
    assert [c.name.split("-")[:2] for c in cards] == [["blank", "report"]] and task.id == cards[0].parts[-3]
    html = cards[0].read_text()
    # the card's components travel as base64 JSON inside the HTML (rendered by the card's own JS)
    blob = re.search(r'window\.__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', html).group(1)
    html = json.dumps(json.loads(base64.b64decode(blob))["components"])
    from recsys.report import build_slides, run_summary

    slides, figures = build_slides(run_summary(run))
    for slide in slides:  # every slide's title, and the ablation's verdicts (the clean run has --ablation True)
        assert json.dumps(slide.title)[1:-1] in html
    removed = next(s for s in slides if s.key == "appendix_sources").tables[0][1]  # the ablation's verdicts
    assert removed.index.name == "source removed" and "the user's own history" in removed.index
    assert '"source removed"' in html and all(json.dumps(label)[1:-1] in html for label in removed.index)
    assert html.count("data:image/png;base64") == sum(len(s.figures) for s in slides) >= 7


def test_presentation_export_is_logged_to_mlflow_and_renders_in_chromium(clean_run, tmp_path):
    """``python -m recsys present`` from the run, attached to its MLflow run, opened in headless Chromium."""
    from mlflow import MlflowClient

    from recsys.cli import main

    workdir, run = clean_run
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    out = tmp_path / "presentation"
    assert main(["present", "--run-id", run.id, "--out", str(out), "--tracking-uri", uri]) == 0
    html = out / "presentation.html"
    from recsys.report import build_slides, run_summary

    slides, figures = build_slides(run_summary(run))  # what the export must hold: every slide and figure
    assert {"funnel", "pipeline", "candidate_recall", "sources", "importance", "buyer_curve", "validation"} <= set(
        figures
    )
    assert html.is_file() and {p.stem for p in (out / "figures").glob("*.png")} == set(figures)
    mlflow_run = run["end"].task.data.mlflow["run_id"]
    logged = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(mlflow_run, "presentation")}
    assert {"presentation/presentation.html", "presentation/figures"} <= logged

    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    shot = tmp_path / "screenshot.png"
    checker = FLOW.parents[1] / "tools" / "check_presentation.py"
    done = subprocess.run(
        [sys.executable, str(checker), str(html), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    facts = json.loads(done.stdout)
    assert facts["images"] >= len(figures) and facts["broken"] == [] and facts["slides"] == len(slides)
    assert shot.is_file() and facts["pixel_std"] > 8


def test_an_unreachable_tracking_server_stops_the_run_in_start(tmp_path):
    import socket

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = run_flow(tmp_path, tracking_uri=uri)
    assert result.status == "failed"
    assert f"MLflow tracking at '{uri}' is unavailable" in result.run["start"].task.stderr
    assert [step.id for step in result.run] == ["start"]  # nothing heavy ran


def test_each_record_is_stored_by_the_step_that_declares_it_and_read_back_whole(clean_run):
    """The records between the steps (``recsys.records``): every field of a step's record is an artifact of that
    step's task, and the reader rebuilds the run from the end step as the report and the tracking read it."""
    from dataclasses import fields

    from recsys import records

    _, run = clean_run
    for step, kind in records.STEPS.items():
        if step == "parameters":
            continue
        task = next(iter(run[step]))
        stored = {a.id for a in task}
        assert {f.name for f in fields(kind)} <= stored, (step, {f.name for f in fields(kind)} - stored)
    read = records.read(run["end"].task.data)
    assert read.final.submission.equals(run["end"].task.data.submission)
    assert read.tracked.mlflow == run["track"].task.data.mlflow and read.chosen.valid_recall > 0
