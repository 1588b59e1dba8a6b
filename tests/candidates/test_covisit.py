import numpy as np

from recsys.candidates import CovisitationSource
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


def test_partners_within_window_are_recommended():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-01 10:00"),
            (0, 2, A.ADD_BASKET, "2024-09-01 11:00"),  # 1h after item 1: a pair (1, 2) of weight 1 * 6
            (1, 1, A.VIEW, "2024-09-01 10:00"),
            (1, 3, A.VIEW, "2024-09-03 10:00"),  # 48h later: outside the 24h window, no pair (1, 3)
            (2, 1, A.VIEW, "2024-09-04 09:00"),  # user 2 only saw item 1
        ]
    )
    src = CovisitationSource(window_hours=24).fit(log, make_items(5))
    pairs = {(int(a), int(b)): w for a, b, w in src.neighbours_.itertuples(index=False)}
    assert pairs == {(1, 2): 6.0, (2, 1): 6.0}
    out = src.recommend(np.array([2]), 5)
    assert out[C.ITEM].tolist() == [2]


def test_pair_counts_once_per_user():
    rows = [(0, 1 + i % 2, A.VIEW, f"2024-09-01 1{i}:00") for i in range(6)]  # 1,2,1,2,... by one user
    src = CovisitationSource().fit(make_interactions(rows), make_items(3))
    assert src.neighbours_[C.WEIGHT].tolist() == [1.0, 1.0]


def test_pairs_do_not_depend_on_the_user_chunks(tiny_dataset):
    one = CovisitationSource(chunk_users=1).fit(tiny_dataset.interactions, tiny_dataset.items)
    many = CovisitationSource().fit(tiny_dataset.interactions, tiny_dataset.items)
    assert len(many.neighbours_) > 100
    np.testing.assert_array_equal(one.neighbours_[[C.ITEM, f"{C.ITEM}_o"]], many.neighbours_[[C.ITEM, f"{C.ITEM}_o"]])
    np.testing.assert_allclose(one.neighbours_[C.WEIGHT], many.neighbours_[C.WEIGHT])
