"""The flow's experiment over cuts, as plain functions: parameter checks, user pools, the candidate branches, the
trials scored on validation, each source alone and removed, the baselines and the final model.

A run works on named cuts (see :func:`recsys.split.make_cuts`): daily ``train``, ``train2``, ... (learning),
``valid``, ``valid2``, ... (non-overlapping validation windows: model selection and the reported recall use their
mean and its standard error) and ``final`` (the submission). The models themselves live in :mod:`recsys.model`;
this module only arranges them over the cuts and scores them with the exact metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recsys import buyers
from recsys.baselines import BASELINES
from recsys.buyers import BuyerInputs, BuyerModel
from recsys.candidates import CandidateSource, branches, candidates_of, padding_items
from recsys.dataset import Dataset
from recsys.features import drop_source, keep_sources
from recsys.frames import PackedFrame
from recsys.metrics import buyer_recalls, candidate_recall, diagnostics, familiarity_diagnostics, truth_sets
from recsys.model import (
    Prediction,
    fit_sources,
    labelled_buyer_inputs,
    learning_pool,
    model_padding,
    predict,
    recs_for,
)
from recsys.reranker import Reranker, TrialParams, learnable_rows
from recsys.schema import NO_ITEM, Action, source_columns
from recsys.schema import Columns as C
from recsys.search import outside_space, rounds
from recsys.split import MIN_HISTORY_DAYS, Cut, cut_names, daily_cuts, history, model_history, target

log = logging.getLogger("recsys.experiment")

RECALL_AT = (25, 50)
#: Users scored per cut, as a multiple of the submission's user budget, when ``--pool-size`` is 0. The submission
#: can only choose among these: at the real volume 4x captured 38.5% of the validation buyers against 28.5% for 2x
#: (recall 0.1707 vs 0.1179, docs/results_history.md), when the pool was the most active users; it is now the
#: likeliest buyers among ``buyers.SCREEN_FACTOR`` times as many (:func:`user_pools`).
POOL_FACTOR = 4

#: ``{row: {window: the recall of each of the window's buyers}}``, what paired comparisons need
#: (:func:`recsys.metrics.paired_difference`): functions that score on the validation windows fill one when given.
BuyerRecalls = dict[str, dict[str, pd.Series]]


def pool_size(requested: int, top_users: int) -> int:
    """``requested``, or ``POOL_FACTOR * top_users`` when it is 0."""
    return requested or POOL_FACTOR * top_users


def check_parameters(
    top_users: int,
    k: int,
    train_cuts: int,
    pool_size: int,
    candidates: int,
    trials: list[TrialParams] = (),
    valid_windows: int = 1,
    n_trials: int | None = None,
    buyer_cuts: int = 1,
) -> None:
    """Refuse run parameters that cannot give a valid submission, with a message naming the parameter.

    ``trials``: the ones tried first (``--grid``); ``n_trials``: the search's total (``--trials``)."""
    problems = []
    if n_trials is not None:
        try:
            rounds(n_trials, len(trials))
        except ValueError as err:
            problems.append(str(err))
    if buyer_cuts < 1:
        problems.append(f"--buyer-cuts must be at least 1, got {buyer_cuts}")
    if valid_windows < 1:
        problems.append(f"--valid-windows must be at least 1, got {valid_windows}")
    too_many = [t.label for t in trials if t.train_cuts > train_cuts]
    if too_many:
        problems.append(f"trials {too_many} use more training cuts than --train-cuts {train_cuts}")
    elif train_cuts >= 1 and outside_space(trials, train_cuts):  # the training cuts are reported just above
        problems.append(outside_space(trials, train_cuts))
    if top_users < 1:
        problems.append(f"--top-users must be at least 1, got {top_users}")
    if k < 1:
        problems.append(f"--k must be at least 1, got {k}")
    if train_cuts < 1:
        problems.append(f"--train-cuts must be at least 1, got {train_cuts}")
    if pool_size < 0:
        problems.append(f"--pool-size must be 0 (automatic) or positive, got {pool_size}")
    elif 0 < pool_size < top_users:
        problems.append(f"--pool-size {pool_size} is smaller than --top-users {top_users}")
    if candidates < 1:
        problems.append(f"--candidates must be at least 1, got {candidates}")
    if problems:
        raise ValueError("invalid parameters: " + "; ".join(problems))


