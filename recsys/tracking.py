"""MLflow logging of a flow run: opened at the start (parameters), finished at the end (metrics, tables, plots, the
submission, the reranker and the whole recommender registered as a pyfunc model), marked FAILED on error."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from mlflow.entities import Param

from recsys.promotion import CHAMPION_ALIAS, DEFAULT_PROMOTE, STANDING_FILE, Promotion, Standing, gate, lineage_alias
from recsys.rows import figures

if TYPE_CHECKING:
    from recsys.serving import SavedRecommender

log = logging.getLogger("recsys.tracking")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: Name of the submission among a run's MLflow artifacts (``outputs/``).
SUBMISSION_FILE = "submission.csv"


@dataclass
class RunReport:
    params: dict
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame]
    plots: dict[str, pd.Series]
    input_example: pd.DataFrame | None


def run_report(run, verdicts: pd.DataFrame | None = None) -> RunReport:
    """What a run logs to MLflow, from its records (``run``: a :class:`recsys.records.Run`): the chosen trial's
    parameters, the validation, truth-file, candidate and hypothesis metrics and the loader's cleaning counts (as
    ``data.<counter>``), the trial, hypothesis and importance tables (``verdicts``: the hypotheses with their
    paired differences and verdicts), the plots and the model's input example."""
    from recsys.features import feature_columns

    chosen, final, hypotheses = run.chosen, run.final, run.weighed.hypotheses
    source_metrics, importance = run.candidates.source_metrics, final.feature_importance
    metrics = {f"data.{k}": v for k, v in run.start.data_facts["cleaning"].items()}
    metrics.update({f"valid.{k}": v for k, v in figures(hypotheses).iloc[0].items()})
    metrics.update({f"test.{k}": v for k, v in (final.test_results or {}).items()})
    metrics.update({f"source.{k}": v for k, v in source_metrics.items()})
    for name, row in hypotheses.iterrows():
        key = name.replace(" ", "_").replace(":", "").replace("(", "").replace(")", "")
        metrics[f"hypothesis.{key}.recall"] = row["recall"]
    ats = sorted({int(k.rsplit("_", 1)[1]) for k in source_metrics if ".valid.recall_at_" in k})
    plots = {"feature_importance_top30": importance.head(30)}
    if ats:
        plots[f"candidate_recall_at_{ats[-1]}"] = pd.Series(
            {k.split(".")[0]: v for k, v in source_metrics.items() if k.endswith(f".valid.recall_at_{ats[-1]}")},
            dtype=float,
        )
    params = {"data_path": run.start.resolved_data_dir, "strategy": chosen.best_strategy}
    params.update({f"best.{k}": v for k, v in chosen.best_params.as_dict().items()})
    tables = {
        "trials": chosen.trial_table,
        "hypotheses": hypotheses,
        "feature_importance": importance.to_frame("importance"),
    }
    if verdicts is not None:
        tables["hypothesis_verdicts"] = verdicts
    example = final.final_table_head
    return RunReport(params, metrics, tables, plots, example[feature_columns(example)].head(5))


#: What the registered model is, for the Model Registry's page.
MODEL_DESCRIPTION = """Stokman next-3-days recommender: a two-stage model (candidate sources: the user's history,
co-visitation, ALS, FAISS title neighbours, popularity; a CatBoost reranker with calibrated probabilities; a buyer
model choosing whom to submit), trained by flows/recsys_flow.py at the end of a log.

Input: the user ids, as {"inputs": {"user_id": ["...", ...]}} (also {"inputs": [...]}, dataframe_split or
dataframe_records with one user_id column); at most 10,000 ids of at most 200 characters. Parameter: k, products
per user (1-100, default 25). Output: one row per user and rank: user_id, rank, product_id, score (P(buys the
product | buys), null for padding), p_buy (P(buys in the next 3 days), null for unknown users), source
(reranker, popular_padding, or popular_fallback for a user the log has never seen). There is no input schema on
purpose: MLflow would coerce malformed ids to strings before the model could refuse them with a 400."""


