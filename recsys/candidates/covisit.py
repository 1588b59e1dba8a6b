"""Co-visitation: items that the same users touch within a short time of each other, weighted by action type.

Fitting counts, for every pair of a user's item events less than ``window_hours`` apart (among the user's last
``max_events_per_user`` item events), the product of the two actions' weights, once per user and pair. Each item
keeps its ``neighbours`` strongest partners. A user's candidates are the partners of their recent items, scored by
``sum(recency * action weight of the user's item) * pair weight``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.candidates.base import ACTION_WEIGHTS, CandidateSource, cut_time, item_events, recent_items, top_n
from recsys.schema import Columns as C


class CovisitationSource(CandidateSource):
    name = "covisit"

    def __init__(
        self,
        window_hours: float = 24.0,
        max_events_per_user: int = 30,
        neighbours: int = 30,
        user_items: int = 20,
        half_life_days: float = 3.0,
        weights: dict[int, float] = ACTION_WEIGHTS,
        chunk_users: int = 20_000,
    ):
        self.window_hours = window_hours
        self.max_events_per_user = max_events_per_user
        self.neighbours = neighbours
        self.user_items = user_items
        self.half_life_days = half_life_days
        self.weights = weights
        self.chunk_users = chunk_users

    def _pairs(self, events: pd.DataFrame) -> pd.DataFrame:
        """Weighted (item, other) pair counts, chunked over users to bound memory."""
        window = np.int64(self.window_hours * 3600 * 1e9)
        users = events[C.USER].unique()
        parts = []
        for start in range(0, len(users), self.chunk_users):
            chunk = events[events[C.USER].isin(users[start : start + self.chunk_users])]
            left = chunk[[C.USER, C.ITEM, C.TS, C.WEIGHT]]
            joined = left.merge(left, on=C.USER, suffixes=("", "_o"))
            dt = np.abs(joined[C.TS].to_numpy().astype(np.int64) - joined[f"{C.TS}_o"].to_numpy().astype(np.int64))
            joined = joined[(dt < window) & (joined[C.ITEM].to_numpy() != joined[f"{C.ITEM}_o"].to_numpy())]
            # a user counts once per pair, with the strongest evidence they gave
            joined = joined.assign(**{C.WEIGHT: joined[C.WEIGHT] * joined[f"{C.WEIGHT}_o"]})
            per_user = joined.groupby([C.USER, C.ITEM, f"{C.ITEM}_o"], as_index=False)[C.WEIGHT].max()
            parts.append(per_user.groupby([C.ITEM, f"{C.ITEM}_o"], as_index=False)[C.WEIGHT].sum())
        if not parts:
            return pd.DataFrame({C.ITEM: [], f"{C.ITEM}_o": [], C.WEIGHT: []})
        return pd.concat(parts).groupby([C.ITEM, f"{C.ITEM}_o"], as_index=False)[C.WEIGHT].sum()

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        events = item_events(history, self.weights)
        recent = events.groupby(C.USER, sort=False).tail(self.max_events_per_user)
        pairs = self._pairs(recent)
        pairs = pairs.sort_values([C.ITEM, C.WEIGHT], ascending=[True, False], kind="stable")
        self.neighbours_ = pairs.groupby(C.ITEM, sort=False).head(self.neighbours)
        self.profile_ = recent_items(events, cut_time(history), self.half_life_days, self.user_items)
        return self

    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        profile = self.profile_[self.profile_[C.USER].isin(users)]
        neighbours = self.neighbours_.rename(columns={C.WEIGHT: C.SCORE})
        joined = profile.merge(neighbours, on=C.ITEM)
        joined[C.SCORE] = joined[C.SCORE] * joined[C.WEIGHT]
        scores = joined.groupby([C.USER, f"{C.ITEM}_o"], as_index=False)[C.SCORE].sum()
        return top_n(scores.rename(columns={f"{C.ITEM}_o": C.ITEM}), n)
