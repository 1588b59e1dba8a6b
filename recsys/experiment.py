"""The flow's experiment on the validation windows, as small helpers over one :class:`Scope` (the data, the cuts
and the run's settings) that return records: the trials, the baselines, each source alone and removed, the plain
two-stage yardstick, the choice of the best trial and the final submission.

A run works on named cuts (see :func:`recsys.split.make_cuts`): daily ``train``, ``train2``, ... (learning),
``valid``, ``valid2``, ... (non-overlapping validation windows: model selection and the reported recall use their
mean and its standard error) and ``final`` (the submission). Tables come shard by shard (:mod:`recsys.shards`);
the models are trained by :mod:`recsys.training` and :mod:`recsys.model`; this module only scores them with the
exact metric.
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
from recsys.candidates import padding_items
from recsys.dataset import Catalog, Dataset
from recsys.features import drop_source, keep_sources
from recsys.frames import PackedFrame, release_unused
from recsys.metrics import buyer_recalls, diagnostics, familiarity_diagnostics, truth_sets
from recsys.model import ModelParts, Prediction, SecondStage, predict, recs_for
from recsys.reranker import Reranker, TrialParams, learnable_rows
from recsys.rows import ALONE, BASELINE, BEST_TRIAL, PLAIN, REMOVED, RERANKER, RowKey
from recsys.rows import table as row_table
from recsys.schema import NO_ITEM, Action, source_columns, source_of_rank_column
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.shards import TableReader
from recsys.split import Cut, cut_names, history, target
from recsys.training import fit_reranker

log = logging.getLogger("recsys.experiment")

#: ``{row: {window: the recall of each of the window's buyers}}``, what paired comparisons need
#: (:func:`recsys.metrics.paired_difference`).
BuyerRecalls = dict[str, dict[str, pd.Series]]


@dataclass(frozen=True)
class Answers:
    """What scoring a validation window reads from the log, taken once (:func:`window_answers`) so that the steps
    which score never load the log: the window's purchases (``truth``: user and item codes), the padding of short
    lists (the popular items before the cut), and what each buyer ordered (``bought``) and touched (``seen``)
    before the cut, for the familiarity diagnostics."""

    truth: pd.DataFrame
    padding: np.ndarray
    bought: dict
    seen: dict

    @classmethod
    def at(cls, ds: Dataset, cut: Cut, k: int) -> Answers:
        truth = target(ds.interactions, cut)
        before = history(ds.interactions, cut)
        padding = padding_items(before, len(ds.items), 2 * k)
        known = before[(before[C.ITEM] != NO_ITEM) & before[C.USER].isin(truth[C.USER].unique())]
        bought = truth_sets(known.loc[known[C.ACTION] == int(Action.ORDER), [C.USER, C.ITEM]].drop_duplicates())
        return cls(truth, padding, bought, truth_sets(known[[C.USER, C.ITEM]].drop_duplicates()))


def window_answers(ds: Dataset, cuts: dict[str, Cut], k: int) -> dict[str, Answers]:
    """The :class:`Answers` of every validation window of ``cuts``."""
    return {name: Answers.at(ds, cuts[name], k) for name in cut_names(cuts, "valid")}


@dataclass(frozen=True)
class Scope:
    """What every helper here reads: the run's cuts and settings, the validation windows' answers and the raw
    ids (never the log itself: :meth:`of` takes what is needed from it)."""

    cuts: dict[str, Cut]
    settings: RunSettings
    answers: dict[str, Answers]
    catalog: Catalog

    @classmethod
    def of(cls, ds: Dataset, cuts: dict[str, Cut], settings: RunSettings) -> Scope:
        return cls(cuts, settings, window_answers(ds, cuts, settings.k), ds.catalog)

    @property
    def windows(self) -> dict[str, Cut]:
        """The validation windows, newest first."""
        return {n: self.cuts[n] for n in cut_names(self.cuts, "valid")}

    @property
    def k(self) -> int:
        return self.settings.k

    @property
    def top_users(self) -> int:
        return self.settings.top_users


@dataclass
class Windows:
    """The validation windows' inputs: their shard tables (read one at a time), the buyer inputs of their pools,
    and the buyer model learnt before them."""

    tables: TableReader
    inputs: dict[str, BuyerInputs]
    buyer_model: BuyerModel

    def narrowed(self, view) -> Windows:
        """The same windows with every table seen through ``view`` (a source removed, the plain columns)."""
        return replace(self, tables=lambda w: (view(t) for t in self.tables(w)))


@dataclass
class RowScores:
    """Diagnostics of some hypothesis rows (means over the validation windows) and the recall of each buyer behind
    them (:data:`BuyerRecalls`), what the report's paired verdicts read."""

    results: dict[str, dict[str, float]] = field(default_factory=dict)
    buyer_recalls: BuyerRecalls = field(default_factory=dict)


