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
        """Weighted (item, other) pair counts, chunked over users to bound memory.

        Pairs are built with numpy (each event against every event of its user), one int64 key per
        (user, item, other): the pandas self-merge and three-key group-by took most of the fit."""
        window = np.int64(self.window_hours * 3600 * 1e9)
        events = events.sort_values([C.USER, C.TS], kind="stable")
        users = events[C.USER].to_numpy().astype(np.int64)
        items = events[C.ITEM].to_numpy().astype(np.int64)
        ts = events[C.TS].to_numpy().astype(np.int64)
        weights = events[C.WEIGHT].to_numpy().astype(np.float64)
        bits = max(int(items.max()).bit_length(), 1) if len(items) else 1
        user_bits = max(int(users.max()).bit_length(), 1) if len(users) else 1
        if 2 * bits + user_bits > 63:
            raise ValueError("too many users or items for 63-bit (user, item, other) keys")
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.array([], np.int64)
        sizes = np.diff(np.r_[starts, len(users)])
        sums, keys = [], []
        for first in range(0, len(starts), self.chunk_users):
            groups = slice(first, first + self.chunk_users)
            g_start, g_size = starts[groups], sizes[groups]
            rows = np.arange(g_start[0], g_start[-1] + g_size[-1]) if len(g_start) else np.array([], np.int64)
            rep = np.repeat(g_size, g_size)  # each event meets every event of its user
            left = np.repeat(rows, rep)
            block = np.repeat(np.cumsum(rep) - rep, rep)
            right = np.repeat(np.repeat(g_start, g_size), rep) + (np.arange(len(left)) - block)
            keep = (np.abs(ts[left] - ts[right]) < window) & (items[left] != items[right])
            left, right = left[keep], right[keep]
            key = (users[left] << (2 * bits)) | (items[left] << bits) | items[right]
            order = np.argsort(key, kind="stable")
            key, w = key[order], (weights[left] * weights[right])[order]
            first_of = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], np.int64)
            # a user counts once per pair, with the strongest evidence they gave
            keys.append(key[first_of] & ((np.int64(1) << (2 * bits)) - 1))
            sums.append(np.maximum.reduceat(w, first_of) if len(first_of) else np.array([], np.float64))
        pair = np.concatenate(keys) if keys else np.array([], np.int64)
        weight = np.concatenate(sums) if sums else np.array([], np.float64)
        uniq, inverse = np.unique(pair, return_inverse=True)
        total = np.bincount(inverse, weights=weight, minlength=len(uniq))
        mask = (np.int64(1) << bits) - 1
        return pd.DataFrame(
            {
                C.ITEM: (uniq >> bits).astype(events[C.ITEM].dtype),
                f"{C.ITEM}_o": (uniq & mask).astype(events[C.ITEM].dtype),
                C.WEIGHT: total,
            }
        )

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
