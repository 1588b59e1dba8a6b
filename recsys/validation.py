"""Scoring on the validation windows with the exact metric: what each window's scoring reads of the log
(:class:`Answers`, taken once), the run's :class:`Scope`, a model's predictions scored per window and averaged over
the windows (:class:`Validation`), and the buyer-selection curves.

A run works on named cuts (see :func:`recsys.split.make_cuts`): daily ``train``, ``train2``, ... (learning),
``valid``, ``valid2``, ... (non-overlapping validation windows: model selection and the reported recall use their
mean and its standard error) and ``final`` (the submission). Tables come shard by shard (:mod:`recsys.shards`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recsys import buyers
from recsys.buyers import BuyerInputs, BuyerModel
from recsys.candidates import padding_items
from recsys.dataset import Catalog, Dataset
from recsys.metrics import buyer_recalls, diagnostics, familiarity_diagnostics, truth_sets
from recsys.model import Prediction, predict
from recsys.reranker import Reranker
from recsys.schema import NO_ITEM, Action
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.shards import TableReader
from recsys.split import Cut, CutKind, cut_names, history, target

log = logging.getLogger("recsys.validation")

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
    return {name: Answers.at(ds, cuts[name], k) for name in cut_names(cuts, CutKind.VALID)}


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
        return {n: self.cuts[n] for n in cut_names(self.cuts, CutKind.VALID)}

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


@dataclass
class WindowPart:
    """A reranker and buyer model scored on a part of the validation windows (:func:`validate_part`): each
    window's diagnostics, chosen users and recall per buyer, and the newest window's buyer curve if the part holds
    it. The parts of all the windows joined (:func:`join_validation`) are the :class:`Validation`."""

    by_window: dict[str, dict[str, dict[str, float]]]
    selected: dict[str, dict[str, pd.Index]]
    buyer_recalls: BuyerRecalls
    selection_scores: pd.DataFrame | None = None


def validate_part(scope: Scope, reranker: Reranker, windows: Windows, names: list[str], strategies=buyers.STRATEGIES):
    """:func:`validate` on the validation windows ``names`` (each window's shard tables are read while it is
    scored): a :class:`WindowPart`."""
    by_window, selected, scores, recalls = {}, {}, None, {}
    newest = next(iter(scope.windows))
    for name in names:
        pred, scored = validate(scope, name, reranker, windows, strategies)
        by_window[name], selected[name] = scored.results, pred.selected
        for strategy, values in scored.buyer_recalls.items():
            recalls.setdefault(strategy, {})[name] = values
        if name == newest:
            scores = selection_scores(pred, windows.inputs[name])
    return WindowPart(by_window, selected, recalls, scores)


def join_validation(parts: list[WindowPart], windows: list[str]) -> Validation:
    """The :class:`Validation` of parts that together score ``windows`` (newest first), in that order whatever the
    parts' order: the same figures as one pass over the windows."""
    by_window, selected, recalls = {}, {}, {}
    for w in windows:
        part = next((p for p in parts if w in p.by_window), None)
        if part is None:
            raise ValueError(f"no part scores the validation window {w!r}")
        by_window[w], selected[w] = part.by_window[w], part.selected[w]
        for strategy, per_window in part.buyer_recalls.items():
            recalls.setdefault(strategy, {})[w] = per_window[w]
    scores = next((p.selection_scores for p in parts if p.selection_scores is not None), None)
    return Validation(mean_results(by_window), by_window, selected, scores, recalls)


def validate_windows(scope: Scope, reranker: Reranker, windows: Windows, strategies=buyers.STRATEGIES) -> Validation:
    """:func:`validate` on each validation window (newest first), then averaged (:func:`mean_results`): the
    join of one part (:func:`validate_part`)."""
    names = list(scope.windows)
    return join_validation([validate_part(scope, reranker, windows, names, strategies)], names)


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


def window_table(by_window: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """``{window: {row: diagnostics}}`` as one row per (row, window): what each mean is made of."""
    rows = [{"row": r, "window": w, **d} for w, results in by_window.items() for r, d in results.items()]
    return pd.DataFrame(rows)
