"""The two-stage recommender as one object: candidate sources, the feature recipe, the reranker, the buyer model
and the user-selection strategy.

Stage one: every candidate source (``recsys.candidates.SOURCES``) proposes items per user from the history before
a cut. Stage two: the union gets features (:class:`~recsys.features.FeatureRecipe`), the
:class:`~recsys.reranker.Reranker` orders each user's candidates and the :class:`~recsys.buyers.BuyerModel`
estimates who buys; the strategy picks the users.

:func:`predict` is the one prediction recipe from a feature table: the flow's trials, the ablation, the ``final``
step and :class:`TwoStageModel` (the served model) all call it. :class:`TwoStageModel` holds the state at one cut
(the end of the log for the submission) and recommends for any users with :meth:`TwoStageModel.recommend`;
:meth:`TwoStageModel.fit` trains the whole thing in one process (what the flow does in parallel steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import buyers
from recsys.baselines import user_activity_scores
from recsys.buyers import STRATEGIES, BuyerInputs, BuyerModel, buyer_inputs
from recsys.candidates import SOURCES, CandidateSource, candidates_of, make_source, pad, padding_items
from recsys.candidates.base import top_n
from recsys.features import FeatureRecipe, add_labels
from recsys.metrics import recs_from_frame
from recsys.reranker import Reranker, TrialParams
from recsys.schema import DEFAULT_K, USER_DTYPE
from recsys.schema import Columns as C
from recsys.split import Cut, daily_cuts, model_history, target

#: The history columns the features and sources read (what a fitted model keeps of the log).
HISTORY_COLUMNS = [C.USER, C.ITEM, C.ACTION, C.TS, C.PAGE]
#: Length of a model's padding list (enough for the largest k a request may ask for).
PADDING_SIZE = 200


def model_padding(history: pd.DataFrame, n_items: int) -> np.ndarray:
    """The padding list of a model at a cut (``history``: the events before it)."""
    return padding_items(history, n_items, PADDING_SIZE)


@dataclass
class Prediction:
    """Item lists and user choice for a set of users."""

    lists: pd.DataFrame  # user, item, score (raw reranker score), rank: the top k of every user
    p_buy: pd.Series
    recall_given_buy: pd.Series
    selected: dict[str, pd.Index]  # strategy -> chosen users, best first

    def recs(self, strategy: str, padding: np.ndarray, k: int) -> dict:
        """``user -> k items`` for the users chosen by ``strategy`` (in their order), padded."""
        return recs_for(self.lists, self.selected[strategy], padding, k)


def predict(
    reranker: Reranker,
    buyer_model: BuyerModel,
    table: pd.DataFrame,
    inputs: BuyerInputs,
    k: int,
    top_users: int,
    strategies: tuple[str, ...] = STRATEGIES,
) -> Prediction:
    """Rank every user's candidates, estimate who buys, and select users under each of ``strategies``."""
    raw = reranker.raw(table)
    frame = pd.DataFrame({C.USER: table[C.USER].to_numpy(), C.ITEM: table[C.ITEM].to_numpy(), C.SCORE: raw})
    lists = top_n(frame, k)
    probs = pd.DataFrame({C.USER: frame[C.USER].to_numpy(), C.SCORE: reranker.proba(raw)})
    top_probs = lists[[C.USER]].assign(**{C.SCORE: reranker.proba(lists[C.SCORE].to_numpy())})
    recall_given_buy = buyers.expected_recall(top_probs, probs)
    p_buy = buyer_model.predict(inputs)
    selected = {
        s: buyers.select_users(p_buy, top_users, s, recall_given_buy=recall_given_buy, activity=inputs.activity)
        for s in strategies
    }
    return Prediction(lists, p_buy, recall_given_buy, selected)


def recs_for(lists: pd.DataFrame, users: pd.Index, padding: np.ndarray, k: int) -> dict:
    """``user -> k items`` for the chosen users (in their order), padded with popular items."""
    by_user = recs_from_frame(lists[lists[C.USER].isin(users)])
    return {int(u): pad(by_user.get(u, []), padding, k) for u in users}


def fit_sources(names, history: pd.DataFrame, items: pd.DataFrame, vectors, seed: int = 0) -> dict:
    """Sources of the registry, by name, fitted on one cut's history."""
    return {name: make_source(name, seed).fit(history, items, vectors) for name in names}


