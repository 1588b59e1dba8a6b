"""FAISS nearest neighbours on title embeddings, queried with a profile of the user's recent items."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.candidates.ann import EXACT_ITEMS, InnerProductSearch
from recsys.candidates.base import (
    ACTION_WEIGHTS,
    CandidateSource,
    cut_time,
    empty_candidates,
    item_events,
    recent_items,
    top_n,
)
from recsys.schema import Columns as C


class TitleProfiles:
    """Each item's L2-normalised title vector (zeros where it has none) and each user's profile: the action- and
    recency-weighted last ``user_items`` items with a vector. What the similarity feature reads
    (:class:`recsys.features.FeatureRecipe`) and what :class:`EmbeddingSource` searches with; no index."""

    def __init__(self, user_items: int = 10, half_life_days: float = 2.0, weights: dict[int, float] = ACTION_WEIGHTS):
        self.user_items = user_items
        self.half_life_days = half_life_days
        self.weights = weights

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None, users=None):
        """``users``: profile only these (a profile reads only its own user's events: theirs are the same)."""
        rows = items[C.VECTOR_ROW].to_numpy()
        has_vec = rows >= 0
        if vectors is None or not has_vec.any():
            raise ValueError(f"{type(self).__name__} needs title vectors for at least one item")
        dim = vectors.shape[1]
        self.item_vectors_ = np.zeros((len(items), dim), dtype=np.float32)
        self.item_vectors_[has_vec] = vectors[rows[has_vec]]
        norms = np.linalg.norm(self.item_vectors_, axis=1, keepdims=True)
        self.item_vectors_ /= np.maximum(norms, 1e-12)
        now = cut_time(history)
        if users is not None:
            history = history[history[C.USER].isin(users)]
        events = item_events(history, self.weights)
        events = events[has_vec[events[C.ITEM].to_numpy()]]
        self.profile_ = recent_items(events, now, self.half_life_days, self.user_items)
        return self

    def user_queries(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(users with a profile, their normalised query vectors)."""
        profile = self.profile_[self.profile_[C.USER].isin(users)]
        if profile.empty:
            return np.array([], dtype=np.int64), np.zeros((0, self.item_vectors_.shape[1]), np.float32)
        codes, inverse = np.unique(profile[C.USER].to_numpy(), return_inverse=True)
        queries = np.zeros((len(codes), self.item_vectors_.shape[1]), dtype=np.float32)
        weighted = self.item_vectors_[profile[C.ITEM].to_numpy()] * profile[C.WEIGHT].to_numpy()[:, None]
        np.add.at(queries, inverse, weighted)
        queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        return codes, queries


class EmbeddingSource(TitleProfiles, CandidateSource):
    """Inner-product search over L2-normalised title vectors of catalog items: exact (``faiss.IndexFlatIP``) up to
    ``exact_items`` items, approximate above (:class:`~recsys.candidates.ann.InnerProductSearch`).

    The user's query is the normalised, action- and recency-weighted mean of the vectors of their last
    ``user_items`` items; score = cosine similarity. Users whose items have no vector get no candidates.
    """

    name = "faiss"

    def __init__(
        self,
        user_items: int = 10,
        half_life_days: float = 2.0,
        weights: dict[int, float] = ACTION_WEIGHTS,
        exact_items: int = EXACT_ITEMS,
    ):
        super().__init__(user_items, half_life_days, weights)
        self.exact_items = exact_items

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        super().fit(history, items, vectors)
        # an index of the catalog items with a vector
        has_vec = items[C.VECTOR_ROW].to_numpy() >= 0
        self.index_items_ = np.flatnonzero(has_vec & items[C.IN_CATALOG].to_numpy(bool))
        self.search_ = InnerProductSearch(self.item_vectors_[self.index_items_], self.exact_items)
        return self

    def __getstate__(self):
        # an exact index holds nothing but the item vectors: store them once and rebuild it on load (the rebuilt
        # index answers identically); an approximate one is stored as it is (its lists were learnt)
        search = self.__dict__.get("search_")
        if search is not None and search.exact:
            return {k: v for k, v in self.__dict__.items() if k != "search_"}
        return self.__dict__

    def __setstate__(self, state):
        state = {k: v for k, v in state.items() if k != "index_"}  # models saved before InnerProductSearch
        self.__dict__.update(state)
        self.__dict__.setdefault("exact_items", EXACT_ITEMS)
        if "item_vectors_" in state and "search_" not in state:
            self.search_ = InnerProductSearch(self.item_vectors_[self.index_items_], exact_items=len(self.index_items_))

    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        codes, queries = self.user_queries(np.asarray(users))
        if not len(codes):
            return empty_candidates()
        n = min(n, len(self.index_items_))
        sims, idx = self.search_.search(queries, n)
        valid = idx >= 0
        frame = pd.DataFrame(
            {
                C.USER: np.repeat(codes, n)[valid.ravel()],
                C.ITEM: self.index_items_[idx[valid]],
                C.SCORE: sims[valid],
            }
        )
        return top_n(frame, n)