def evaluate(scope: Scope, window: str, pred: Prediction, strategies=None, familiarity: bool = False) -> RowScores:
    """Diagnostics of ``strategies`` (all of the prediction's by default) against the window's target, and each
    strategy's recall per buyer; with ``familiarity``, the recall is also split by what the buyers knew before
    the window (:func:`recsys.metrics.familiarity_diagnostics`)."""
    answers, k = scope.answers[window], scope.k
    truth = answers.truth
    out = RowScores()
    for s in strategies or list(pred.selected):
        recs = pred.recs(s, answers.padding, k)
        out.results[s] = diagnostics(recs, truth, scope.top_users, k).as_dict()
        if familiarity:
            out.results[s].update(familiarity_diagnostics(recs, truth, answers.bought, answers.seen, k))
        out.buyer_recalls[s] = buyer_recalls(recs, truth, scope.top_users, k)
    return out


def validate(scope: Scope, window: str, reranker: Reranker, windows: Windows, strategies=buyers.STRATEGIES):
    """Predict a validation window from its shard tables and score ``strategies``: ``(prediction, RowScores)``.
    ``ceiling`` is the recall a perfect reranker would reach with the same users and candidates (each chosen
    buyer's bought candidates first)."""
    k = scope.k
    pred = predict(reranker, windows.buyer_model, windows.tables(window), windows.inputs[window], k, scope.top_users)
    scored = evaluate(scope, window, pred, strategies, familiarity=True)
    truth = scope.answers[window].truth
    for strategy, diag in scored.results.items():
        perfect = {int(u): pred.bought.get(u, [])[:k] for u in pred.selected[strategy]}
        diag["ceiling"] = diagnostics(perfect, truth, scope.top_users, k).recall
    return pred, scored


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


def validate_windows(scope: Scope, reranker: Reranker, windows: Windows, strategies=buyers.STRATEGIES) -> Validation:
    """:func:`validate` on each validation window (newest first), then averaged (:func:`mean_results`). Each
    window's shard tables are read while it is scored."""
    by_window, selected, scores, recalls = {}, {}, None, {}
    for name in scope.windows:
        pred, scored = validate(scope, name, reranker, windows, strategies)
        by_window[name], selected[name] = scored.results, pred.selected
        for strategy, values in scored.buyer_recalls.items():
            recalls.setdefault(strategy, {})[name] = values
        if scores is None:
            scores = selection_scores(pred, windows.inputs[name])
    return Validation(mean_results(by_window), by_window, selected, scores, recalls)


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
            reranker = Reranker(recipe.params, scope.settings.seed).fit([learnable_rows(r) for r in rows], True)
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
        reranker = Reranker(replace(recipe.params, train_cuts=1), scope.settings.seed).fit([rows], learnable=True)
    except ValueError as err:
        log.warning("the plain two-stage model cannot be trained (%s)", err)
        return RowScores({PLAIN_ROW: {"recall": float("nan")}})
    scored = validate_windows(scope, reranker, windows.narrowed(plain_table), [recipe.strategy])
    return RowScores({PLAIN_ROW: scored.results[recipe.strategy]}, {PLAIN_ROW: scored.buyer_recalls[recipe.strategy]})


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


def baselines(ds: Dataset, scope: Scope) -> RowScores:
    """The baselines on the validation windows, averaged over them, with each baseline's recall per buyer (from
    the log ``ds``: they learn nothing, they read the history before each window)."""
    k, top = scope.k, scope.top_users
    by_window, out = {}, RowScores()
    for name, cut in scope.windows.items():
        hist = history(ds.interactions, cut)
        truth = scope.answers[name].truth
        by_window[name] = {}
        for b, fn in BASELINES.items():
            recs = fn(hist, ds.items, top, k)
            by_window[name][b] = diagnostics(recs, truth, top, k).as_dict()
            out.buyer_recalls.setdefault(b, {})[name] = buyer_recalls(recs, truth, top, k)
    out.results = mean_results(by_window)
    return out


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

    def line(self) -> str:
        """What the run prints about the trial."""
        v = self.validation
        return (
            f"trial {self.number} ({self.params.label}): valid recall {v.recall:.4f} ± "
            f"{v.results[v.strategy]['recall_se']:.4f} over {len(v.by_window)} windows ({v.strategy}), "
            f"{self.trees} trees"
        )


def run_trial(scope: Scope, number: int, params: TrialParams, train_rows: list, windows: Windows, progress=False):
    """Fit a trial's reranker on the newest ``params.train_cuts`` of ``train_rows`` and score it on every
    validation window (:func:`validate_windows`): a :class:`TrialOutcome`."""
    reranker = fit_reranker(params, train_rows, scope.settings.seed, progress)
    validation = validate_windows(scope, reranker, windows)
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
class FinalRanking:
    """The final cut's pool ranked by a second stage from its shard tables: the :class:`Prediction` and the head
    of the first shard's table (the model's input example)."""

    stage: SecondStage
    prediction: Prediction
    example: pd.DataFrame


