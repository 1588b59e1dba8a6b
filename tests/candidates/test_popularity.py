import numpy as np
import pytest

from recsys.candidates import PopularitySource
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


@pytest.fixture
def log():
    return make_interactions(
        [
            (0, 0, A.ORDER, "2024-09-09 10:00"),
            (1, 0, A.ORDER, "2024-09-09 11:00"),
            (2, 1, A.ORDER, "2024-09-09 12:00"),
            (3, 2, A.VIEW, "2024-09-09 12:00"),
            (4, 3, A.ADD_BASKET, "2024-09-09 13:00"),
            (5, 1, A.VIEW, "2024-09-09 14:00"),  # user 5 shops category 1
        ]
    )


def test_global_ranks_by_demand(log):
    out = PopularitySource("global").fit(log, make_items(4)).recommend(np.array([7, 8]), 3)
    assert out[out[C.USER] == 7][C.ITEM].tolist() == [0, 1, 3]
    assert out[out[C.USER] == 8][C.ITEM].tolist() == [0, 1, 3]


def test_category_mode_follows_user_categories(log):
    # items 0, 2 in category 0; items 1, 3 in category 1
    out = PopularitySource("category").fit(log, make_items(4)).recommend(np.array([5, 9]), 3)
    assert out[out[C.USER] == 5][C.ITEM].tolist() == [1, 3]
    assert 9 not in set(out[C.USER])  # no history, no category candidates


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        PopularitySource("weekly")
