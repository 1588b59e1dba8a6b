import pytest

from recsys.candidates.base import user_item_weights
from recsys.schema import Action as A
from tests.conftest import make_interactions


def test_user_item_weights_sum_action_weights_times_recency_per_pair():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-09 00:00"),  # one day before the cut (midnight after the last event)
            (0, 1, A.ORDER, "2024-09-07 00:00"),  # three days before: one half-life of 3 days
            (2, 3, A.ADD_BASKET, "2024-09-09 00:00"),
            (2, 3, A.VISIT, "2024-09-09 00:00"),  # no item weight
        ]
    )
    matrix = user_item_weights(log, n_items=5, half_life_days=3.0, weights={int(A.VIEW): 1.0, int(A.ORDER): 4.0,
                                                                            int(A.ADD_BASKET): 6.0})  # fmt: skip
    assert matrix.shape == (3, 5) and matrix.nnz == 2
    assert matrix[0, 1] == pytest.approx(1.0 * 2 ** (-1 / 3) + 4.0 * 0.5, rel=1e-6)
    assert matrix[2, 3] == pytest.approx(6.0 * 2 ** (-1 / 3), rel=1e-6)
