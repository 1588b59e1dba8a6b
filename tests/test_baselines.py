import numpy as np
import pandas as pd

from recsys.baselines import history_popularity_baseline, organisers_baseline, pad, user_activity_scores
from recsys.schema import Action as A
from tests.conftest import make_interactions, make_items


def log():
    return make_interactions(
        [
            (0, 5, A.ADD_BASKET, "2024-09-01 10:00"),  # more than 5 days before the cut: not in organisers'
            (1, 1, A.ADD_BASKET, "2024-09-08 10:00", 11),
            (1, 2, A.ADD_BASKET, "2024-09-08 10:00", 11),  # second product of the same addB event
            (1, 3, A.ADD_BASKET, "2024-09-09 10:00", 12),
            (2, 4, A.ADD_BASKET, "2024-09-09 18:00", 13),
            (3, 0, A.ORDER, "2024-09-09 12:00"),
            (4, 0, A.ORDER, "2024-09-09 13:00"),
            (4, 6, A.VIEW, "2024-09-09 14:00"),
        ]
    )


def test_organisers_baseline_first_product_of_each_add():
    recs = organisers_baseline(log(), top_users=10, k=3)
    assert set(recs) == {1, 2}
    assert list(recs) == [2, 1]  # most recent basket add first
    assert recs[1] == [1, 3, 0]  # first product of each addB event, padded with the best seller (0)
    assert recs[2][:1] == [4] and len(recs[2]) == 3
    assert list(organisers_baseline(log(), top_users=1, k=3)) == [2]


def test_history_popularity_baseline():
    recs = history_popularity_baseline(log(), make_items(7), top_users=3, k=4)
    assert len(recs) == 3
    assert all(len(v) == 4 and len(set(v)) == 4 for v in recs.values())
    assert recs[1][:3] == [3, 1, 2]  # own basket adds, most recent first


def test_user_activity_prefers_recent_strong_signals():
    scores = user_activity_scores(log())
    assert scores.index[0] == 1  # three recent basket adds
    assert scores[4] > scores[3]  # order + view beats the same order alone
    assert scores[1] > scores[0]  # recent basket adds beat an old one


def test_pad_keeps_order_and_uniqueness():
    assert pad([3, 3, 1], np.array([1, 2, 3, 4]), 4) == [3, 1, 2, 4]
    assert pad([], pd.Index([7, 8]).to_numpy(), 1) == [7]
