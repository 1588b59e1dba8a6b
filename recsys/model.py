"""The two-stage recommender as one object: candidate sources, the feature recipe, the reranker, the buyer model
and the user-selection strategy.

Stage one: every candidate source (``recsys.candidates.SOURCES``) proposes items per user from the history before
a cut. Stage two: the union gets features (:class:`~recsys.features.FeatureRecipe`), the
:class:`~recsys.reranker.Reranker` orders each user's candidates and the :class:`~recsys.buyers.BuyerModel`
estimates who buys; the strategy picks the users.

:func:`predict` is the one prediction recipe from feature tables (shard by shard): the flow's trials, the
ablation, the ``final`` step and :class:`TwoStageModel` (the served model) all call it. :class:`TwoStageModel`
holds the state at one cut (the end of the log for the submission) and recommends for any users with
:meth:`TwoStageModel.recommend`; :meth:`TwoStageModel.fit` trains it in one process with the pieces of
:mod:`recsys.training` that the flow's steps call in parallel tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import buyers, training
from recsys.baselines import user_activity_scores
from recsys.buyers import STRATEGIES, BuyerInputs, BuyerModel, buyer_inputs
from recsys.candidates import CandidateSource, branches, candidates_of, pad, padding_items
from recsys.candidates.base import top_n
from recsys.features import FeatureRecipe
from recsys.frames import PackedFrame, release_unused
from recsys.metrics import recs_from_frame
from recsys.reranker import Reranker, TrialParams
from recsys.schema import DEFAULT_K, USER_DTYPE
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import FINAL, Cut, CutKind, model_history

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
    bought: pd.Series | None = None  # labelled tables: user -> their bought candidates, in table order

    def recs(self, strategy: str, padding: np.ndarray, k: int) -> dict:
        """``user -> k items`` for the users chosen by ``strategy`` (in their order), padded."""
        return recs_for(self.lists, self.selected[strategy], padding, k)


@dataclass
class ShardScores:
    """The reranker's answer on one shard's table: each user's top-k ``lists``, E[recall | the user buys]
    (:func:`recsys.buyers.expected_recall`) and, from a labelled table, each user's bought candidates."""

    lists: pd.DataFrame
    recall_given_buy: pd.Series
    bought: pd.Series | None


def score_table(reranker: Reranker, table: pd.DataFrame, k: int) -> ShardScores:
    """Rank every user's candidates in ``table`` (any set of whole users: a shard, a cut, a request)."""
    raw = reranker.raw(table)
    frame = pd.DataFrame({C.USER: table[C.USER].to_numpy(), C.ITEM: table[C.ITEM].to_numpy(), C.SCORE: raw})
    lists = top_n(frame, k)
    probs = pd.DataFrame({C.USER: frame[C.USER].to_numpy(), C.SCORE: reranker.proba(raw)})
    top_probs = lists[[C.USER]].assign(**{C.SCORE: reranker.proba(lists[C.SCORE].to_numpy())})
    bought = None
    if C.TARGET in table:
        bought = table.loc[table[C.TARGET] == 1, [C.USER, C.ITEM]].groupby(C.USER)[C.ITEM].agg(list)
    return ShardScores(lists, buyers.expected_recall(top_probs, probs), bought)


def combine(parts: list[ShardScores]) -> ShardScores:
    """The scores of several shards (disjoint users) as one, in shard order."""
    if len(parts) == 1:
        return parts[0]
    bought = None if parts[0].bought is None else pd.concat([p.bought for p in parts])
    lists = pd.concat([p.lists for p in parts], ignore_index=True)
    return ShardScores(lists, pd.concat([p.recall_given_buy for p in parts]), bought)


def predict(reranker: Reranker, buyer_model: BuyerModel, tables, inputs: BuyerInputs, k: int, top_users: int):
    """Rank every user's candidates in ``tables`` (one table, or an iterable of shard tables scored one at a time),
    estimate who buys, and select ``top_users`` users under every strategy."""
    tables = [tables] if isinstance(tables, pd.DataFrame) else tables
    scores = combine([score_table(reranker, t, k) for t in tables])
    p_buy = buyer_model.predict(inputs)
    selected = {
        s: buyers.select_users(p_buy, top_users, s, recall_given_buy=scores.recall_given_buy, activity=inputs.activity)
        for s in STRATEGIES
    }
    return Prediction(scores.lists, p_buy, scores.recall_given_buy, selected, scores.bought)