def has_target(ds: Dataset, cut: Cut) -> bool:
    """Whether the cut's whole target window lies inside the log."""
    return cut.target_end <= ds.end


def user_pools(
    ds: Dataset,
    cuts: dict[str, Cut],
    size: int,
    models: dict[str, BuyerModel] | None = None,
    screen: int | None = None,
) -> dict[str, np.ndarray]:
    """The users scored at each cut. At a validation window or the final cut, with the run's buyer ``models``
    (:func:`buyer_models`), the ``size`` users of highest P(buy) among the ``screen`` most active
    (:func:`recsys.buyers.screened_pool`; ``buyers.SCREEN_FACTOR * size`` by default), each window by the model learnt
    before the validation windows, the final cut by the final one; without models, the ``size`` most active
    (:func:`recsys.buyers.user_pool`). At a training cut, the ``size`` most active who bought in its target
    window (:func:`recsys.model.learning_pool`: the rows a reranker learns from are the same, and the sources
    propose candidates for far fewer users)."""
    training = set(cut_names(cuts, "train"))
    pools = {}
    for name, cut in cuts.items():
        hist = model_history(ds, cut)
        if name in training:
            pools[name] = learning_pool(ds, cut, buyers.user_pool(hist, size))
        elif models is not None:
            model = models["final" if name == "final" else "valid"]
            pools[name] = buyers.screened_pool(hist, cut.at, model, size, screen)
        else:
            pools[name] = buyers.user_pool(hist, size)
    return pools


def run_branch(
    branch: str,
    ds: Dataset,
    cuts: dict[str, Cut],
    pools: dict[str, np.ndarray],
    n: int,
    seed: int = 0,
    fitted: dict[str, CandidateSource] | None = None,
) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, float]]:
    """Fit the branch's sources (``recsys.candidates.branches()``) on every cut; return
    ``{source: {cut: candidates}}`` and candidate recall@N on the labelled cuts.

    Recall is over every buyer of the cut's target window (buyers outside the pool count as 0). When ``fitted``
    is given, it receives the sources fitted on the ``final`` cut by name (the state the served model needs).
    """
    names = branches()[branch]
    candidates: dict[str, dict[str, pd.DataFrame]] = {}
    metrics: dict[str, float] = {}
    for cut_name, cut in cuts.items():
        hist = model_history(ds, cut)
        for name in names:
            started = time.perf_counter()
            source = fit_sources([name], hist, ds.items, ds.vectors, seed)[name]
            cands = source.recommend(pools[cut_name], candidates_of(name, n))
            candidates.setdefault(name, {})[cut_name] = cands
            if fitted is not None and cut_name == "final":
                fitted[name] = source
            log.info("%s on %s: %s candidates in %.1fs", name, cut, f"{len(cands):,}", time.perf_counter() - started)
            if has_target(ds, cut):
                for at, value in candidate_recall(cands, target(ds.interactions, cut), RECALL_AT).items():
                    metrics[f"{name}.{cut_name}.recall_at_{at}"] = value
    return candidates, metrics


