"""The records a run's steps hand on, declared once: what each producing step stores (one frozen dataclass per
step, its fields stored as artifacts of the same names) and :func:`read`, the one reader of a run that the
tracking, the report and the served model go through.

A step stores a record with ``store(self, record)`` (``flows/recsys_flow.py``): every field becomes an artifact of
its name, so the Metaflow client, the notebook and the benchmarks read the same names as before. :func:`read`
builds a :class:`Run` back from a step's ``self`` or a client task's ``data``; an artifact a record needs and the
run does not hold is a :class:`MissingArtifactError` error naming it, never a silently missing report section. The
fields that runs stored before them lack say so by their default (:data:`OLDER_RUNS`), in this one place.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any


class MissingArtifactError(LookupError):
    """A record's artifact that the run does not hold."""


@dataclass(frozen=True)
class Params:
    """The flow's parameters that the report and the tracking read."""

    data_dir: str
    top_users: int
    k: int
    seed: int
    trials_n: int
    grid: str
    buyer_cuts: int
    valid_windows: int
    pool_size: int
    candidates: int
    stitch_identities: bool
    model_name: str
    promote: str
    output: str
    ablation: bool | None = None  # None: a run older than --ablation


@dataclass(frozen=True)
class Start:
    """What ``start`` fixed: the data, its lineage and fingerprint, the MLflow run it opened, the cuts, the raw ids
    (``catalog``) and the data's facts for the report."""

    resolved_data_dir: str
    data_lineage: str
    data_fingerprint: str
    mlflow_uri: str
    mlflow_run_id: str
    cuts: dict
    catalog: Any
    data_facts: dict | None = None  # None: a run older than the artifact (the reader takes them from its log)
    n_train_cuts: int | None = None  # None: a run older than the artifact (its --train-cuts)


@dataclass(frozen=True)
class Candidates:
    """What ``join_candidates`` joined: the users scored at each cut and the sources' candidate recalls."""

    pools: dict
    source_metrics: dict


@dataclass(frozen=True)
class Chosen:
    """What ``choose`` decided: the trials, the best trial and strategy with their validation figures."""

    trial_table: Any
    best_params: Any
    best_strategy: str
    valid_results: dict
    valid_recall: float
    valid_by_window: dict | None = None
    selection_scores: Any = None


@dataclass(frozen=True)
class Weighed:
    """What ``weigh`` scored beside the best trial (while ``final`` retrains it): the baselines, each source alone
    and removed, the plain two-stage model, the hypothesis table and each buyer's recall behind its rows."""

    baseline_results: dict
    hypotheses: Any
    source_alone: dict | None = None
    source_removed: dict | None = None
    plain_results: dict | None = None
    buyer_recalls: Any = None  # None: a run older than paired verdicts


@dataclass(frozen=True)
class Final:
    """What ``final`` wrote: the submission, where, its truth-file score, and the model's feature importance and
    input example."""

    submission: Any
    output_path: str
    test_results: dict
    feature_importance: Any
    final_table_head: Any


@dataclass(frozen=True)
class Tracked:
    """What ``track`` logged: the MLflow run, the model version and its promotion."""

    mlflow: dict


#: The records of a run, by the step that stores each (``Params``: the flow's parameters).
STEPS = {"parameters": Params, "start": Start, "join_candidates": Candidates, "choose": Chosen, "weigh": Weighed}
STEPS.update(final=Final, track=Tracked)
#: Fields that runs stored before them lack, with what stands in for them (the records' other defaults are fields a
#: run may leave out by design: an ablation not asked for, no plain model).
OLDER_RUNS = ("ablation", "data_facts", "n_train_cuts", "valid_by_window", "selection_scores", "buyer_recalls")


@dataclass(frozen=True)
class Run:
    """A run as its readers see it: one record per producing step (``tracked`` is None before ``track``)."""

    params: Params
    start: Start
    candidates: Candidates
    chosen: Chosen
    weighed: Weighed
    final: Final
    tracked: Tracked | None = None


def fields_of(record) -> dict:
    """A record's fields by name, shallow (the artifacts a step stores)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def take(data, kind: type):
    """One record of ``kind`` from a step's ``self`` or a client task's ``data``; a field without a default that
    the run lacks raises :class:`MissingArtifactError`."""
    values, missing = {}, []
    for f in fields(kind):
        try:
            values[f.name] = getattr(data, f.name)
        except (AttributeError, KeyError):
            if f.default is MISSING:
                missing.append(f.name)
    if missing:
        raise MissingArtifactError(f"the run has no {', '.join(missing)} ({kind.__name__}: stored by {step_of(kind)})")
    return kind(**values)


def step_of(kind: type) -> str:
    return next(step for step, k in STEPS.items() if k is kind)


def read(data, tracked: bool = True, facts_of=None) -> Run:
    """The :class:`Run` behind ``data`` (a step's ``self`` or a client task's ``data`` of ``end``, or of ``track``
    with ``tracked=False``), of this version of the flow or an older one: a run older than its data facts has
    them computed from its log by ``facts_of`` (``recsys.report.summaries.data_facts``: the report passes it; without
    it such a run is a :class:`MissingArtifactError`), one older than ``n_train_cuts`` its ``--train-cuts``."""
    from dataclasses import replace

    start = take(data, Start)
    if start.data_facts is None:
        if facts_of is None:
            raise MissingArtifactError("the run has no data_facts (Start: stored by start)")
        start = replace(start, data_facts=facts_of(data.ds))
    if start.n_train_cuts is None:
        start = replace(start, n_train_cuts=data.train_cuts)
    return Run(
        take(data, Params),
        start,
        take(data, Candidates),
        take(data, Chosen),
        take(data, Weighed),
        take(data, Final),
        take(data, Tracked) if tracked else None,
    )
