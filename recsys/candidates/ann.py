"""Top-n inner-product search over item vectors: exact up to a catalog size, approximate above it.

An exact search costs (queries x items): at a shop's real volume (~90k items) it takes seconds per cut, but a shop
with k times the users and k times the products pays k² times as much (13 x the FAISS branch's time for 4 x the
data, docs/performance.md). Above :data:`EXACT_ITEMS` items the search goes through a FAISS inverted-file index
(``IndexIVFFlat``): the items are clustered into ~sqrt(n) lists once, and a query scans only the :data:`NPROBE`
lists nearest to it, so its cost grows with sqrt(items). What the approximation loses is measured against the exact
search by ``python -m benchmarks.studies.approximate_search`` (docs/performance.md). Below the limit nothing
changes: the same exact index, the same answers.
"""

from __future__ import annotations

import math

import numpy as np

#: Largest number of items searched exactly (the real catalog has ~90k; twice its volume goes approximate).
EXACT_ITEMS = 150_000
#: Inverted lists scanned per query (full@2's title vectors: 24 lists found 0.196 of the validation buyers'
#: purchases among 50 candidates, 48 lists 0.202, the exact search 0.205; 48 takes 3.1 s where exact takes 3.8).
NPROBE = 48
#: Points per list used to learn the lists (a sample: k-means over every item would cost more than the searches).
TRAIN_POINTS_PER_LIST = 64


class InnerProductSearch:
    """The ``n`` items of highest inner product with each query: exact for ``len(vectors) <= exact_items``,
    through a seeded IVF index above (deterministic: the same vectors and seed give the same lists)."""

    def __init__(self, vectors: np.ndarray, exact_items: int = EXACT_ITEMS, seed: int = 0):
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        self.exact = n <= exact_items
        if self.exact:
            self.index_ = faiss.IndexFlatIP(dim)
        else:
            lists = max(1, int(math.sqrt(n)))
            self.index_ = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            self.index_.cp.seed = seed
            self.index_.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
            self.index_.cp.min_points_per_centroid = 1  # lists = sqrt(n) <= n: never too few points
            self.index_.train(vectors)
            self.index_.nprobe = min(NPROBE, lists)
        self.index_.add(vectors)

    def search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, item rows) of shape (queries, n), best first; row -1 where fewer than ``n`` were found."""
        return self.index_.search(np.ascontiguousarray(queries, dtype=np.float32), n)

    def __getstate__(self):
        import faiss

        return {"exact": self.exact, "index": faiss.serialize_index(self.index_)}

    def __setstate__(self, state):
        import faiss

        self.exact, self.index_ = state["exact"], faiss.deserialize_index(state["index"])