@dataclass
class CutData:
    """What one cut contributes: its feature table (labelled when the target window is in the log) and the buyer
    model's inputs for its user pool (None for a learning-only cut: the buyer model learns from its own daily
    cuts, :func:`labelled_buyer_inputs`)."""

    table: pd.DataFrame
    inputs: BuyerInputs | None


def learning_pool(ds, cut: Cut, pool: np.ndarray) -> np.ndarray:
    """The users of ``pool`` who ordered in the cut's target window (sorted): all a training cut needs candidates
    and features for, since the reranker learns only from users with a bought candidate. Which users get rows
    reads the target; what any row holds does not (candidates and features come from the history alone), so the
    learnable rows are those of the whole pool (tested), for a fraction of the candidate work."""
    if cut.target_end > ds.end:
        raise ValueError(f"{cut}: a learning-only cut needs its target window inside the log")
    return np.intersect1d(pool, target(ds.interactions, cut)[C.USER].unique())


def cut_data(ds, cut: Cut, pool: np.ndarray, candidates: dict[str, pd.DataFrame], learn_only: bool = False) -> CutData:
    """Features, labels and buyer inputs of one cut from its candidates (everything from the cut's history).

    ``learn_only`` (a training cut, whose table is only learnt from): the feature table holds only the users who
    bought in the target window (the reranker learns only from users with a bought candidate, so its rows are
    the same as those of the whole pool's table), and no buyer inputs are computed.
    """
    hist = model_history(ds, cut)
    recipe = FeatureRecipe.fit(hist, ds.items, ds.vectors, cut.at)
    truth = target(ds.interactions, cut) if cut.target_end <= ds.end else None
    if learn_only:
        bought = learning_pool(ds, cut, pool)
        candidates = {s: c[c[C.USER].isin(bought)] for s, c in candidates.items()}
    table = recipe.table(hist, candidates)
    if truth is not None:
        table = add_labels(table, truth)
    return CutData(table, None if learn_only else pool_inputs(ds, cut, hist, pool))


def pool_inputs(ds, cut: Cut, hist: pd.DataFrame, pool: np.ndarray) -> BuyerInputs:
    """The buyer model's inputs for a cut's user ``pool`` (``hist``: the cut's history), labelled with who bought
    when the target window is in the log."""
    labels = buyers.buyer_labels(ds.interactions, cut, pool) if cut.target_end <= ds.end else None
    return buyer_inputs(hist, cut.at, pool, user_activity_scores(hist), labels)


def labelled_buyer_inputs(ds, cut: Cut, pool_size: int) -> BuyerInputs:
    """The buyer model's inputs at a cut whose target window is in the log: its user pool (the most active
    ``pool_size`` users), their features from its history, and who bought in the window."""
    hist = model_history(ds, cut)
    return pool_inputs(ds, cut, hist, buyers.user_pool(hist, pool_size))


