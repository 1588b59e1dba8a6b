"""The user's own history: items they viewed, liked, put in the basket or ordered, by action weight and recency."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.candidates.base import ACTION_WEIGHTS, CandidateSource, cut_time, decay, item_events, top_n
from recsys.schema import Columns as C


class HistorySource(CandidateSource):
    """Score = sum over the user's events on the item of ``action weight * 2^(-age / half_life)``."""

    name = "history"

    def __init__(self, half_life_days: float = 3.0, weights: dict[int, float] = ACTION_WEIGHTS):
        self.half_life_days = half_life_days
        self.weights = weights
        self.scores_: pd.DataFrame | None = None

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        events = item_events(history, self.weights)
        if events.empty:
            self.scores_ = events[[C.USER, C.ITEM]].assign(**{C.SCORE: np.float32(0)})
            return self
        w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], cut_time(history), self.half_life_days)
        self.scores_ = (
            events[[C.USER, C.ITEM]].assign(**{C.SCORE: w}).groupby([C.USER, C.ITEM], as_index=False)[C.SCORE].sum()
        )
        return self

    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        scores = self.scores_[self.scores_[C.USER].isin(users)]
        return top_n(scores, n)
