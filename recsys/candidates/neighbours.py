"""User-based nearest neighbours on recency-weighted profiles, after TIFU-kNN (Hu et al., SIGIR 2020).

Each user is a vector over items: the action weight of every event on the item, decayed with its age (half-life
``half_life_days``), summed and L2-normalised. The score of an item for a user mixes their own vector with the
items of their ``k`` most similar users (cosine), each neighbour's vector weighted by its similarity:
``score = own_weight * own vector + (1 - own_weight) * sum(sim * neighbour vector) / sum(sim)``.

This is the strong next-basket baseline of the repeat-purchase literature: the user's own items ranked by a
long-memory frequency, plus what users with the same staples also buy. As a candidate source it adds little to
the union of the others (the user's own items are already there); its score and rank are the reranker's features.
With ``own_weight = 0`` the score is the collaborative part alone. Neighbours are looked for among the
``max_neighbours`` users with the most recency-weighted activity (all users on the dev logs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.candidates.base import (
    ACTION_WEIGHTS,
    CandidateSource,
    as_candidates,
    empty_candidates,
    top_n,
    user_item_weights,
)
from recsys.schema import Columns as C


class NeighboursSource(CandidateSource):
    """The user's own recency-weighted items mixed with those of the ``k`` users whose profiles are closest
    (cosine)."""

    name = "neighbours"

    def __init__(
        self,
        k: int = 50,
        half_life_days: float = 14.0,
        own_weight: float = 0.5,
        max_neighbours: int = 20_000,
        weights: dict[int, float] = ACTION_WEIGHTS,
        cells_per_chunk: int = 20_000_000,
    ):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if max_neighbours < 1:
            raise ValueError(f"max_neighbours must be at least 1, got {max_neighbours}")
        if not 0.0 <= own_weight <= 1.0:
            raise ValueError(f"own_weight must be in [0, 1], got {own_weight}")
        self.k = k
        self.half_life_days = half_life_days
        self.own_weight = own_weight
        self.max_neighbours = max_neighbours
        self.weights = weights
        self.cells_per_chunk = cells_per_chunk

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        matrix = user_item_weights(history, len(items), self.half_life_days, self.weights)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.profiles_ = sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0)).dot(matrix).tocsr()
        # neighbours are looked for among the users with the most recency-weighted activity: at the real volume
        # (323k users) comparing every user with everyone was the flow's longest branch
        mass = np.asarray(matrix.sum(axis=1)).ravel()
        active = np.flatnonzero(mass > 0)
        self.neighbour_users_ = np.sort(active[np.argsort(-mass[active], kind="stable")[: self.max_neighbours]])
        self.neighbour_profiles_ = self.profiles_[self.neighbour_users_]
        self.neighbour_profiles_t_ = self.neighbour_profiles_.T.tocsr()
        return self

    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        profiles = self.profiles_
        users = np.asarray(users, dtype=np.int64)
        known = users[(users >= 0) & (users < profiles.shape[0])]
        known = np.unique(known[np.diff(profiles.indptr)[known] > 0]) if len(known) else known
        if not len(known) or n < 1:
            return empty_candidates()
        n_items = profiles.shape[1]
        chunk = max(1, self.cells_per_chunk // max(len(self.neighbour_users_), n_items))
        parts = [self._chunk(known[i : i + chunk], min(n, n_items)) for i in range(0, len(known), chunk)]
        return as_candidates(pd.concat(parts, ignore_index=True))

    def _chunk(self, users: np.ndarray, n: int) -> pd.DataFrame:
        own = self.profiles_[users]
        sims = own.dot(self.neighbour_profiles_t_).toarray()
        pos = np.searchsorted(self.neighbour_users_, users)
        pos = np.minimum(pos, len(self.neighbour_users_) - 1)
        is_neighbour = self.neighbour_users_[pos] == users
        sims[np.flatnonzero(is_neighbour), pos[is_neighbour]] = 0.0  # not one's own neighbour
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        total = top_sims.sum(axis=1, keepdims=True)
        share = np.divide(top_sims, total, out=np.zeros_like(top_sims), where=total > 0)
        rows = np.repeat(np.arange(len(users)), k)
        mix = sp.csr_matrix((share.ravel(), (rows, top.ravel())), shape=sims.shape)
        scores = (1.0 - self.own_weight) * mix.dot(self.neighbour_profiles_)
        if self.own_weight > 0:
            scores = scores + self.own_weight * own
        dense = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
        best = np.argpartition(-dense, n - 1, axis=1)[:, :n] if n < dense.shape[1] else None
        if best is None:
            best = np.tile(np.arange(dense.shape[1]), (len(users), 1))
        frame = pd.DataFrame(
            {
                C.USER: np.repeat(users, best.shape[1]),
                C.ITEM: best.ravel(),
                C.SCORE: np.take_along_axis(dense, best, axis=1).ravel(),
            }
        )
        return top_n(frame[frame[C.SCORE] > 0], n)
