import numpy as np
import pandas as pd
import pytest

from recsys.metrics import candidate_recall, diagnostics, recall, recs_from_frame, truth_sets, user_recalls
from recsys.schema import Columns as C

TRUTH = pd.DataFrame({C.USER: ["a", "a", "b", "c", "c", "c"], C.ITEM: [1, 2, 3, 4, 5, 6]})


def test_recall_hand_computed():
    # a: 1 of 2 -> 0.5; b: 1 of 1 -> 1; c: absent -> 0; d: not a buyer -> ignored
    recs = {"a": [1, 9], "b": [3], "d": [7, 8]}
    assert recall(recs, TRUTH, top_users=10) == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_missing_buyer_scores_zero():
    assert recall({}, TRUTH) == 0.0
    assert recall({"a": [1, 2]}, TRUTH) == pytest.approx(1 / 3)


def test_more_users_than_budget_scores_zero():
    recs = {"a": [1, 2], "b": [3], "c": [4, 5, 6]}
    assert recall(recs, TRUTH, top_users=3) == pytest.approx(1.0)
    assert recall({**recs, "x": [1]}, TRUTH, top_users=3) == 0.0


def test_duplicates_count_once_and_only_first_k_count():
    # duplicates of a hit do not inflate recall
    assert recall({"c": [4, 4, 4]}, TRUTH) == pytest.approx(1 / 3 / 3)
    # with k=2 the third item (6) is not counted
    assert recall({"c": [4, 5, 6]}, TRUTH, k=2) == pytest.approx(2 / 3 / 3)


def test_non_buyers_do_not_change_score():
    base = {"a": [1, 2]}
    assert recall({**base, "zz": [1, 2, 3]}, TRUTH) == recall(base, TRUTH)


def test_truth_duplicates_and_mapping_input():
    dup = pd.concat([TRUTH, TRUTH])
    assert truth_sets(dup)["c"] == {4, 5, 6}
    assert recall({"b": [3]}, {"b": {3}, "a": {1}}) == pytest.approx(0.5)
    assert user_recalls({"b": [3]}, {"b": {3}, "a": {1}}).to_dict() == {"b": 1.0, "a": 0.0}


def test_no_buyers_scores_zero():
    assert recall({"a": [1]}, pd.DataFrame({C.USER: [], C.ITEM: []})) == 0.0


def test_diagnostics_breakdown():
    recs = {"a": [1, 9], "b": [3], "d": [7], "e": [8]}
    d = diagnostics(recs, TRUTH, top_users=10)
    assert d.buyers == 3 and d.selected == 4 and d.selected_buyers == 2
    assert d.buyers_captured == pytest.approx(2 / 3)
    assert d.selected_precision == pytest.approx(0.5)
    assert d.recall_selected == pytest.approx(0.75)
    assert d.recall == pytest.approx(1.5 / 3)


def test_candidate_recall_at_n():
    cands = pd.DataFrame(
        {
            C.USER: ["a", "a", "a", "c"],
            C.ITEM: [9, 1, 2, 6],
            C.RANK: [1, 2, 3, 1],
            C.SCORE: [3.0, 2.0, 1.0, 1.0],
        }
    )
    out = candidate_recall(cands, TRUTH, ns=(1, 2, 3))
    # a: hits at ranks 2 and 3 of 2 bought; b: none; c: 1 of 3 at rank 1
    assert out[1] == pytest.approx((0 + 0 + 1 / 3) / 3)
    assert out[2] == pytest.approx((0.5 + 0 + 1 / 3) / 3)
    assert out[3] == pytest.approx((1.0 + 0 + 1 / 3) / 3)
    assert candidate_recall(cands, TRUTH, ns=(3,), users=["a"])[3] == pytest.approx(1.0)


def test_recs_from_frame_orders_by_rank():
    frame = pd.DataFrame({C.USER: [1, 1, 2], C.ITEM: [5, 6, 7], C.RANK: [2, 1, 1]})
    assert recs_from_frame(frame) == {1: [6, 5], 2: [7]}


def test_standard_error_of_recall_over_the_buyers():
    from recsys.metrics import diagnostics

    truth = pd.DataFrame({C.USER: [1, 1, 2, 3, 4], C.ITEM: [10, 11, 20, 30, 40]})
    recs = {1: [10], 2: [20], 3: [99]}  # per buyer: 0.5, 1, 0, and buyer 4 left out: 0
    diag = diagnostics(recs, truth, top_users=3, k=25)
    per_buyer = np.array([0.5, 1.0, 0.0, 0.0])
    assert diag.recall == pytest.approx(per_buyer.mean())
    assert diag.recall_se == pytest.approx(per_buyer.std(ddof=1) / 2)
