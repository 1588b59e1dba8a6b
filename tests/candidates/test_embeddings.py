import numpy as np
import pandas as pd
import pytest

from recsys.candidates import EmbeddingSource
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items

VECTORS = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.95, 0.05], [0, 0, 1]], dtype=np.float32)


def test_neighbours_of_recent_items_by_cosine():
    log = make_interactions([(0, 2, A.VIEW, "2024-09-01 10:00"), (1, 0, A.ORDER, "2024-09-01 10:00")])
    src = EmbeddingSource().fit(log, make_items(5), VECTORS)
    out = src.recommend(np.array([0, 1, 7]), 2)
    assert out[out[C.USER] == 0][C.ITEM].tolist() == [2, 3]
    assert out[out[C.USER] == 1][C.ITEM].tolist() == [0, 1]
    assert 7 not in set(out[C.USER])
    assert out[C.SCORE].iloc[0] == pytest.approx(1.0)


def test_items_without_vectors_or_outside_catalog_are_never_returned():
    items = make_items(5)
    items.loc[3, C.VECTOR_ROW] = -1
    items.loc[1, C.IN_CATALOG] = False
    log = make_interactions([(0, 0, A.VIEW, "2024-09-01 10:00")])
    out = EmbeddingSource().fit(log, items, VECTORS).recommend(np.array([0]), 5)
    assert set(out[C.ITEM]) == {0, 2, 4}


def test_requires_vectors():
    with pytest.raises(ValueError, match="vectors"):
        EmbeddingSource().fit(make_interactions([(0, 0, A.VIEW, "2024-09-01")]), make_items(2), None)


def test_profiles_of_some_users_are_theirs_in_the_profiles_of_all(tiny_dataset):
    """A shard's feature table profiles only its own users: the same profiles and queries as the whole log's."""
    from recsys.candidates.embeddings import TitleProfiles

    ds, some = tiny_dataset, np.arange(0, 400, 3)
    every = TitleProfiles().fit(ds.interactions, ds.items, ds.vectors)
    shard = TitleProfiles().fit(ds.interactions, ds.items, ds.vectors, users=some)
    assert set(shard.profile_[C.USER]) == set(some) & set(every.profile_[C.USER])
    mine = every.profile_[every.profile_[C.USER].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(shard.profile_.reset_index(drop=True), mine, check_exact=True)
    for a, b in zip(shard.user_queries(some), every.user_queries(some), strict=True):
        np.testing.assert_array_equal(a, b)
