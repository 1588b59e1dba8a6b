"""The contract every candidate source follows, and the helpers they share.

A source is fitted on the history of one cut (events strictly before it) plus the static item table, then asked
for up to ``n`` items per user. It returns a long frame ``user, item, score, rank`` (rank 1 = best, scores
descending within a user, no duplicate pairs), which the join step merges across sources.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.schema import CANDIDATE_COLUMNS, ITEM_DTYPE, NO_ITEM, USER_DTYPE, Action
from recsys.schema import Columns as C

#: How much each action says about wanting an item (used by history, co-visitation and ALS confidence).
ACTION_WEIGHTS: dict[int, float] = {
    int(Action.VIEW): 1.0,
    int(Action.LIKE): 3.0,
    int(Action.ADD_BASKET): 6.0,
    int(Action.DEL_BASKET): 1.0,
    int(Action.ORDER): 4.0,
    int(Action.LIST_BASKET): 0.5,
}


class CandidateSource(ABC):
    """Fit on one cut's history, recommend up to ``n`` items per user."""

    name: str = "source"

    @abstractmethod
    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        """Learn from ``history`` (events before the cut only) and the static item table; returns self."""

    @abstractmethod
    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        """Candidates for ``users``: columns ``user, item, score, rank``."""


def item_events(history: pd.DataFrame, weights: dict[int, float] = ACTION_WEIGHTS) -> pd.DataFrame:
    """Events with a product and a positive weight, with a ``weight`` column."""
    frame = history[history[C.ITEM].ne(NO_ITEM) & history[C.ACTION].isin(list(weights))]
    w = frame[C.ACTION].map(weights).astype(np.float32)
    return frame.assign(**{C.WEIGHT: w})


def decay(ts: pd.Series, now: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """Exponential recency weight: 1 at ``now``, 0.5 one half-life earlier."""
    age_days = (now - ts).dt.total_seconds().to_numpy() / 86400.0
    return np.exp2(-age_days / half_life_days).astype(np.float32)


def user_item_weights(
    history: pd.DataFrame, n_items: int, half_life_days: float, weights: dict[int, float] = ACTION_WEIGHTS
) -> sp.csr_matrix:
    """Users x items (codes as indices): the action weight of every event on the item times its recency weight
    (:func:`decay` from the cut), summed per pair; float32, duplicates summed."""
    events = item_events(history, weights)
    n_users = int(history[C.USER].max()) + 1 if len(history) else 0
    w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], cut_time(history), half_life_days)
    matrix = sp.coo_matrix(
        (w.astype(np.float32), (events[C.USER].to_numpy(), events[C.ITEM].to_numpy())), shape=(n_users, n_items)
    ).tocsr()
    matrix.sum_duplicates()
    return matrix


def recent_items(events: pd.DataFrame, now: pd.Timestamp, half_life_days: float, n: int) -> pd.DataFrame:
    """Each user's ``n`` strongest items (``user, item, weight``): action weight times recency, summed per pair.

    ``events`` are :func:`item_events` (with their ``weight`` column); the user's best items come first.
    """
    w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], now, half_life_days)
    profile = events[[C.USER, C.ITEM]].assign(**{C.WEIGHT: w})
    profile = profile.groupby([C.USER, C.ITEM], as_index=False)[C.WEIGHT].sum()
    profile = profile.sort_values([C.USER, C.WEIGHT], ascending=[True, False], kind="stable")
    return profile.groupby(C.USER, sort=False).head(n)


def top_n(scores: pd.DataFrame, n: int) -> pd.DataFrame:
    """Keep the ``n`` best-scored items per user and number them; ties broken by item code for determinism.

    The one top-n of the project: candidate sources and the reranker's lists both go through it (ranks come from
    the scores at full precision; the returned frame has the candidate dtypes).
    """
    if scores.empty:
        return empty_candidates()
    ranked = scores.sort_values([C.USER, C.SCORE, C.ITEM], ascending=[True, False, True], kind="stable")
    ranked = ranked.assign(**{C.RANK: ranked.groupby(C.USER, sort=False).cumcount() + 1})
    ranked = ranked[ranked[C.RANK] <= n]
    return as_candidates(ranked)


def as_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns and dtypes of a candidate frame."""
    return pd.DataFrame(
        {
            C.USER: frame[C.USER].to_numpy(USER_DTYPE),
            C.ITEM: frame[C.ITEM].to_numpy(ITEM_DTYPE),
            C.SCORE: frame[C.SCORE].to_numpy(np.float32),
            C.RANK: frame[C.RANK].to_numpy(np.int32),
        }
    )


def empty_candidates() -> pd.DataFrame:
    return as_candidates(pd.DataFrame({c: [] for c in CANDIDATE_COLUMNS}))


def cut_time(history: pd.DataFrame) -> pd.Timestamp:
    """The moment recency is measured from: midnight after the last event of the history."""
    return history[C.TS].max().floor("D") + pd.Timedelta(days=1)
