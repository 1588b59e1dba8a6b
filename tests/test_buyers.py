import numpy as np
import pandas as pd
import pytest

from recsys.buyers import (
    BuyerInputs,
    BuyerModel,
    buyer_labels,
    expected_recall,
    screened_pool,
    select_users,
    user_pool,
)
from recsys.schema import Action as A
from recsys.schema import Columns as C
from recsys.split import Cut
from tests.conftest import make_interactions


def test_select_users_by_expected_recall():
    p_buy = pd.Series({1: 0.9, 2: 0.5, 3: 0.4})
    recall = pd.Series({1: 0.1, 2: 0.5, 3: 0.9})  # 0.09, 0.25, 0.36
    assert list(select_users(p_buy, 2, "expected_recall", recall_given_buy=recall)) == [3, 2]
    assert list(select_users(p_buy, 2, "p_buy")) == [1, 2]
    assert list(select_users(p_buy, 3, "activity", activity=pd.Series({2: 5.0, 1: 1.0}))) == [2, 1, 3]
    with pytest.raises(ValueError, match="unknown strategy"):
        select_users(p_buy, 2, "random")


def test_expected_recall_is_top_mass_over_expected_purchases():
    top = pd.DataFrame({C.USER: [1, 1, 2], C.SCORE: [0.3, 0.2, 0.9]})
    all_ = pd.DataFrame({C.USER: [1, 1, 1, 2, 2], C.SCORE: [0.3, 0.2, 1.5, 0.9, 0.05]})
    out = expected_recall(top, all_)
    assert out[1] == pytest.approx(0.5 / 2.0)
    assert out[2] == pytest.approx(0.9 / 1.0)  # at least one purchase expected


def test_pool_and_labels():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-08-01 10:00"),  # old but still in the pool: no hard window
            (1, 1, A.ADD_BASKET, "2024-09-09 10:00"),
            (2, None, A.VISIT, "2024-09-09 10:00"),  # no item events: not in the pool
            (1, 1, A.ORDER, "2024-09-11 10:00"),
        ]
    )
    cut = Cut(pd.Timestamp("2024-09-10"))
    hist = log[log[C.TS] < cut.at]
    assert user_pool(hist, 10).tolist() == [0, 1]
    assert user_pool(hist, 1).tolist() == [1]
    assert buyer_labels(log, cut, np.array([0, 1])).tolist() == [0, 1]


class OrdersFirst:
    """A stand-in buyer model: P(buy) is the user's share of orders among their events (read from the inputs)."""

    def predict(self, inputs: BuyerInputs) -> pd.Series:
        feats = inputs.user_feats
        return feats["u_order_all"] / feats["u_events"]


def test_screened_pool_keeps_the_likeliest_buyers_among_the_most_active():
    rows = [(0, 1, A.ADD_BASKET, f"2024-09-09 1{h}:00") for h in range(3)]  # the most active, never orders
    rows += [(3, 3, A.ADD_BASKET, f"2024-09-09 1{h}:00") for h in range(2)]  # second, never orders
    rows += [(1, 2, A.ORDER, "2024-09-06 10:00"), (1, 2, A.VIEW, "2024-09-06 11:00")]  # half of it orders
    rows += [(2, 3, A.ORDER, "2024-09-02 10:00")]  # the least active, all orders
    hist = make_interactions(rows)
    now = pd.Timestamp("2024-09-10")
    assert user_pool(hist, 2).tolist() == [0, 3]  # activity alone would score these two
    assert screened_pool(hist, now, OrdersFirst(), 2, screen=3).tolist() == [0, 1]  # user 1 replaces user 3
    assert screened_pool(hist, now, OrdersFirst(), 2, screen=4).tolist() == [1, 2]
    assert screened_pool(hist, now, OrdersFirst(), 5, screen=3).tolist() == [0, 1, 2, 3]  # all of them fit


def inputs_of(x: np.ndarray, y: np.ndarray) -> BuyerInputs:
    users = pd.Index(np.arange(len(x)), name=C.USER)
    feats = pd.DataFrame(x, columns=["activity", "noise"], index=users)
    return BuyerInputs(feats, pd.Series(dtype=float), pd.Series(y, index=users))


def test_buyer_model_ranks_likely_buyers_higher_on_other_users():
    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.normal(size=(n, 2)).astype(np.float32)
        return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 1.0).astype(int)

    model = BuyerModel(iterations=50, threads=1).fit([inputs_of(*draw(600))])
    x, y = draw(600)  # users it never saw
    p = model.predict(inputs_of(x, y))
    assert p[y == 1].mean() > 3 * p[y == 0].mean()
    with pytest.raises(ValueError, match="buyers and non-buyers"):
        BuyerModel().fit([inputs_of(x, np.zeros(len(x), int))])
