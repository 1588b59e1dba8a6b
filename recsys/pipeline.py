"""What the flow's steps decide, as functions over records, so that each step is a few lines of wiring: the start
of a run (settings checked, data loaded and validated, cuts fixed, the MLflow run opened) and its tracking (the
report, the model and the submission logged and registered).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from recsys.records import Run
from recsys.reranker import TrialParams, cap_train_cuts, parse_grid
from recsys.settings import RunSettings
from recsys.split import FINAL, CutKind, cut_names

if TYPE_CHECKING:
    from recsys.model import TwoStageModel


@dataclass(frozen=True)
class DataSpec:
    """Where a run's data comes from: a folder of the four files, or the embedded synthetic ``preset``; and the
    lineage its models belong to (empty: :func:`recsys.promotion.default_lineage`)."""

    data_dir: str = ""
    preset: str = "default"
    stitch_identities: bool = False
    lineage: str = ""

    @property
    def label(self) -> str:
        return self.data_dir or f"synthetic:{self.preset}"

    def lineage_of(self, seed: int) -> str:
        from recsys.promotion import default_lineage, lineage_name

        return lineage_name(self.lineage) if self.lineage else default_lineage(self.data_dir, self.preset, seed)


@dataclass
class Started:
    """A checked run: its data, the truth file if the data ships one, the cuts, and the --grid trials (capped to
    the training cuts a short log holds; ``note`` says so)."""

    data_dir: str
    ds: object
    truth: pd.DataFrame | None
    cuts: dict
    first_trials: list[TrialParams]
    buyer_daily_cuts: dict
    buyer_plan: list
    fit_plan: list
    window_plan: list
    note: str = ""

    def artifacts(self) -> dict:
        """The flow artifacts of the start, by name: the log (``ds``) and what the steps that never load it read."""
        from recsys.report.summaries import data_facts

        return {
            "resolved_data_dir": self.data_dir,
            "ds": self.ds,
            "catalog": self.ds.catalog,
            "data_facts": data_facts(self.ds),
            "truth": self.truth,
            "cuts": self.cuts,
            "first_trials": self.first_trials,
            "n_train_cuts": len(cut_names(self.cuts, CutKind.TRAIN)),
            "buyer_daily_cuts": self.buyer_daily_cuts,
            "buyer_plan": self.buyer_plan,
            "fit_plan": self.fit_plan,
            "window_plan": self.window_plan,
        }


def git_commit(root) -> str:
    """The code's commit (:func:`recsys.tracking.git_commit`; MLflow is imported only when it is needed)."""
    from recsys.tracking import git_commit as commit

    return commit(root)


def check_run(settings: RunSettings, grid: str, promote: str = "if-better") -> list[TrialParams]:
    """The --grid trials, once ``settings``, the grid and the --promote mode are valid (``ValueError`` naming each
    problem)."""
    from recsys.promotion import PROMOTE_MODES

    if promote not in PROMOTE_MODES:
        raise ValueError(f"--promote must be one of {', '.join(PROMOTE_MODES)}, got {promote!r}")
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
    """Load and validate the data, fix the cuts (a log too short for ``settings.train_cuts`` learns from fewer,
    one too short for any stops with a clear message) and plan the fan-outs over groups of cuts: the buyer model's
    daily cuts, the candidate fits and each trial's validation windows (``settings.fit_rows`` history rows per
    task)."""
    import dataclasses

    from recsys import training
    from recsys.data import load_dataset
    from recsys.evaluation import truth_file

    ds = dataclasses.replace(load_dataset(data_dir), stitch_identities=spec.stitch_identities)
    cuts, note = training.run_cuts(ds, settings)
    trials = cap_train_cuts(trials, len(cut_names(cuts, CutKind.TRAIN))) if note else trials
    daily = training.buyer_cuts(ds, cuts, settings)
    buyer_plan = training.buyer_plan(ds, daily, settings.fit_rows)
    rows = training.history_rows(ds, cuts)
    fit_plan = training.fit_groups(rows, settings.fit_rows)
    window_plan = training.fit_groups({w: rows[w] for w in cut_names(cuts, CutKind.VALID)}, settings.fit_rows)
    return Started(data_dir, ds, truth_file(data_dir), cuts, trials, daily, buyer_plan, fit_plan, window_plan, note)


@dataclass(frozen=True)
class Placement:
    """Where and for what a run writes its submission: the ``--output`` file, the run's name, lineage and data
    fingerprint (its provenance beside the file), and the submission's ``k`` and ``top_users``."""

    output: str
    run_name: str
    lineage: str
    fingerprint: str
    k: int
    top_users: int


@dataclass
class Output:
    """Where the final step put the submission, its score against the data's truth file ({} without one), and
    what it prints."""

    path: str
    test_results: dict
    lines: list[str]


def write_output(result, ds, truth: pd.DataFrame | None, placement: Placement) -> Output:
    """Validate the run's submission (``result``: a :class:`recsys.submission.FinalResult`) against the log's
    products and write it to ``placement.output`` (beside it when that file is another lineage's:
    :func:`recsys.submission.place_submission`), and score its lists against the ``truth`` file, if the data has
    one."""
    from recsys.evaluation import score_truth
    from recsys.report import submission_lines
    from recsys.submission import Provenance, place_submission, validate_submission

    k, top = placement.k, placement.top_users
    validate_submission(result.submission, ds.items["product_id"], k, top)
    provenance = Provenance(placement.run_name, placement.lineage, placement.fingerprint)
    path, note = place_submission(result.submission, placement.output, provenance)
    test_results = score_truth(ds, truth, result.recs, k, top)
    lines = submission_lines(str(path), len(result.submission), test_results)
    return Output(str(path), test_results, [*lines, note] if note else lines)


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


