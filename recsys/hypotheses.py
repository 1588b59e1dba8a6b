"""The hypotheses beside the chosen trial, all over the validation windows: the baselines, each candidate source
alone and removed (the ablation), the plain two-stage yardstick, the choice of the best trial with those rows, and
the hypotheses and buyer-recall tables. Every reranker here is fitted by :func:`recsys.training.fit_reranker`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from recsys.baselines import BASELINES
from recsys.dataset import Dataset
from recsys.features import drop_source, keep_sources
from recsys.frames import PackedFrame
from recsys.metrics import buyer_recalls, diagnostics
from recsys.model import recs_for
from recsys.records import Weighed
from recsys.reranker import TrialParams, learnable_rows
from recsys.rows import ALONE, BASELINE, BEST_TRIAL, PLAIN, REMOVED, RERANKER, RowKey
from recsys.rows import table as row_table
from recsys.schema import Columns as C
from recsys.schema import source_columns, source_of_rank_column
from recsys.split import CutKind, history
from recsys.training import fit_reranker
from recsys.trials import TrialOutcome, best_outcome, best_trial_recalls
from recsys.validation import BuyerRecalls, RowScores, Scope, Windows, mean_results, validate_windows

log = logging.getLogger("recsys.hypotheses")


def sources_alone(scope: Scope, candidates: Callable[[str], dict[str, pd.DataFrame]], selected: dict) -> RowScores:
    """What each source is worth alone: its own ranking (``candidates(window)``: every source's candidates at the
    window, read one window at a time) for the users the chosen model selected on each validation window
    (``selected[window]``), averaged over the windows."""
    k, top = scope.k, scope.top_users
    by_window, out = {}, RowScores()
    for w in scope.windows:
        by_window[w] = {}
        padding, truth = scope.answers[w].padding, scope.answers[w].truth
        for s, c in candidates(w).items():
            recs = recs_for(c, selected[w], padding, k)
            by_window[w][s] = diagnostics(recs, truth, top, k).as_dict()
            out.buyer_recalls.setdefault(s, {})[w] = buyer_recalls(recs, truth, top, k)
    out.results = mean_results(by_window)
    return out


@dataclass(frozen=True)
class Recipe:
    """The chosen trial's parameters and selection strategy: what the ablation and the plain model retrain."""

    params: TrialParams
    strategy: str


def sources_removed(scope: Scope, train_rows: list, windows: Windows, recipe: Recipe, progress=None) -> RowScores:
    """Ablation: the chosen ``recipe`` retrained without each source (those of the tables, sorted), scored on
    the validation windows (means over the windows, and the recall per buyer and window of each model).

    The source's candidates and features leave every table; the reranker is refitted exactly as in the flow (the
    buyer model reads no candidate, so it stays), the users are selected by the recipe's strategy, and the lists
    are scored with the competition metric. Deterministic for a given seed. A source whose removal leaves nothing
    to learn from gets NaN diagnostics and a warning. ``progress(done, note)``: e.g. ``Progress.update``."""
    out = RowScores()
    ordered = sorted(filter(None, map(source_of_rank_column, train_rows[0].columns)))
    for i, source in enumerate(ordered):
        started = time.perf_counter()
        try:
            rows = [drop_source(r, source) for r in train_rows]
            reranker = fit_reranker(recipe.params, [learnable_rows(r) for r in rows], scope.settings.seed)
            without = windows.narrowed(lambda t, source=source: drop_source(t, source))
            scored = validate_windows(scope, reranker, without, [recipe.strategy])
            out.results[source] = scored.results[recipe.strategy]
            out.buyer_recalls[source] = scored.buyer_recalls[recipe.strategy]
        except ValueError as err:
            log.warning("without %s: cannot retrain (%s)", source, err)
            out.results[source] = {"recall": float("nan")}
        if progress is not None:
            seconds = time.perf_counter() - started
            progress(i + 1, f"without {source}: recall {out.results[source]['recall']:.4f} ({seconds:.1f} s)")
    return out


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
PLAIN_ROW = RowKey(PLAIN).name


def plain_table(table: pd.DataFrame | PackedFrame) -> pd.DataFrame:
    """``table`` as the plain two-stage model sees it: the rows and columns of :data:`PLAIN_SOURCES`, the
    :data:`PLAIN_FEATURES` (those present) and the keys and label. From a flow artifact (a ``PackedFrame``), only
    those columns are decoded."""
    keep = set(PLAIN_FEATURES) | {C.USER, C.ITEM, C.TARGET, C.CUT_ID, C.N_SOURCES}
    keep |= {c for s in PLAIN_SOURCES for c in source_columns(s)}
    narrow = table.select(keep) if isinstance(table, PackedFrame) else table[[c for c in table.columns if c in keep]]
    return keep_sources(narrow, PLAIN_SOURCES)