def buyer_models(
    ds: Dataset, cuts: dict[str, Cut], n_cuts: int, pool_size: int, seed: int = 0
) -> tuple[dict[str, BuyerModel], dict[str, dict[str, int]]]:
    """The run's two buyer models, each learnt from up to ``n_cuts`` daily cuts (:func:`recsys.split.daily_cuts`):
    ``valid`` from cuts whose targets end by the oldest validation window (the one the trials are scored with),
    ``final`` from cuts whose targets end at the final cut (the submission's). Also, per model, how many cuts,
    users and buyers it learnt from. A cut both use is computed once."""
    ends = {"valid": min(cuts[n].at for n in cut_names(cuts, "valid")), "final": cuts["final"].at}
    log_start = ds.interactions[C.TS].min()
    inputs: dict[pd.Timestamp, BuyerInputs] = {}
    models, facts = {}, {}
    for which, end in ends.items():
        daily = list(daily_cuts(end, n_cuts, log_start).values())
        if not daily:  # check_log_covers_cuts refuses such a log first; a direct call gets a clear message too
            raise ValueError(
                f"no daily cut for the {which} buyer model: its targets must end by {end:%Y-%m-%d} and each cut "
                f"needs {MIN_HISTORY_DAYS} days of log before it (the log starts {log_start:%Y-%m-%d %H:%M})"
            )
        for cut in daily:
            if cut.at not in inputs:
                inputs[cut.at] = labelled_buyer_inputs(ds, cut, pool_size)
        used = [inputs[cut.at] for cut in daily]
        models[which] = BuyerModel(seed).fit(used)
        facts[which] = {
            "cuts": len(used),
            "users": sum(len(i.users) for i in used),
            "buyers": sum(int(i.labels.sum()) for i in used),
        }
    return models, facts


def table_artifact(cut_name: str) -> str:
    """The flow artifact holding a cut's feature table (one per cut, so a step loads only what it uses)."""
    return f"table_{cut_name}"


def rows_artifact(cut_name: str) -> str:
    """The flow artifact holding a labelled cut's learnable rows (what a reranker trains on; small)."""
    return f"rows_{cut_name}"


def evaluate(
    ds: Dataset,
    cut: Cut,
    pred: Prediction,
    k: int,
    top_users: int,
    strategies=None,
    per_buyer: dict | None = None,
    familiarity: bool = False,
) -> dict[str, dict[str, float]]:
    """Diagnostics of ``strategies`` (all of the prediction's by default) against the cut's target;
    ``per_buyer``, when given, receives each strategy's recall per buyer; with ``familiarity``, the recall is
    also split by what the buyers knew before the cut (:func:`recsys.metrics.familiarity_diagnostics`)."""
    truth = target(ds.interactions, cut)
    before = history(ds.interactions, cut)
    padding = padding_items(before, len(ds.items), 2 * k)
    if familiarity:
        known = before[(before[C.ITEM] != NO_ITEM) & before[C.USER].isin(truth[C.USER].unique())]
        bought = truth_sets(known.loc[known[C.ACTION] == int(Action.ORDER), [C.USER, C.ITEM]].drop_duplicates())
        seen = truth_sets(known[[C.USER, C.ITEM]].drop_duplicates())  # as sets once, for every strategy
    out = {}
    for s in strategies or list(pred.selected):
        recs = pred.recs(s, padding, k)
        out[s] = diagnostics(recs, truth, top_users, k).as_dict()
        if familiarity:
            out[s].update(familiarity_diagnostics(recs, truth, bought, seen, k))
        if per_buyer is not None:
            per_buyer[s] = buyer_recalls(recs, truth, top_users, k)
    return out


def train_trial(
    params: TrialParams,
    train_rows: list[pd.DataFrame],
    seed: int = 0,
    progress: bool = False,
    trees: int | None = None,
) -> Reranker:
    """The reranker of a trial, fitted on the learnable rows of its ``train_cuts`` newest training cuts
    (``progress``: print a line every ~20 s while it trains; ``trees``: exactly that many, none held out)."""
    return Reranker(params, seed).fit(
        train_rows, learnable=True, progress=params.label if progress else None, trees=trees
    )


def validate(
    ds: Dataset,
    cut: Cut,
    reranker: Reranker,
    buyer_model: BuyerModel,
    table: pd.DataFrame,
    inputs: BuyerInputs,
    k: int,
    top_users: int,
    strategies=buyers.STRATEGIES,
    per_buyer: dict | None = None,
) -> tuple[Prediction, dict[str, dict[str, float]]]:
    """Predict a labelled cut and score every strategy; ``ceiling`` is the recall a perfect reranker would reach
    with the same users and candidates (each chosen buyer's bought candidates first), and the recall is split
    into items the buyers had ordered, only seen, or never met before the cut, with the ceilings of their own
    history (:func:`recsys.metrics.familiarity_diagnostics`). ``per_buyer``, when given, receives each
    strategy's recall per buyer."""
    pred = predict(reranker, buyer_model, table, inputs, k, top_users, tuple(strategies))
    results = evaluate(ds, cut, pred, k, top_users, per_buyer=per_buyer, familiarity=True)
    truth = target(ds.interactions, cut)
    bought = table.loc[table[C.TARGET] == 1, [C.USER, C.ITEM]].groupby(C.USER)[C.ITEM].agg(list)
    for strategy, diag in results.items():
        perfect = {int(u): bought.get(u, [])[:k] for u in pred.selected[strategy]}
        diag["ceiling"] = diagnostics(perfect, truth, top_users, k).recall
    return pred, results