def git_commit(path: str | Path) -> str:
    """The commit of the checkout holding ``path`` (``<sha>+dirty`` with uncommitted changes; ``unknown``
    outside git)."""
    import subprocess

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def data_fingerprint(data_dir: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of the four raw files' names and bytes: the same data, the same tag."""
    import hashlib

    from recsys.schema import RAW_FILES

    digest = hashlib.sha256()
    for name in RAW_FILES:
        path = Path(data_dir) / name
        digest.update(name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def log_trial_runs(client, experiment_id: str, parent_run_id: str, trials: pd.DataFrame, param_names) -> list[str]:
    """One child run per trial of the trial table (its parameters; each strategy's validation diagnostics as
    ``<strategy>.<metric>``), under the flow's run. Idempotent: a resumed run replaces its earlier children."""
    import time

    from mlflow.entities import Metric

    from recsys.reranker import TrialParams

    old = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")
    for run in old:
        client.delete_run(run.info.run_id)
    now = int(time.time() * 1000)
    ids = []
    for trial, rows in trials.groupby("trial", sort=True):
        params = {p: rows.iloc[0][p] for p in param_names}
        label = TrialParams(**{k: v.item() if hasattr(v, "item") else v for k, v in params.items()}).label
        child = client.create_run(
            experiment_id,
            run_name=f"trial {trial}: {label}",
            tags={"mlflow.parentRunId": parent_run_id, "recsys.trial": str(trial)},
        )
        metrics = [
            Metric(f"{row['strategy']}.{name}", float(row[name]), now, 0)
            for _, row in rows.iterrows()
            for name in rows.columns
            if name not in ("trial", "strategy", *param_names) and pd.notna(row[name])
        ]
        client.log_batch(child.info.run_id, params=[Param(k, str(v)) for k, v in params.items()], metrics=metrics)
        client.set_terminated(child.info.run_id, "FINISHED")
        ids.append(child.info.run_id)
    return ids


def _catboost_example(frame: pd.DataFrame) -> pd.DataFrame:
    from recsys.features import CATEGORICAL_FEATURES

    out = frame.copy()
    for name in out.columns:
        if name in CATEGORICAL_FEATURES:
            out[name] = out[name].astype(str)
        elif pd.api.types.is_integer_dtype(out[name]):
            out[name] = out[name].astype(np.float64)
    return out


def resolve_tracking_uri(uri: str = "") -> str:
    """The given URI, else ``MLFLOW_TRACKING_URI``, else a local SQLite file."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def plot_bars(values: pd.Series, title: str, xlabel: str, path: Path) -> Path:
    """A horizontal bar chart (largest on top), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = values.sort_values()
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(values) + 1)))
    ax.barh([str(i) for i in values.index], values.to_numpy())
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking server cannot be reached (checked before any heavy step)."""


@contextmanager
def _no_retries(timeout_s: int = 10):
    """MLflow retries HTTP calls for minutes by default: fail fast while checking the server."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(timeout_s)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_flow_run(*, tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str], params: dict) -> str:
    """Open the flow's MLflow run (status RUNNING) with its parameters; returns the run id.

    Called first thing in a flow so that an unreachable tracking server stops the run before any heavy step,
    with :class:`TrackingUnavailableError` naming the URI.
    """
    import mlflow
    from mlflow import MlflowClient

    try:
        with _no_retries():
            mlflow.set_tracking_uri(tracking_uri)
            exp = mlflow.set_experiment(experiment)
            client = MlflowClient(tracking_uri)
            run = client.create_run(exp.experiment_id, run_name=run_name, tags=tags)
    except Exception as err:  # the client raises many types (connection, HTTP, SQL): all mean "cannot track"
        raise TrackingUnavailableError(
            f"MLflow tracking at {tracking_uri!r} is unavailable ({type(err).__name__}: {str(err)[:300]}). "
            "Start the server, or pass --tracking-uri sqlite:///mlflow.db for a local database."
        ) from err
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])
    log.info("MLflow run %s opened in experiment %r at %s", run.info.run_id, experiment, tracking_uri)
    return run.info.run_id


def set_run_tags(tracking_uri: str, run_id: str, tags: dict[str, str]) -> None:
    """Add tags to an open run (what is known only once the data is read, such as its fingerprint)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def fail_flow_run(*, tracking_uri: str, run_id: str, error: str) -> None:
    """Mark the flow's MLflow run FAILED with the error (a finished run is never half logged)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    client.set_tag(run_id, "error", error[:5000])
    client.set_terminated(run_id, status="FAILED")
    log.info("MLflow run %s marked FAILED", run_id)


@dataclass
class RunLog:
    """What the flow logs at its end: the :class:`RunReport`, the submission, the saved
    :class:`recsys.serving.Recommender` registered as ``model_name`` (a :class:`~recsys.serving.SavedRecommender`),
    the trial table (one child run per trial), the model version's description, and the model's
    :class:`~recsys.promotion.Standing` with the ``--promote`` mode that gate its aliases."""

    report: RunReport
    submission: pd.DataFrame | None
    recommender: SavedRecommender
    model_name: str
    standing: Standing
    trials: pd.DataFrame | None = None
    version_description: str = ""
    promote: str = DEFAULT_PROMOTE