def rank_final(scope: Scope, stage: SecondStage, tables, inputs: BuyerInputs) -> FinalRanking:
    """The final cut's pool ranked by ``stage`` from its shard tables, read one at a time. The flow does this
    before it builds the model from the log, so that the shards and the log never share the step's memory."""
    heads = []

    def remember_head(tables):
        for table in tables:
            heads.append(table.head(5).copy())  # a view would keep the whole shard table alive
            yield table

    prediction = stage.rank(remember_head(tables), inputs, scope.k, scope.top_users)
    release_unused()  # the tables are gone: what Arrow kept of them goes back before the log is read
    return FinalRanking(stage, prediction, heads[0])


@dataclass
class FinalResult:
    """The submission of the run's model: its lists (user code -> item codes, chosen users in order), the
    submission frame, and the model's input example (the head of the first shard's table)."""

    recs: dict
    submission: pd.DataFrame
    example: pd.DataFrame


def final_submission(scope: Scope, model: ModelParts, ranking: FinalRanking) -> FinalResult:
    """The submission of the run's model (``model``: its parts beside the sources, :class:`~recsys.model.ModelParts`;
    the object the run registers and serves is these parts with the branches' sources) from the ``ranking`` of the
    final cut's pool by the model's own second stage (:func:`rank_final`): the model's strategy selects the users,
    the lists are padded with the model's popular items."""
    from recsys.submission import build_submission

    ranked, own = ranking.stage, model.stage
    if ranked.reranker is not own.reranker or ranked.buyer_model is not own.buyer_model:
        raise ValueError("the final pool was ranked by another second stage than the model's")
    catalog, k = scope.catalog, scope.k
    recs = ranking.prediction.recs(own.strategy, model.padding, k)
    padding_ids = catalog.product_ids[model.padding].tolist()
    submission = build_submission(catalog.raw_recs(recs), padding_ids, k, scope.top_users)
    return FinalResult(recs, submission, ranking.example)


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
    trials: pd.DataFrame
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

    def artifacts(self) -> dict:
        """The flow artifacts of the choice, by name (what the report, the notebook and the benchmarks read)."""
        v = self.best.validation
        return {
            "trial_table": self.trials,
            "best_params": self.best.params,
            "best_strategy": v.strategy,
            "valid_results": v.results,
            "valid_recall": v.recall,
            "valid_by_window": v.by_window,
            "selection_scores": v.selection_scores,
            "baseline_results": self.baselines.results,
            "source_alone": self.alone.results,
            "source_removed": self.removed.results if self.removed else None,
            "plain_results": self.plain.results[PLAIN_ROW] if self.plain else None,
            "hypotheses": self.hypotheses(),
            "buyer_recalls": self.buyer_recall_table(),
        }

    def lines(self) -> list[str]:
        """What the run prints about the choice."""
        v, n = self.best.validation, len(self.best.validation.by_window)
        out = []
        if self.plain:
            p = self.plain.results[PLAIN_ROW]
            out.append(
                f"plain two-stage model in the reranker's place: valid recall {p['recall']:.4f} ± "
                f"{p.get('recall_se', float('nan')):.4f}"
            )
        out.append(
            f"best: trial {self.best.number} ({self.best.params.label}) with {v.strategy}: valid recall "
            f"{v.recall:.4f} ± {v.results[v.strategy]['recall_se']:.4f} (mean ± s.e. over {n} windows)"
        )
        return out


def choose(scope: Scope, outcomes: list[TrialOutcome], evidence: Evidence, plain=True, ablation=False) -> Choice:
    """The best trial by mean validation recall, with the baselines, each source alone (for the users the best
    trial chose), the plain two-stage model (``plain``) and the ablation (``ablation``)."""
    from recsys.progress import Progress
    from recsys.split import cut_names as names_of

    best = best_outcome(outcomes)
    v = best.validation
    chosen_users = {w: selected[v.strategy] for w, selected in v.selected.items()}
    choice = Choice(
        best, trial_table(outcomes), evidence.baselines, sources_alone(scope, evidence.candidates, chosen_users)
    )
    choice.trial_recalls = best_trial_recalls(outcomes)
    train = names_of(scope.cuts, "train")
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


def best_trial_recalls(outcomes: list[TrialOutcome]) -> BuyerRecalls:
    """Per objective, the recall per buyer and window of its best trial under that trial's own best strategy (the
    rows the trial table's "best trial of each" comparison reads)."""
    out = {}
    for objective in dict.fromkeys(o.params.objective for o in sorted(outcomes, key=lambda o: o.number)):
        best = best_outcome([o for o in outcomes if o.params.objective == objective])
        if best.validation.buyer_recalls:
            out[objective] = best.validation.buyer_recalls[best.validation.strategy]
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