def over_windows(per_window: list[dict[str, float]]) -> dict[str, float]:
    """One figure from the same diagnostics on several validation windows: the mean of each, ``windows`` (how
    many) and ``recall_se``, the standard error of the mean recall.

    ``recall_se`` is the spread of the windows' recalls over sqrt(n), but never less than the buyer-sampling
    error of the mean (sqrt of the summed squared per-window standard errors, over n): with three windows the
    spread alone can come out near zero by chance and would claim a precision the data do not have.
    """
    if not per_window:
        raise ValueError("no validation window to average")
    frame = pd.DataFrame(per_window).astype(float)
    out = frame.mean().to_dict()
    n = len(frame)
    spread = float(frame["recall"].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    buyers_se = float(np.sqrt((frame["recall_se"] ** 2).sum()) / n) if "recall_se" in frame else float("nan")
    out["recall_se"] = float(np.nanmax([spread, buyers_se])) if not (np.isnan(spread) and np.isnan(buyers_se)) else 0.0
    out["windows"] = n
    return out


def mean_results(by_window: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """``{window: {row: diagnostics}}`` -> ``{row: diagnostics over the windows}`` (:func:`over_windows`), for the
    rows every window has."""
    windows = list(by_window.values())
    rows = [r for r in windows[0] if all(r in w for w in windows)]
    return {r: over_windows([w[r] for w in windows]) for r in rows}


@dataclass
class Validation:
    """A reranker and buyer model scored on every validation window: ``results`` are the means over the windows
    (per strategy), ``by_window`` each window's own, ``selected`` the users each strategy chose per window,
    ``selection_scores`` the newest window's buyer curve (:func:`selection_scores`) and ``buyer_recalls`` each
    strategy's recall per buyer and window (:data:`BuyerRecalls`)."""

    results: dict[str, dict[str, float]]
    by_window: dict[str, dict[str, dict[str, float]]]
    selected: dict[str, dict[str, pd.Index]]
    selection_scores: pd.DataFrame
    buyer_recalls: BuyerRecalls = field(default_factory=dict)

    @property
    def strategy(self) -> str:
        """The selection strategy with the best mean recall (the first of equals, in ``STRATEGIES`` order)."""
        return max(self.results, key=lambda s: self.results[s]["recall"])

    @property
    def recall(self) -> float:
        return self.results[self.strategy]["recall"]


def validate_windows(
    ds: Dataset,
    cuts: dict[str, Cut],
    reranker: Reranker,
    buyer_model: BuyerModel,
    table_of,
    inputs: dict[str, BuyerInputs],
    k: int,
    top_users: int,
    strategies=buyers.STRATEGIES,
) -> Validation:
    """:func:`validate` on each validation cut of ``cuts`` (newest first), then averaged (:func:`mean_results`).

    ``table_of(name)`` returns a window's feature table: called once per window, so a caller can load each
    table only while it is scored.
    """
    by_window, selected, scores, recalls = {}, {}, None, {}
    for name in cuts:
        per_buyer = {}
        pred, by_window[name] = validate(
            ds, cuts[name], reranker, buyer_model, table_of(name), inputs[name], k, top_users, strategies, per_buyer
        )
        selected[name] = pred.selected
        for strategy, values in per_buyer.items():
            recalls.setdefault(strategy, {})[name] = values
        if scores is None:
            scores = selection_scores(pred, inputs[name])
    return Validation(mean_results(by_window), by_window, selected, scores, recalls)


def source_alone(
    ds: Dataset,
    cut: Cut,
    candidates: pd.DataFrame,
    users: pd.Index,
    k: int,
    top_users: int,
    padding: np.ndarray | None = None,
    truth: pd.DataFrame | None = None,
) -> tuple[dict[str, float], pd.Series]:
    """A single source's own ranking, for the same chosen users: what the branch is worth alone (diagnostics,
    and the recall per buyer). ``padding`` and ``truth``: the cut's padding items and target window, when the
    caller has them already (they depend on the cut only)."""
    if padding is None:
        padding = padding_items(history(ds.interactions, cut), len(ds.items), 2 * k)
    recs = recs_for(candidates, users, padding, k)
    truth = target(ds.interactions, cut) if truth is None else truth
    return diagnostics(recs, truth, top_users, k).as_dict(), buyer_recalls(recs, truth, top_users, k)


def sources_alone(
    ds: Dataset,
    cuts: dict[str, Cut],
    candidates: dict[str, dict[str, pd.DataFrame]],
    selected: dict[str, pd.Index],
    k: int,
    top_users: int,
    per_buyer: BuyerRecalls | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`source_alone` of every source on every validation window of ``cuts`` (with the users the chosen
    model selected there, ``selected[window]``), averaged over the windows; ``per_buyer``, when given, receives
    each source's recall per buyer and window."""
    by_window = {}
    for w, cut in cuts.items():
        by_window[w] = {}
        padding = padding_items(history(ds.interactions, cut), len(ds.items), 2 * k)  # once per window
        truth = target(ds.interactions, cut)
        for s, c in candidates.items():
            by_window[w][s], values = source_alone(ds, cut, c[w], selected[w], k, top_users, padding, truth)
            if per_buyer is not None:
                per_buyer.setdefault(s, {})[w] = values
    return mean_results(by_window)


@dataclass
class AblationInputs:
    """What the ablation needs, loaded once: the training cuts' learnable rows, and the validation windows' tables
    and buyer inputs."""

    train_rows: list[pd.DataFrame]
    valid_tables: dict[str, pd.DataFrame]  # per validation window
    valid_inputs: dict[str, BuyerInputs]


def sources_removed(
    ds: Dataset,
    cuts: dict[str, Cut],
    inputs: AblationInputs,
    buyer_model: BuyerModel,
    params: TrialParams,
    strategy: str,
    sources: list[str],
    k: int,
    top_users: int,
    seed: int = 0,
    progress=None,
    per_buyer: BuyerRecalls | None = None,
) -> dict[str, dict[str, float]]:
    """Ablation: the chosen recipe retrained without each source (sorted), scored on the validation windows
    ``cuts`` (mean over the windows, :func:`over_windows`; ``per_buyer``, when given, receives the recall per
    buyer and window of each retrained model).

    The source's candidates and features leave every table; the reranker is refitted exactly as in the flow (the
    ``buyer_model`` reads no candidate, so it stays), the users are selected by ``strategy``, and the lists are
    scored with the competition metric. Deterministic for a given ``seed``. A source whose removal leaves nothing
    to learn from gets NaN diagnostics and a warning.
    """
    results = {}
    ordered = sorted(sources)
    for i, source in enumerate(ordered):
        started = time.perf_counter()
        try:
            rows = [drop_source(r, source) for r in inputs.train_rows]
            reranker = Reranker(params, seed).fit([learnable_rows(r) for r in rows], learnable=True)
            scored = validate_windows(
                ds,
                cuts,
                reranker,
                buyer_model,
                lambda w, source=source: drop_source(inputs.valid_tables[w], source),
                inputs.valid_inputs,
                k,
                top_users,
                [strategy],
            )
            results[source] = scored.results[strategy]
            if per_buyer is not None:
                per_buyer[source] = scored.buyer_recalls[strategy]
        except ValueError as err:
            log.warning("without %s: cannot retrain (%s)", source, err)
            results[source] = {"recall": float("nan")}
        seconds = time.perf_counter() - started
        if progress is not None:  # progress(done, note), e.g. recsys.progress.Progress.update
            progress(i + 1, f"without {source}: recall {results[source]['recall']:.4f} ({seconds:.1f} s)")
    return results


#: The yardstick of the item lists: a two-stage model as a first afternoon would write it (issue 12 measured one as
#: good as the project's lists). These sources' candidates, their scores and ranks, and the counts below; learnt
#: from the newest training window alone.
PLAIN_SOURCES = ("history", "covisit", "als", "popular")
PLAIN_FEATURES = (
    "ui_view", "ui_addb", "ui_order", "ui_days_since_any",  # the user's own touches of the item, and how recent
    "u_events", "u_orders", "u_days_since_last",  # the user's activity
    "i_view_7", "i_order_7", "i_users_7",  # the item's recent demand
)  # fmt: skip
#: The row of the plain two-stage model in the hypotheses and buyer-recall tables.
PLAIN_ROW = "plain two-stage"


def plain_table(table: pd.DataFrame | PackedFrame) -> pd.DataFrame:
    """``table`` as the plain two-stage model sees it: the rows and columns of :data:`PLAIN_SOURCES`, the
    :data:`PLAIN_FEATURES` (those present) and the keys and label. From a flow artifact (a ``PackedFrame``), only
    those columns are decoded."""
    keep = set(PLAIN_FEATURES) | {C.USER, C.ITEM, C.TARGET, C.CUT_ID, C.N_SOURCES}
    keep |= {c for s in PLAIN_SOURCES for c in source_columns(s)}
    narrow = table.select(keep) if isinstance(table, PackedFrame) else table[[c for c in table.columns if c in keep]]
    return keep_sources(narrow, PLAIN_SOURCES)


def plain_two_stage(
    ds: Dataset,
    cuts: dict[str, Cut],
    train_rows: pd.DataFrame | PackedFrame,
    table_of: Callable[[str], pd.DataFrame | PackedFrame],
    valid_inputs: dict[str, BuyerInputs],
    buyer_model: BuyerModel,
    params: TrialParams,
    strategy: str,
    k: int,
    top_users: int,
    seed: int = 0,
    per_buyer: BuyerRecalls | None = None,
) -> dict[str, float]:
    """The plain two-stage model (:func:`plain_table`) in the reranker's place: the chosen trial's loss and
    settings learnt from ``train_rows`` alone (the newest training cut's learnable rows), the same buyer model and
    ``strategy`` choosing the users, scored on the validation windows ``cuts`` (mean over them; ``per_buyer``, when
    given, receives the recall per buyer and window under :data:`PLAIN_ROW`). ``table_of(window)`` gives a
    window's feature table (a flow artifact's ``PackedFrame`` is read for the plain columns only).
    NaN diagnostics and a warning when the model cannot learn."""
    try:
        rows = learnable_rows(plain_table(train_rows))
        reranker = Reranker(replace(params, train_cuts=1), seed).fit([rows], learnable=True)
    except ValueError as err:
        log.warning("the plain two-stage model cannot be trained (%s)", err)
        return {"recall": float("nan")}
    scored = validate_windows(
        ds, cuts, reranker, buyer_model, lambda w: plain_table(table_of(w)), valid_inputs, k, top_users, [strategy]
    )
    if per_buyer is not None:
        per_buyer[PLAIN_ROW] = scored.buyer_recalls[strategy]
    return scored.results[strategy]


def selection_scores(pred: Prediction, inputs: BuyerInputs) -> pd.DataFrame:
    """Per pool user: the score of every selection strategy and, where known, whether the user bought (``bought``).

    Small (one row per pool user): enough to draw how many buyers each strategy captures at any budget.
    """
    frame = pd.DataFrame(
        {
            s: buyers.selection_score(pred.p_buy, s, recall_given_buy=pred.recall_given_buy, activity=inputs.activity)
            for s in buyers.STRATEGIES
        }
    )
    if inputs.labels is not None:
        frame["bought"] = inputs.labels.reindex(frame.index).fillna(0).astype(np.int8)
    frame.index.name = C.USER
    return frame.astype({s: np.float64 for s in buyers.STRATEGIES})


def baselines(
    ds: Dataset, cuts: dict[str, Cut], k: int, top_users: int, per_buyer: BuyerRecalls | None = None
) -> dict[str, dict[str, float]]:
    """The baselines' diagnostics on the validation windows ``cuts``, averaged over them; ``per_buyer``, when
    given, receives each baseline's recall per buyer and window."""
    by_window = {}
    for name, cut in cuts.items():
        hist = history(ds.interactions, cut)
        truth = target(ds.interactions, cut)
        by_window[name] = {}
        for b, fn in BASELINES.items():
            recs = fn(hist, ds.items, top_users, k)
            by_window[name][b] = diagnostics(recs, truth, top_users, k).as_dict()
            if per_buyer is not None:
                per_buyer.setdefault(b, {})[name] = buyer_recalls(recs, truth, top_users, k)
    return mean_results(by_window)


@dataclass
class TrialOutcome:
    """One trial of the search: its number (the order Optuna proposed it), parameters, the trees early stopping
    kept, and its scores on the validation windows."""

    number: int
    params: TrialParams
    trees: int
    validation: Validation

    @property
    def recall(self) -> float:
        """What the search maximises: the mean validation recall of the trial's best selection strategy."""
        return self.validation.recall


def run_trial(
    number: int,
    params: TrialParams,
    train_rows: list[pd.DataFrame],
    ds: Dataset,
    valid_cuts: dict[str, Cut],
    buyer_model: BuyerModel,
    table_of,
    inputs: dict[str, BuyerInputs],
    k: int,
    top_users: int,
    seed: int = 0,
    progress: bool = False,
) -> TrialOutcome:
    """Fit a trial's reranker on the newest ``params.train_cuts`` of ``train_rows`` and score it on every
    validation window (:func:`validate_windows`)."""
    reranker = train_trial(params, train_rows, seed, progress)
    validation = validate_windows(ds, valid_cuts, reranker, buyer_model, table_of, inputs, k, top_users)
    return TrialOutcome(number, params, reranker.best_iteration_ + 1, validation)


def best_outcome(outcomes: list[TrialOutcome]) -> TrialOutcome:
    """The trial with the best mean validation recall (the earliest-proposed of equals)."""
    return max(sorted(outcomes, key=lambda o: o.number), key=lambda o: o.recall)


def trial_table(outcomes: list[TrialOutcome]) -> pd.DataFrame:
    """One row per (trial, selection strategy): the parameters, the trees early stopping kept and the validation
    diagnostics (means over the windows, ``recall_se`` their standard error), best first."""
    rows = []
    for o in sorted(outcomes, key=lambda o: o.number):
        for strategy, diag in o.validation.results.items():
            rows.append({"trial": o.number, **o.params.as_dict(), "trees": o.trees, "strategy": strategy, **diag})
    return pd.DataFrame(rows).sort_values(["recall", "trial"], ascending=[False, True], ignore_index=True)


def window_table(by_window: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """``{window: {row: diagnostics}}`` as one row per (row, window): what each mean is made of."""
    rows = [{"row": r, "window": w, **d} for w, results in by_window.items() for r, d in results.items()]
    return pd.DataFrame(rows)


@dataclass
class FinalResult:
    reranker: Reranker
    buyer_model: BuyerModel
    recs: dict  # user code -> item codes, chosen users in order
    submission: pd.DataFrame
    feature_importance: pd.Series


def final_submission(
    ds: Dataset,
    cut: Cut,
    table: pd.DataFrame,
    inputs: BuyerInputs,
    train_rows: list[pd.DataFrame],
    buyer_model: BuyerModel,
    params: TrialParams,
    strategy: str,
    k: int,
    top_users: int,
    seed: int = 0,
    progress: bool = False,
    trees: int | None = None,
) -> FinalResult:
    """The chosen recipe moved one horizon forward and its submission: the reranker refitted on the newest
    labelled cuts' learnable rows (validation included), the fitted ``buyer_model``, and the final
    ``cut`` predicted from its precomputed table with :func:`recsys.model.predict`, the recipe
    :class:`~recsys.model.TwoStageModel` runs for any users (the served model rebuilds the same lists)."""
    from recsys.submission import build_submission

    reranker = train_trial(params, train_rows, seed, progress, trees)
    pred = predict(reranker, buyer_model, table, inputs, k, top_users, (strategy,))
    padding = model_padding(model_history(ds, cut), len(ds.items))
    recs = pred.recs(strategy, padding, k)
    padding_ids = ds.items[C.PRODUCT_ID].to_numpy()[padding].tolist()
    submission = build_submission(ds.raw_recs(recs), padding_ids, k, top_users)
    return FinalResult(reranker, buyer_model, recs, submission, reranker.feature_importance())


def hypothesis_table(
    valid_results: dict[str, dict[str, float]],
    strategy: str,
    baseline_results: dict[str, dict[str, float]],
    source_alone_results: dict[str, dict[str, float]],
    source_removed_results: dict[str, dict[str, float]] | None = None,
    plain_results: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Validation diagnostics of the chosen model next to the baselines, each source alone and, when given, the
    chosen recipe retrained without each source (:func:`sources_removed`) and the plain two-stage model
    (:func:`plain_two_stage`)."""
    return pd.DataFrame(
        named_rows(
            valid_results, strategy, baseline_results, source_alone_results, source_removed_results, plain_results
        )
    ).T


def named_rows(
    valid: dict, strategy: str, baseline: dict, alone: dict, removed: dict | None = None, plain=None
) -> dict:
    """The rows of the hypotheses, named as the report reads them: ``reranker (<strategy>)`` (the chosen one
    first), ``baseline: <name>``, ``source alone: <source>``, ``source removed: <source>`` and :data:`PLAIN_ROW`."""
    rows = {f"reranker ({strategy})": valid[strategy]}
    rows.update({f"reranker ({s})": r for s, r in valid.items() if s != strategy})
    rows.update({f"baseline: {n}": r for n, r in baseline.items()})
    rows.update({f"source alone: {n}": r for n, r in alone.items()})
    rows.update({f"source removed: {n}": r for n, r in (removed or {}).items()})
    if plain is not None:
        rows[PLAIN_ROW] = plain
    return rows


def best_trial_recalls(outcomes: list[TrialOutcome]) -> BuyerRecalls:
    """Per objective, the recall per buyer and window of its best trial under that trial's own best strategy (the
    rows the trial table's "best trial of each" comparison reads)."""
    out = {}
    for objective in dict.fromkeys(o.params.objective for o in sorted(outcomes, key=lambda o: o.number)):
        best = best_outcome([o for o in outcomes if o.params.objective == objective])
        if best.validation.buyer_recalls:
            out[objective] = best.validation.buyer_recalls[best.validation.strategy]
    return out


#: The buyer-recall rows of the best trial of each objective (:func:`buyer_recall_table`'s ``trials``).
BEST_TRIAL_ROW = "best trial: {}"


def buyer_recall_table(
    valid: BuyerRecalls,
    strategy: str,
    baseline: BuyerRecalls,
    alone: BuyerRecalls,
    removed: BuyerRecalls | None,
    trials: BuyerRecalls | None = None,
    plain: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """The recall per buyer behind every row of :func:`hypothesis_table` (``plain``: the plain two-stage model's,
    by window), and of the best trial of each objective (``trials``, :func:`best_trial_recalls`, as rows ``best
    trial: <objective>``), one line per (row, window, buyer): what the report's paired verdicts read (small: a row
    holds each window's buyers once)."""
    rows = named_rows(valid, strategy, baseline, alone, removed, plain)
    rows.update({BEST_TRIAL_ROW.format(o): r for o, r in (trials or {}).items()})
    frames = [
        pd.DataFrame({"row": name, "window": w, C.USER: values.index.to_numpy(), "recall": values.to_numpy()})
        for name, by_window in rows.items()
        for w, values in by_window.items()
    ]
    if not frames:
        return pd.DataFrame({"row": [], "window": [], C.USER: [], "recall": []})
    return pd.concat(frames, ignore_index=True)