def log_flow_run(tracking_uri: str, run_id: str, tags: dict[str, str], record: RunLog) -> dict:
    """Log what the flow produced into its run (opened by :func:`start_flow_run`) and finish it.

    The report's ``params`` are the ones known only at the end (the chosen trial), added to those logged at the
    start; its ``tables`` are logged as CSV, its ``plots`` (name -> values) as bar charts; the submission as
    ``outputs/submission.csv``, the recommender's CatBoost reranker as a model of the run, and the whole
    recommender as a pyfunc model registered as a new version of ``model_name``, tagged with its lineage, data
    and validation recall. The champion aliases move only as :func:`recsys.promotion.gate` decides; the decision
    is tagged on the run (``promotion.*``). The run ends FINISHED only when everything was logged; any error ends
    it FAILED. Returns the run id, the experiment, the model version and the promotion's decision and lines.
    """
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tags(tags)
        if "error" in run.data.tags:  # a resumed run that failed before
            MlflowClient().delete_tag(run.info.run_id, "error")
        _log_report(record.report, record.submission, Path(tmp))
        mlflow.log_dict(record.standing.to_json(), STANDING_FILE)
        version = _log_models(record)
        client = MlflowClient()
        promotion = _promote(client, record, version)
        mlflow.set_tags(promotion.tags())
        client.update_registered_model(record.model_name, description=MODEL_DESCRIPTION)
        if record.version_description:
            client.update_model_version(record.model_name, version, description=record.version_description)
        if record.trials is not None:
            from recsys.reranker import TrialParams

            names = [c for c in TrialParams.__dataclass_fields__ if c in record.trials.columns]
            log_trial_runs(client, run.info.experiment_id, run.info.run_id, record.trials, names)
        experiment = mlflow.get_experiment(run.info.experiment_id).name
        log.info("MLflow run %s, model %s version %s", run.info.run_id, record.model_name, version)
        return {
            "run_id": run.info.run_id,
            "model_version": version,
            "experiment": experiment,
            "aliases": promotion.aliases,
            "promotion": promotion.lines(),
            "decision": promotion.summary,
        }


def _promote(client, record: RunLog, version: str) -> Promotion:
    """Tag the new version, compare it with its lineage's champion and the serving alias's holder, move the
    aliases the decision gives it, and tag the registered model with what its lineage's champion and the serving
    champion now are (:func:`champion_tags`)."""
    standing, name = record.standing, record.model_name
    version_tags = {"lineage": standing.lineage, "data_fingerprint": standing.fingerprint}
    version_tags["valid_recall"] = f"{standing.recall:.6f}"
    for key, value in version_tags.items():
        client.set_model_version_tag(name, version, key, value)
    holders = (champion_standing(client, name, lineage_alias(standing.lineage)), champion_standing(client, name))
    promotion = gate(standing, version, holders, record.promote)
    for alias in promotion.aliases:
        client.set_registered_model_alias(name, alias, version)
    held = (standing if promotion.promote else holders[0], standing if promotion.serve else holders[1])
    for alias, holder in zip((lineage_alias(standing.lineage), CHAMPION_ALIAS), held, strict=True):
        if holder is not None:
            for key, value in champion_tags(alias, holder, version if holder is standing else holder.version).items():
                client.set_registered_model_tag(name, key, value)
    return promotion


def champion_tags(alias: str, standing: Standing, version: str) -> dict[str, str]:
    """The registered model's tags about the version an alias points to: ``<alias>.version``, ``.lineage``,
    ``.data_fingerprint`` and ``.valid_recall`` (the Model Registry's page says what each champion is without
    opening its versions)."""
    return {
        f"{alias}.version": str(version),
        f"{alias}.lineage": standing.lineage,
        f"{alias}.data_fingerprint": standing.fingerprint,
        f"{alias}.valid_recall": f"{standing.recall:.6f}",
    }


def champion_standing(client, model_name: str, alias: str = CHAMPION_ALIAS) -> Standing | None:
    """The :class:`~recsys.promotion.Standing` of the version an alias points to (None: no such alias). A version
    logged before standings were recorded stands as lineage ``unknown``, on synthetic data (any run may take its
    place) and with no figures."""
    from mlflow.exceptions import MlflowException

    try:
        held = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(held.run_id, STANDING_FILE, tmp)
            data = json.loads(Path(path).read_text())
    except (MlflowException, OSError, ValueError):
        data = {"lineage": "unknown", "fingerprint": "", "synthetic": True, "recall": math.nan}
        data.update(baseline=math.nan, lift=[math.nan, math.nan])
    return Standing.from_json(data, version=str(held.version), run_id=held.run_id)