def tag_data(uri: str, run_id: str, started: Started, lineage: str) -> str:
    """Tag the MLflow run with the data's fingerprint and lineage (and the training cuts used, on a short log),
    and log the data as the run's dataset input (source, fingerprint, counts); returns the fingerprint."""
    from recsys.schema import Columns as C
    from recsys.tracking import data_fingerprint, log_dataset, set_run_tags

    fingerprint = data_fingerprint(started.data_dir)
    tags = {"data_fingerprint": fingerprint, "lineage": lineage}
    if started.note:
        tags["train_cuts_used"] = str(len(cut_names(started.cuts, CutKind.TRAIN)))
    set_run_tags(uri, run_id, tags)
    report, ts = started.ds.report, started.ds.interactions[C.TS]
    facts = {"lineage": lineage, **{k: str(report.get(k, "")) for k in ("events", "exploded_rows", "users", "items")}}
    facts.update(first_event=f"{ts.min():%Y-%m-%d %H:%M}", last_event=f"{ts.max():%Y-%m-%d %H:%M}")
    log_dataset(uri, run_id, started.data_dir, fingerprint, facts)
    return fingerprint


def track(run: Run, model_of: Callable[[], TwoStageModel], ids: RunIds, current_run_id: str) -> dict:
    """Finish the flow's MLflow run from its records (``run``: :func:`recsys.records.read` of the ``track`` step):
    metrics, tables, plots, the submission, the reranker, and the run's two-stage model (``model_of()``: the object
    the submission was written with) registered as a new version, its champion aliases gated by ``--promote``. The
    model is saved to a file and let go before MLflow loads that file to try its example, so the step never holds
    two. A resumed run (``current_run_id`` other than the one that opened the MLflow run) says both ids in the run's
    name and tags."""
    from recsys.report import hypothesis_verdicts, verdict_inputs
    from recsys.tracking import RunLog, log_flow_run, rename_run, run_report

    start, chosen = run.start, run.chosen
    report = run_report(run, hypothesis_verdicts(verdict_inputs(run)))
    description = (
        f"Metaflow run {ids.name} on {start.resolved_data_dir} (lineage {start.data_lineage}, fingerprint "
        f"{start.data_fingerprint}, code {ids.commit}): validation recall {chosen.valid_recall:.4f} with "
        f"{chosen.best_params.label}, users chosen by {chosen.best_strategy}."
    )
    tags = {"metaflow_run_id": current_run_id, "lineage": start.data_lineage}
    if current_run_id != ids.run_id:
        tags["metaflow_origin_run_id"] = ids.run_id
        rename_run(start.mlflow_uri, start.mlflow_run_id, f"{ids.flow}/{current_run_id} (resumed from {ids.run_id})")
    with tempfile.TemporaryDirectory() as tmp:
        saved = saved_recommender(run, model_of, Path(tmp))
        log = RunLog(report, run.final.submission, saved, run.params.model_name, standing(run), chosen.trial_table)
        log.version_description, log.promote = description, run.params.promote
        return log_flow_run(start.mlflow_uri, start.mlflow_run_id, tags, log)


def served_model(reader) -> TwoStageModel:
    """The run's served :class:`~recsys.model.TwoStageModel` from a step's artifacts (``reader``: a
    :class:`recsys.shards.ArtifactReader` of the ``track`` step or of a later step's client data): the ``final`` step's
    ``model_parts`` with the branches' final sources, the object the submission was written with (never pickled whole
    in a step)."""
    from recsys.model import TwoStageModel

    return TwoStageModel.from_parts(reader.take("model_parts"), reader.final_sources())


def saved_recommender(run: Run, model_of: Callable[[], TwoStageModel], folder: Path):
    """The run's recommender (``model_of()`` behind the run's raw ids and final pool) saved in ``folder``; the
    in-memory model is gone when this returns."""
    import gc

    from recsys.serving import Recommender

    p, pool = run.params, run.candidates.pools[FINAL]
    recommender = Recommender.from_catalog(run.start.catalog, model_of(), pool, p.k, p.top_users)
    saved = recommender.saved(folder / "recommender.pkl")
    del recommender
    gc.collect()  # pandas' caches can hold reference cycles: collect them now, not at some later allocation
    return saved


def standing(run: Run):
    """The run's :class:`~recsys.promotion.Standing`: its lineage and data, and the chosen model's validation
    recall of each buyer next to the best baseline's, by window (keyed by the window's cut time)."""
    from recsys.metrics import paired_difference
    from recsys.promotion import Standing
    from recsys.rows import BASELINE, RERANKER, RowKey
    from recsys.schema import Columns as C

    chosen, start = run.chosen, run.start
    baselines = run.weighed.baseline_results
    top = max(baselines, key=lambda name: baselines[name]["recall"])
    recalls = run.weighed.buyer_recalls

    def by_window(row: str) -> dict[str, pd.Series]:
        mine = recalls[recalls["row"] == row]
        return {start.cuts[w].at.isoformat(): g.set_index(C.USER)["recall"] for w, g in mine.groupby("window")}

    chosen_recalls = by_window(RowKey(RERANKER, chosen.best_strategy).name)
    lift = paired_difference(chosen_recalls, by_window(RowKey(BASELINE, top).name))
    synthetic = not run.params.data_dir
    recall, baseline = float(chosen.valid_recall), float(baselines[top]["recall"])
    return Standing(start.data_lineage, start.data_fingerprint, synthetic, recall, baseline, lift, chosen_recalls)