def plain_two_stage(scope: Scope, train_rows: pd.DataFrame | PackedFrame, windows: Windows, recipe: Recipe):
    """The plain two-stage model (:func:`plain_table`) in the reranker's place: the chosen trial's loss and
    settings learnt from ``train_rows`` alone (the newest training cut's learnable rows), the same buyer model and
    strategy choosing the users, scored on the validation windows (:class:`RowScores` under :data:`PLAIN_ROW`).
    NaN diagnostics and a warning when the model cannot learn."""
    try:
        rows = learnable_rows(plain_table(train_rows))
        reranker = fit_reranker(replace(recipe.params, train_cuts=1), [rows], scope.settings.seed)
    except ValueError as err:
        log.warning("the plain two-stage model cannot be trained (%s)", err)
        return RowScores({PLAIN_ROW: {"recall": float("nan")}})
    scored = validate_windows(scope, reranker, windows.narrowed(plain_table), [recipe.strategy])
    return RowScores({PLAIN_ROW: scored.results[recipe.strategy]}, {PLAIN_ROW: scored.buyer_recalls[recipe.strategy]})


@dataclass
class WindowScores:
    """Some rows' diagnostics on each of some validation windows (``{window: {row: diagnostics}}``) and each row's
    recall per buyer and window: what a task scoring a part of the windows returns (:func:`join_windows`)."""

    by_window: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    buyer_recalls: BuyerRecalls = field(default_factory=dict)


def baseline_windows(ds: Dataset, scope: Scope) -> WindowScores:
    """The baselines on each validation window of ``scope`` (from the log ``ds``: they learn nothing, they read
    the history before each window)."""
    k, top = scope.k, scope.top_users
    out = WindowScores()
    for name, cut in scope.windows.items():
        hist = history(ds.interactions, cut)
        truth = scope.answers[name].truth
        out.by_window[name] = {}
        for b, fn in BASELINES.items():
            recs = fn(hist, ds.items, top, k)
            out.by_window[name][b] = diagnostics(recs, truth, top, k).as_dict()
            out.buyer_recalls.setdefault(b, {})[name] = buyer_recalls(recs, truth, top, k)
    return out


def join_windows(parts: list[WindowScores], windows: list[str]) -> RowScores:
    """Parts scored on some windows each (:class:`WindowScores`) as the rows' means over ``windows`` (in that
    order, newest first, whatever the parts' order) and their recalls per buyer."""
    by_window = {w: d for part in parts for w, d in part.by_window.items()}
    recalls: BuyerRecalls = {}
    for part in parts:
        for row, per_window in part.buyer_recalls.items():
            recalls.setdefault(row, {}).update(per_window)
    ordered = {row: {w: per[w] for w in windows} for row, per in recalls.items()}
    return RowScores(mean_results({w: by_window[w] for w in windows}), ordered)


def baselines(ds: Dataset, scope: Scope) -> RowScores:
    """The baselines on the validation windows, averaged over them, with each baseline's recall per buyer
    (:func:`baseline_windows`, all windows in one part)."""
    return join_windows([baseline_windows(ds, scope)], list(scope.windows))


@dataclass
class Evidence:
    """What the rows beside the chosen trial read: ``candidates(window)``, every source's candidates at a validation
    window (read one window at a time), the validation windows, ``rows(cut)``, a training cut's learnable rows
    (read only when the plain model or the ablation needs them), and the baselines' scores (:func:`baselines`)."""

    candidates: Callable[[str], dict[str, pd.DataFrame]]
    windows: Windows
    rows: Callable[[str], pd.DataFrame]
    baselines: RowScores


@dataclass
class Choice:
    """The best trial and every hypothesis row beside it, all over the validation windows: the baselines, each
    source alone, the chosen recipe without each source (None: no ablation) and the plain two-stage model (None:
    not scored)."""

    best: TrialOutcome
    baselines: RowScores
    alone: RowScores
    removed: RowScores | None = None
    plain: RowScores | None = None
    trial_recalls: BuyerRecalls = field(default_factory=dict)

    @property
    def recipe(self) -> Recipe:
        return Recipe(self.best.params, self.best.validation.strategy)

    def hypotheses(self) -> pd.DataFrame:
        """:func:`hypothesis_table` of the choice."""
        plain = self.plain.results[PLAIN_ROW] if self.plain else None
        removed = self.removed.results if self.removed else None
        v = self.best.validation
        return hypothesis_table(v.results, v.strategy, self.baselines.results, self.alone.results, removed, plain)

    def buyer_recall_table(self) -> pd.DataFrame:
        """:func:`buyer_recall_table` of the choice."""
        v = self.best.validation
        removed = self.removed.buyer_recalls if self.removed else None
        plain = self.plain.buyer_recalls.get(PLAIN_ROW) if self.plain else None
        return buyer_recall_table(
            RowRecalls(v.buyer_recalls, self.baselines.buyer_recalls, self.alone.buyer_recalls, removed, plain),
            v.strategy,
            self.trial_recalls,
        )

    def record(self) -> Weighed:
        """The rows beside the best trial as the ``weigh`` step's record (what the report, the tracking, the
        notebook and the benchmarks read)."""
        return Weighed(
            baseline_results=self.baselines.results,
            hypotheses=self.hypotheses(),
            source_alone=self.alone.results,
            source_removed=self.removed.results if self.removed else None,
            plain_results=self.plain.results[PLAIN_ROW] if self.plain else None,
            buyer_recalls=self.buyer_recall_table(),
        )

    def lines(self) -> list[str]:
        """What the run prints about the rows beside the best trial."""
        if not self.plain:
            return []
        p = self.plain.results[PLAIN_ROW]
        return [
            f"plain two-stage model in the reranker's place: valid recall {p['recall']:.4f} ± "
            f"{p.get('recall_se', float('nan')):.4f}"
        ]