def _log_report(report: RunReport, submission: pd.DataFrame | None, tmp: Path) -> None:
    """The report's parameters, metrics, tables and plots, and the submission, into the active run."""
    import mlflow

    mlflow.log_params({k: str(v)[:500] for k, v in report.params.items()})
    mlflow.log_metrics({k: float(v) for k, v in report.metrics.items() if pd.notna(v)})
    for name, table in report.tables.items():
        path = tmp / f"{name}.csv"
        table.to_csv(path, index=True)
        mlflow.log_artifact(str(path), artifact_path="tables")
    for name, values in report.plots.items():
        mlflow.log_artifact(str(plot_bars(values, name, "", tmp / f"{name}.png")), artifact_path="plots")
    if submission is not None:  # from the artifact, not the --output file: a remote track step has no such file
        from recsys.submission import write_submission

        mlflow.log_artifact(str(write_submission(submission, tmp / SUBMISSION_FILE)), artifact_path="outputs")


def _log_models(record: RunLog) -> str:
    """The reranker as a CatBoost model of the active run and the recommender as a registered pyfunc model;
    returns the registered version."""
    import mlflow

    from recsys import serving

    # explicit requirements: MLflow would otherwise infer them by loading the model in a subprocess (~4 s); in the
    # example, integer features as floats (a feature may be missing at inference time) and the categorical ones as
    # text (CatBoost reads a category by its text: the same predictions)
    example = record.report.input_example
    example = None if example is None else _catboost_example(example)
    saved = record.recommender
    requirements = serving.pip_requirements()
    mlflow.catboost.log_model(
        saved.reranker.model_, name="reranker", input_example=example, pip_requirements=requirements
    )
    info = mlflow.pyfunc.log_model(
        name="recommender",
        python_model=str(Path(serving.__file__).with_name("pyfunc_entry.py")),  # a model from code
        artifacts={serving.RECOMMENDER_ARTIFACT: str(saved.path)},
        code_paths=[str(Path(serving.__file__).parent)],
        signature=serving.signature(),
        input_example=saved.example,  # MLflow loads the saved file to try it
        pip_requirements=requirements,
        registered_model_name=record.model_name,
    )
    return str(info.registered_model_version)


def fail_metaflow_run(run) -> None:
    """Exit hook body: mark the MLflow run of a failed Metaflow ``run`` FAILED with the failed steps' errors.

    Does nothing when the run never opened an MLflow run (its ``start`` step did not finish).
    """
    if run is None:
        return
    try:
        start = run["start"].task.data
        uri, run_id = start.mlflow_uri, start.mlflow_run_id
    except Exception:  # no start task or no MLflow run id: nothing was opened
        log.info("no MLflow run to mark as failed")
        return
    fail_flow_run(tracking_uri=uri, run_id=run_id, error=describe_failure(run))


def describe_failure(run) -> str:
    """``step/task: exception`` for every task of ``run`` that finished unsuccessfully or never finished."""
    problems = []
    for step in run:
        for task in step:
            if task.successful:
                continue
            try:
                exc = task.exception
            except Exception:
                exc = None
            lines = [line for line in str(exc or "").splitlines() if line.strip()]
            # the exception's own line, not the traceback; no exception: stopped by the runtime or its worker died
            what = lines[-1].strip() if lines else "did not finish (stopped after another failure, or killed)"
            problems.append(f"{task.pathspec}: {what}")
    return "; ".join(problems) or f"{run.pathspec} failed"


def rename_run(tracking_uri: str, run_id: str, name: str) -> None:
    """Give an MLflow run a new name (a resumed flow run says both of its ids)."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).update_run(run_id, name=name)


def log_dataset(tracking_uri: str, run_id: str, data_dir: str, fingerprint: str, facts: dict[str, str]) -> None:
    """Log the run's data as an MLflow dataset input (context ``training``): its folder as the source, named by
    its lineage, the fingerprint as the digest, and its counts (``facts``) as the input's tags."""
    from mlflow import MlflowClient
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    dataset = MetaDataset(resolve_dataset_source(str(Path(data_dir).resolve())), facts["lineage"], fingerprint)
    tags = [InputTag("mlflow.data.context", "training"), *(InputTag(k, str(v)) for k, v in facts.items())]
    MlflowClient(tracking_uri).log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), tags)])
