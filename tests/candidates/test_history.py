import numpy as np
import pytest

from recsys.candidates import HistorySource
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


def test_scores_are_weighted_and_decayed():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-09 12:00"),  # age 0.5 day at the cut 09-10
            (0, 2, A.ADD_BASKET, "2024-09-07 00:00"),  # age 3 days = one half-life
            (0, 3, A.VISIT, "2024-09-09 12:00"),  # visits carry no item weight
            (0, None, A.SEARCH, "2024-09-09 13:00"),
        ]
    )
    src = HistorySource(half_life_days=3.0, weights={int(A.VIEW): 1.0, int(A.ADD_BASKET): 6.0})
    out = src.fit(log, make_items(5)).recommend(np.array([0]), 10)
    assert out[C.ITEM].tolist() == [2, 1]
    assert out[C.SCORE].tolist() == pytest.approx([6.0 * 0.5, 2 ** (-0.5 / 3)], rel=1e-5)