class TwoStageModel:
    """The recommender at one cut (``now``): sources fitted on the history before it, the feature recipe, a
    trained reranker and buyer model, and the validated user-selection strategy.

    ``recommend(users)`` recomputes candidates and features for just those users with the same recipe as the
    flow, so a user's list does not depend on who else is asked for (up to FAISS's rounding among items with the
    same title vector: README "Limitations").
    """

    def __init__(
        self,
        *,
        sources: dict[str, CandidateSource],
        recipe: FeatureRecipe,
        reranker: Reranker,
        buyer_model: BuyerModel,
        strategy: str,
        history: pd.DataFrame,
        n_candidates: int,
        padding: np.ndarray,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
        self.sources = dict(sorted(sources.items()))
        self.recipe = recipe
        self.reranker = reranker
        self.buyer_model = buyer_model
        self.strategy = strategy
        self.history = history[HISTORY_COLUMNS].reset_index(drop=True)
        self.n_candidates = n_candidates
        self.padding = np.asarray(padding)
        self.activity = user_activity_scores(self.history)
        self._rows_by_user: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def now(self) -> pd.Timestamp:
        return self.recipe.now

    @classmethod
    def at_cut(
        cls,
        ds,
        cut: Cut,
        sources: dict[str, CandidateSource],
        reranker: Reranker,
        buyer_model: BuyerModel,
        strategy: str,
        n_candidates: int,
    ) -> TwoStageModel:
        """From a dataset, the cut the ``sources`` were fitted on, and the trained second stage."""
        hist = model_history(ds, cut)
        return cls(
            sources=sources,
            recipe=FeatureRecipe.fit(hist, ds.items, ds.vectors, cut.at),
            reranker=reranker,
            buyer_model=buyer_model,
            strategy=strategy,
            history=hist,
            n_candidates=n_candidates,
            padding=model_padding(hist, len(ds.items)),
        )

    @classmethod
    def fit(
        cls,
        ds,
        *,
        params: TrialParams | None = None,
        strategy: str = "expected_recall",
        sources: list[str] | None = None,
        n_candidates: int = 50,
        pool_size: int = 12_000,
        buyer_cuts: int = buyers.DEFAULT_BUYER_CUTS,
        seed: int = 0,
    ) -> TwoStageModel:
        """Train on ``ds`` in one process, as the flow's ``final`` step does: the reranker on the newest labelled
        cuts (``params.train_cuts``), the buyer model on up to ``buyer_cuts`` daily cuts, the sources refitted at
        the end of the log."""
        from recsys.split import make_cuts

        params = params or TrialParams()
        names = list(sources or SOURCES)
        cuts = make_cuts(ds.end, n_train=max(params.train_cuts - 1, 1))
        newest = [n for n in cuts if n != "final"][: params.train_cuts]
        tables = []
        for name in newest:
            hist = model_history(ds, cuts[name])
            pool = learning_pool(ds, cuts[name], buyers.user_pool(hist, pool_size))
            fitted = fit_sources(names, hist, ds.items, ds.vectors, seed)
            cands = {s: f.recommend(pool, candidates_of(s, n_candidates)) for s, f in fitted.items()}
            tables.append(cut_data(ds, cuts[name], pool, cands, learn_only=True).table)
        reranker = Reranker(params, seed).fit(tables)
        daily = daily_cuts(ds.end, buyer_cuts, ds.interactions[C.TS].min()).values()
        buyer_model = BuyerModel(seed).fit([labelled_buyer_inputs(ds, cut, pool_size) for cut in daily])
        final = fit_sources(names, model_history(ds, cuts["final"]), ds.items, ds.vectors, seed)
        return cls.at_cut(ds, cuts["final"], final, reranker, buyer_model, strategy, n_candidates)

    # -- scoring -------------------------------------------------------------------------------------------------

    def user_history(self, users: np.ndarray) -> pd.DataFrame:
        """The events of ``users`` in log order (what every user-side feature reads)."""
        if self._rows_by_user is None:
            order = np.argsort(self.history[C.USER].to_numpy(), kind="stable")
            self._rows_by_user = (order, self.history[C.USER].to_numpy()[order])
        order, sorted_users = self._rows_by_user
        starts = np.searchsorted(sorted_users, users, side="left")
        ends = np.searchsorted(sorted_users, users, side="right")
        rows = np.concatenate([order[s:e] for s, e in zip(starts, ends, strict=True)] or [np.array([], int)])
        return self.history.iloc[np.sort(rows)]

    def candidates(self, users: np.ndarray) -> dict[str, pd.DataFrame]:
        """Stage one: every source's candidates for ``users``."""
        return {
            name: src.recommend(users, candidates_of(name, self.n_candidates)) for name, src in self.sources.items()
        }

    def features(self, users: np.ndarray) -> tuple[pd.DataFrame, BuyerInputs]:
        """The reranker's table and the buyer model's inputs of ``users`` (user codes)."""
        users = np.unique(np.asarray(users, dtype=USER_DTYPE))
        hist = self.user_history(users)
        table = self.recipe.table(hist, self.candidates(users))
        return table, buyer_inputs(hist, self.now, users, self.activity)

    def predict(self, users: np.ndarray, k: int = DEFAULT_K, top_users: int | None = None) -> Prediction:
        """Top-``k`` lists, P(buy) and every strategy's selection of ``top_users`` among ``users``."""
        table, inputs = self.features(users)
        n = top_users or max(len(inputs.users), 1)
        return predict(self.reranker, self.buyer_model, table, inputs, k, n)

    def recommend(self, users: np.ndarray, k: int = DEFAULT_K, top_users: int | None = None) -> dict:
        """``user -> k items`` for the ``top_users`` of ``users`` the strategy chooses (all of them by default),
        best users first, short lists padded with popular items."""
        pred = self.predict(users, k, top_users)
        return pred.recs(self.strategy, self.padding, k)