def recs_for(lists: pd.DataFrame, users: pd.Index, padding: np.ndarray, k: int) -> dict:
    """``user -> k items`` for the chosen users (in their order), padded with popular items."""
    by_user = recs_from_frame(lists[lists[C.USER].isin(users)])
    return {int(u): pad(by_user.get(u, []), padding, k) for u in users}


@dataclass(frozen=True)
class SecondStage:
    """The trained second stage: the reranker, the buyer model and the validated user-selection strategy."""

    reranker: Reranker
    buyer_model: BuyerModel
    strategy: str

    @classmethod
    def learn(cls, params: TrialParams, rows: list, buyer_model: BuyerModel, strategy: str, seed=0, progress=False):
        """The second stage of a run's model: a reranker of ``params`` fitted on ``rows`` (the learnable rows of
        :func:`recsys.training.final_cuts`, newest first), with the buyer model and strategy that choose the users."""
        return cls(training.fit_reranker(params, rows, seed, progress), buyer_model, strategy)

    def rank(self, tables, inputs: BuyerInputs, k: int, top_users: int) -> Prediction:
        """:func:`predict` with this reranker and buyer model, from precomputed tables (the flow's shards)."""
        return predict(self.reranker, self.buyer_model, tables, inputs, k, top_users)


@dataclass
class FinalRanking:
    """The final cut's pool ranked by a second stage from its shard tables: the :class:`Prediction` and the head
    of the first shard's table (the model's input example)."""

    stage: SecondStage
    prediction: Prediction
    example: pd.DataFrame


def rank_final(stage: SecondStage, tables, inputs: BuyerInputs, k: int, top_users: int) -> FinalRanking:
    """The final cut's pool ranked by ``stage`` from its shard tables, read one at a time. The flow does this
    before it builds the model from the log, so that the shards and the log never share the step's memory."""
    heads = []

    def remember_head(tables):
        for table in tables:
            heads.append(table.head(5).copy())  # a view would keep the whole shard table alive
            yield table

    prediction = stage.rank(remember_head(tables), inputs, k, top_users)
    release_unused()  # the tables are gone: what Arrow kept of them goes back before the log is read
    return FinalRanking(stage, prediction, heads[0])


