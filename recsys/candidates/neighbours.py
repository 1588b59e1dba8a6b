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
        sims = own.dot(self.neighbour_profiles_t_).tocoo()
        sims.data[self.neighbour_users_[sims.col] == users[sims.row]] = 0.0  # not one's own neighbour
        rows, cols, values = row_top(sims, self.k)
        totals = np.bincount(rows, weights=values, minlength=len(users))
        share = values / totals[rows]
        mix = sp.csr_matrix((share, (rows, cols)), shape=sims.shape)
        scores = (1.0 - self.own_weight) * mix.dot(self.neighbour_profiles_)
        if self.own_weight > 0:
            scores = scores + self.own_weight * own
        rows, items, values = row_top(sp.coo_matrix(scores), n)
        return pd.DataFrame({C.USER: users[rows], C.ITEM: items, C.SCORE: values, C.RANK: row_ranks(rows)})


#: Below this share of non-zero cells, :func:`row_top` ranks the entries of a sparse matrix; above it, a dense copy
#: (sorting every entry of a nearly full matrix is slower than partitioning its dense rows).
SPARSE_BELOW = 0.05


def row_top(matrix: sp.coo_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` largest positive entries of each row of ``matrix`` as ``(rows, cols, values)``, sorted by row,
    then value descending, then column (the order of :func:`recsys.candidates.base.top_n`; equal values at the
    n-th place may be kept either way). At the real volume a chunk's rows hold a few hundred entries of 90,000
    items, so they are ranked without a dense copy; on small logs the matrix is nearly full and a dense copy is
    faster."""
    n_rows, n_cols = matrix.shape
    if matrix.nnz < SPARSE_BELOW * n_rows * n_cols:
        rows, cols, values = matrix.row, matrix.col, matrix.data
    else:
        dense = matrix.toarray()
        k = min(n, n_cols)
        cols = (
            np.argpartition(-dense, k - 1, axis=1)[:, :k] if k < n_cols else np.tile(np.arange(n_cols), (n_rows, 1))
        ).ravel()
        rows = np.repeat(np.arange(n_rows), k)
        values = dense[rows, cols]
    keep = values > 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    first = row_ranks(rows) <= n
    return rows[first], cols[first], values[first]


def row_ranks(rows: np.ndarray) -> np.ndarray:
    """1, 2, 3... within each run of equal values of the sorted ``rows``."""
    if not len(rows):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)])) + 1
