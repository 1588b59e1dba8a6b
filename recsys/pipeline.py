"""What the flow's steps decide, as functions over records, so that each step is a few lines of wiring: the start
of a run (settings checked, data loaded and validated, cuts fixed, the MLflow run opened) and its tracking (the
report, the model and the submission logged and registered).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.reranker import TrialParams, cap_train_cuts, parse_grid
from recsys.settings import RunSettings
from recsys.split import cut_names


@dataclass(frozen=True)
class DataSpec:
    """Where a run's data comes from: a folder of the four files, or the embedded synthetic ``preset``."""

    data_dir: str = ""
    preset: str = "default"
    stitch_identities: bool = False

    @property
    def label(self) -> str:
        return self.data_dir or f"synthetic:{self.preset}"


@dataclass
class Started:
    """A checked run: its data, the truth file if the data ships one, the cuts, and the --grid trials (capped to
    the training cuts a short log holds; ``note`` says so)."""

    data_dir: str
    ds: object
    truth: pd.DataFrame | None
    cuts: dict
    first_trials: list[TrialParams]
    note: str = ""

    def artifacts(self) -> dict:
        """The flow artifacts of the start, by name."""
        return {
            "resolved_data_dir": self.data_dir,
            "ds": self.ds,
            "truth": self.truth,
            "cuts": self.cuts,
            "first_trials": self.first_trials,
            "n_train_cuts": len(cut_names(self.cuts, "train")),
        }


def git_commit(root) -> str:
    """The code's commit (:func:`recsys.tracking.git_commit`; MLflow is imported only when it is needed)."""
    from recsys.tracking import git_commit as commit

    return commit(root)


def check_run(settings: RunSettings, grid: str) -> list[TrialParams]:
    """The --grid trials, once ``settings`` and the grid are valid (``ValueError`` naming each problem)."""
    trials = parse_grid(grid, train_cuts=settings.train_cuts)
    settings.check(trials)
    return trials


def locate_data(spec: DataSpec, seed: int) -> str:
    """The data folder (the synthetic preset's is generated on first use), once its four files are there: a wrong
    --data-dir stops here, naming the missing file, before an MLflow run is opened."""
    from recsys.cli import resolve_data_dir
    from recsys.data import check_files

    data_dir = str(resolve_data_dir(spec.data_dir, spec.preset, seed))
    check_files(data_dir)
    return data_dir


def load_run(settings: RunSettings, spec: DataSpec, data_dir: str, trials: list[TrialParams]) -> Started:
    """Load and validate the data, and fix the cuts: a log too short for ``settings.train_cuts`` learns from
    fewer, one too short for any stops with a clear message."""
    import dataclasses

    from recsys.data import load_dataset
    from recsys.evaluation import truth_file
    from recsys.training import run_cuts

    ds = dataclasses.replace(load_dataset(data_dir), stitch_identities=spec.stitch_identities)
    cuts, note = run_cuts(ds, settings)
    trials = cap_train_cuts(trials, len(cut_names(cuts, "train"))) if note else trials
    return Started(data_dir, ds, truth_file(data_dir), cuts, trials, note)


@dataclass(frozen=True)
class RunIds:
    """Who and what a run is: the Metaflow flow and run id, the user, and the code's git commit."""

    flow: str
    run_id: str
    user: str
    commit: str

    @property
    def name(self) -> str:
        return f"{self.flow}/{self.run_id}"


def open_tracking(uri: str, experiment: str, ids: RunIds, params: dict) -> tuple[str, str]:
    """``(tracking URI, MLflow run id)`` of the run opened for the flow (an unreachable server stops here, before
    any data is read)."""
    from recsys.tracking import resolve_tracking_uri, start_flow_run

    uri = resolve_tracking_uri(uri)
    tags = {
        "metaflow_run_id": ids.run_id,
        "metaflow_flow": ids.flow,
        "mlflow.user": ids.user,
        "mlflow.source.git.commit": ids.commit,
        "git_commit": ids.commit,
    }
    return uri, start_flow_run(tracking_uri=uri, experiment=experiment, run_name=ids.name, tags=tags, params=params)


def tag_data(uri: str, run_id: str, started: Started) -> str:
    """Tag the MLflow run with the data's fingerprint (and the training cuts used, on a short log); returns the
    fingerprint."""
    from recsys.tracking import data_fingerprint, set_run_tags

    fingerprint = data_fingerprint(started.data_dir)
    tags = {"data_fingerprint": fingerprint}
    if started.note:
        tags["train_cuts_used"] = str(len(cut_names(started.cuts, "train")))
    set_run_tags(uri, run_id, tags)
    return fingerprint


def track(data, ids: RunIds) -> dict[str, str]:
    """Finish the flow's MLflow run from its artifacts (``data``: the ``track`` step's ``self``): metrics, tables,
    plots, the submission, the reranker, and the run's two-stage model (``data.model``, the object the submission
    was written with) registered as the champion pyfunc model."""
    from recsys.report import hypothesis_verdicts, verdict_inputs
    from recsys.serving import Recommender
    from recsys.tracking import RunLog, log_flow_run, run_report

    report = run_report(data, hypothesis_verdicts(verdict_inputs(data)))
    recommender = Recommender.from_dataset(data.ds, data.model, data.pools["final"], data.k, data.top_users)
    description = (
        f"Metaflow run {ids.name} on {data.resolved_data_dir} (fingerprint {data.data_fingerprint}, code "
        f"{ids.commit}): validation recall {data.valid_recall:.4f} with {data.best_params.label}, users chosen by "
        f"{data.best_strategy}."
    )
    log = RunLog(report, data.submission, recommender, data.model_name, data.trial_table, description)
    return log_flow_run(data.mlflow_uri, data.mlflow_run_id, {"metaflow_run_id": ids.run_id}, log)
