"""Top-n inner-product search: exact up to a catalog size (the same answers as before), approximate above it
(close to the exact lists, deterministic, and the same after a save and load)."""

import pickle

import numpy as np

from recsys.candidates import ALSSource, EmbeddingSource
from recsys.candidates.ann import InnerProductSearch
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


def clustered(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 directions, like titles of a catalog's categories."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    vectors = centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors, queries, n):
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :n]


def test_up_to_the_limit_the_search_is_exact():
    vectors, queries = clustered(3_000), clustered(50, seed=1)
    search = InnerProductSearch(vectors, exact_items=3_000)
    scores, rows = search.search(queries, 10)
    assert search.exact
    np.testing.assert_array_equal(np.sort(rows, axis=1), np.sort(brute_force(vectors, queries, 10), axis=1))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_above_the_limit_the_search_is_approximate_close_and_deterministic():
    vectors, queries = clustered(20_000), clustered(200, seed=1)
    search = InnerProductSearch(vectors, exact_items=1_000, seed=3)
    _, rows = search.search(queries, 20)
    assert not search.exact
    exact = brute_force(vectors, queries, 20)
    found = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(rows, exact, strict=True)])
    assert found > 0.9, found  # the share of the exact top 20 the approximate search finds
    again = InnerProductSearch(vectors, exact_items=1_000, seed=3).search(queries, 20)[1]
    np.testing.assert_array_equal(rows, again)
    loaded = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(loaded.search(queries, 20)[1], rows)


def _log(users: int = 60, items: int = 40):
    rng = np.random.default_rng(0)
    rows = [(u, int(i), A.VIEW, f"2024-09-0{1 + (u + int(i)) % 5} 10:00") for u in range(users)
            for i in rng.choice(items, 6, replace=False)]  # fmt: skip
    return make_interactions(rows), make_items(items)


def test_als_above_the_limit_proposes_through_the_approximate_index():
    log, items = _log()
    exact = ALSSource(factors=4, iterations=5, threads=1).fit(log, items)
    approx = ALSSource(factors=4, iterations=5, threads=1, exact_items=10).fit(log, items)
    assert exact.search_ is None and approx.search_ is not None
    users = np.arange(60)
    a, b = exact.recommend(users, 10), approx.recommend(users, 10)
    assert set(b.columns) == set(a.columns) and b.groupby(C.USER).size().max() == 10
    overlap = len(set(zip(a[C.USER], a[C.ITEM], strict=True)) & set(zip(b[C.USER], b[C.ITEM], strict=True))) / len(a)
    assert overlap > 0.8, overlap
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(approx)).recommend(users, 10)[C.ITEM], b[C.ITEM])


def test_embeddings_above_the_limit_keep_their_answers_through_a_save():
    log, items = _log()
    vectors = clustered(len(items), dim=8)
    items[C.VECTOR_ROW] = np.arange(len(items))
    src = EmbeddingSource(exact_items=10).fit(log, items, vectors)
    assert not src.search_.exact
    before = src.recommend(np.arange(60), 5)
    after = pickle.loads(pickle.dumps(src)).recommend(np.arange(60), 5)
    assert len(before) and before.equals(after)
    exact = EmbeddingSource().fit(log, items, vectors)
    assert exact.search_.exact and "search_" not in exact.__getstate__()  # rebuilt from the vectors on load
    assert pickle.loads(pickle.dumps(exact)).recommend(np.arange(60), 5).equals(exact.recommend(np.arange(60), 5))