def weigh(scope: Scope, outcomes: list[TrialOutcome], evidence: Evidence, plain=True, ablation=False) -> Choice:
    """The best trial by mean validation recall (:func:`recsys.trials.best_outcome`, as ``choose`` picked it), with
    the baselines, each source alone (for the users the best
    trial chose), the plain two-stage model (``plain``) and the ablation (``ablation``)."""
    from recsys.progress import Progress
    from recsys.split import cut_names as names_of

    best = best_outcome(outcomes)
    v = best.validation
    chosen_users = {w: selected[v.strategy] for w, selected in v.selected.items()}
    choice = Choice(best, evidence.baselines, sources_alone(scope, evidence.candidates, chosen_users))
    choice.trial_recalls = best_trial_recalls(outcomes)
    train = names_of(scope.cuts, CutKind.TRAIN)
    if plain:
        choice.plain = plain_two_stage(scope, evidence.rows(train[0]), evidence.windows, choice.recipe)
    if ablation:
        rows = [evidence.rows(n) for n in train[: best.params.train_cuts]]
        progress = Progress("ablation (sources removed)", len(choice.alone.buyer_recalls), every=0).update
        choice.removed = sources_removed(scope, rows, evidence.windows, choice.recipe, progress)
    return choice


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
    (:func:`plain_two_stage`): a :func:`recsys.rows.table`, the chosen strategy's row first."""
    return row_table(
        keyed_rows(
            valid_results, strategy, baseline_results, source_alone_results, source_removed_results, plain_results
        )
    )


def keyed_rows(
    valid: dict, strategy: str, baseline: dict, alone: dict, removed: dict | None = None, plain=None
) -> dict[RowKey, object]:
    """The rows of the hypotheses by :class:`~recsys.rows.RowKey`: the reranker under each strategy (the chosen one
    first), the baselines, each source alone, each source removed and the plain two-stage model."""
    out = {RowKey(RERANKER, strategy): valid[strategy]}
    out.update({RowKey(RERANKER, s): r for s, r in valid.items() if s != strategy})
    out.update({RowKey(BASELINE, n): r for n, r in baseline.items()})
    out.update({RowKey(ALONE, n): r for n, r in alone.items()})
    out.update({RowKey(REMOVED, n): r for n, r in (removed or {}).items()})
    if plain is not None:
        out[RowKey(PLAIN)] = plain
    return out


@dataclass
class RowRecalls:
    """The recall per buyer behind the hypothesis rows (each :data:`BuyerRecalls`; ``plain``: the plain two-stage
    model's, by window)."""

    valid: BuyerRecalls
    baseline: BuyerRecalls
    alone: BuyerRecalls
    removed: BuyerRecalls | None = None
    plain: dict[str, pd.Series] | None = None


def buyer_recall_table(recalls: RowRecalls, strategy: str, trials: BuyerRecalls | None = None) -> pd.DataFrame:
    """The recall per buyer behind every row of :func:`hypothesis_table`, and of the best trial of each objective
    (``trials``, :func:`best_trial_recalls`, as rows of kind ``best trial``), one line per (row, window,
    buyer): what the report's paired verdicts read (small: a row holds each window's buyers once)."""
    keyed = keyed_rows(recalls.valid, strategy, recalls.baseline, recalls.alone, recalls.removed, recalls.plain)
    keyed.update({RowKey(BEST_TRIAL, o): r for o, r in (trials or {}).items()})
    frames = [
        pd.DataFrame({"row": key.name, "window": w, C.USER: values.index.to_numpy(), "recall": values.to_numpy()})
        for key, by_window in keyed.items()
        for w, values in by_window.items()
    ]
    if not frames:
        return pd.DataFrame({"row": [], "window": [], C.USER: [], "recall": []})
    return pd.concat(frames, ignore_index=True)