@dataclass
class ModelParts:
    """What a :class:`TwoStageModel` holds beside its candidate sources: the feature recipe, the trained second
    stage, the history its features read, its candidate count and padding list.

    The flow's ``final`` step stores these as one artifact and leaves the sources where the branches stored them,
    so no step pickles the whole served model at once (at ``full@4`` that was 2.3 GB in memory, pickled into
    ~2 GB of bytes); :meth:`TwoStageModel.from_parts` puts the two together again."""

    recipe: FeatureRecipe
    stage: SecondStage
    history: pd.DataFrame
    n_candidates: int
    padding: np.ndarray

    @classmethod
    def at_cut(cls, ds, cut: Cut, stage: SecondStage, n_candidates: int) -> ModelParts:
        """From a dataset, the cut the model stands at, and the trained second ``stage``."""
        hist = served_history(model_history(ds, cut))
        recipe = FeatureRecipe.fit(hist, ds.items, ds.vectors, cut.at)
        return cls(recipe, stage, hist, n_candidates, model_padding(hist, len(ds.items)))

    def __getstate__(self) -> dict:
        # the log is most of the model: packed (zstd Arrow) it pickles in a fraction of the time and space
        return {**self.__dict__, "history": PackedFrame(self.history)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.history = unpacked(state["history"])


def served_history(history: pd.DataFrame) -> pd.DataFrame:
    """The history columns a model keeps (:data:`HISTORY_COLUMNS`), with a default index; not copied when
    ``history`` already is that."""
    index = history.index
    if list(history.columns) == HISTORY_COLUMNS and isinstance(index, pd.RangeIndex) and index.start == 0:
        return history
    return history[HISTORY_COLUMNS].reset_index(drop=True)


def unpacked(history) -> pd.DataFrame:
    return history.frame if isinstance(history, PackedFrame) else history


class TwoStageModel:
    """The recommender at one cut (``now``): sources fitted on the history before it, the feature recipe, a
    trained reranker and buyer model, and the validated user-selection strategy.

    ``recommend(users)`` recomputes candidates and features for just those users with the same recipe as the
    flow, so a user's list does not depend on who else is asked for (up to FAISS's rounding among items with the
    same title vector: docs/results.md "Limitations").
    """

    def __init__(
        self,
        *,
        sources: dict[str, CandidateSource],
        recipe: FeatureRecipe,
        stage: SecondStage,
        history: pd.DataFrame,
        n_candidates: int,
        padding: np.ndarray,
    ):
        if stage.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {stage.strategy!r}; choose from {STRATEGIES}")
        self.sources = dict(sorted(sources.items()))
        self.recipe = recipe
        self.reranker, self.buyer_model, self.strategy = stage.reranker, stage.buyer_model, stage.strategy
        self.history = served_history(history)
        self.n_candidates = n_candidates
        self.padding = np.asarray(padding)
        self.activity = user_activity_scores(self.history)
        self._rows_by_user: tuple[np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k != "_rows_by_user"}
        state["history"] = PackedFrame(self.history)  # as in ModelParts
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.history = unpacked(state["history"])
        self._rows_by_user = None

    @property
    def stage(self) -> SecondStage:
        return SecondStage(self.reranker, self.buyer_model, self.strategy)

    @property
    def now(self) -> pd.Timestamp:
        return self.recipe.now

    @property
    def parts(self) -> ModelParts:
        """Everything but the sources (what the flow's ``final`` step stores)."""
        return ModelParts(self.recipe, self.stage, self.history, self.n_candidates, self.padding)

    @classmethod
    def from_parts(cls, parts: ModelParts, sources: dict[str, CandidateSource]) -> TwoStageModel:
        """The model of ``parts`` with its candidate ``sources``."""
        return cls(
            sources=sources,
            recipe=parts.recipe,
            stage=parts.stage,
            history=parts.history,
            n_candidates=parts.n_candidates,
            padding=parts.padding,
        )

    @classmethod
    def at_cut(cls, ds, cut: Cut, sources: dict[str, CandidateSource], stage: SecondStage, n_candidates: int):
        """From a dataset, the cut the ``sources`` were fitted on, and the trained second ``stage``."""
        return cls.from_parts(ModelParts.at_cut(ds, cut, stage, n_candidates), sources)

    @classmethod
    def fit(cls, ds, settings: RunSettings, params: TrialParams, strategy: str = "expected_recall") -> TwoStageModel:
        """Train on ``ds`` in one process with the pieces the flow's steps call (:mod:`recsys.training`): the same
        cuts, buyer models and user pools, the sources and shard tables of the newest ``params.train_cuts``
        labelled cuts, the reranker on their learnable rows, the sources refitted at the end of the log. What the
        flow's ``final`` step builds for its chosen trial and ``strategy``, without the search."""
        cuts, _ = training.run_cuts(ds, settings)
        buyer = training.fit_buyer_models(ds, cuts, settings)
        pools = training.user_pools(ds, cuts, settings.pool, buyer.models)
        learnt = training.final_cuts(cuts, params)
        used = {n: cuts[n] for n in [*learnt, FINAL]}
        found = training.join_branches([training.branch_candidates(b, ds, used, pools, settings) for b in branches()])
        rows = training.cut_rows(ds, {n: cuts[n] for n in learnt}, pools, found.candidates, settings)
        final_buyers = buyer.models[CutKind.FINAL]
        stage = SecondStage.learn(params, [rows[n] for n in learnt], final_buyers, strategy, settings.seed)
        return cls.at_cut(ds, cuts[FINAL], found.final_sources, stage, settings.candidates)

    def rank(self, tables, inputs: BuyerInputs, k: int, top_users: int) -> Prediction:
        """:meth:`SecondStage.rank` with this model's second stage, from precomputed tables (the flow's shards)."""
        return self.stage.rank(tables, inputs, k, top_users)

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
        return self.rank(table, inputs, k, top_users or max(len(inputs.users), 1))

    def recommend(self, users: np.ndarray, k: int = DEFAULT_K, top_users: int | None = None) -> dict:
        """``user -> k items`` for the ``top_users`` of ``users`` the strategy chooses (all of them by default),
        best users first, short lists padded with popular items."""
        pred = self.predict(users, k, top_users)
        return pred.recs(self.strategy, self.padding, k)
