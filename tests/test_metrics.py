import numpy as np
import pandas as pd
import pytest

from recsys.metrics import (
    buyer_recalls,
    candidate_recall,
    diagnostics,
    familiarity_diagnostics,
    paired_difference,
    recall,
    recall_by_familiarity,
    recs_from_frame,
    truth_sets,
    user_recalls,
)
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


def test_buyer_recalls_are_the_terms_of_the_metric():
    truth = {"a": {1, 2}, "b": {3}, "c": {4, 5, 6, 7}}
    recs = {"a": [1, 9], "c": [4, 5, 8], "x": [1]}  # b left out, x bought nothing
    per_buyer = buyer_recalls(recs, truth, top_users=3, k=25)
    assert per_buyer.to_dict() == {"a": 0.5, "b": 0.0, "c": 0.5}
    assert per_buyer.mean() == pytest.approx(recall(recs, truth, top_users=3, k=25)) == pytest.approx(1 / 3)
    assert buyer_recalls(recs, truth, top_users=2, k=25).to_dict() == {"a": 0.0, "b": 0.0, "c": 0.0}  # over budget


def test_paired_difference_hand_computed():
    # window w1: buyers a, b, c; window w2: buyers d, e. b is left out by the second model (counts as 0).
    a = {"w1": pd.Series({"a": 1.0, "b": 0.5, "c": 0.0}), "w2": pd.Series({"d": 1.0, "e": 0.5})}
    b = {"w1": pd.Series({"a": 0.5, "c": 0.0}), "w2": pd.Series({"d": 0.5, "e": 0.5}), "w3": pd.Series({"f": 1.0})}
    diff, se = paired_difference(a, b)
    # per-buyer differences: w1 (0.5, 0.5, 0) -> mean 1/3, var 1/12; w2 (0.5, 0) -> mean 0.25, var 1/8
    assert diff == pytest.approx((1 / 3 + 0.25) / 2)  # = the difference of the two mean recalls over w1, w2
    buyers_se = np.sqrt(1 / 12 / 3 + 1 / 8 / 2) / 2
    spread = np.std([1 / 3, 0.25], ddof=1) / np.sqrt(2)
    assert se == pytest.approx(max(buyers_se, spread)) and se == pytest.approx(buyers_se)
    # the paired error is far below the unpaired one when the two rows share hard and easy buyers
    same_buyers = {"w": pd.Series(np.r_[np.ones(50), np.zeros(50)])}
    better = {"w": pd.Series(np.r_[np.ones(50), np.zeros(45), np.full(5, 0.5)])}
    diff, se = paired_difference(better, same_buyers)
    unpaired = np.hypot(better["w"].std() / 10, same_buyers["w"].std() / 10)  # about 0.07
    assert diff == pytest.approx(0.025) and se == pytest.approx(np.sqrt(0.25 * 5 * 95 / 100 / 99 / 100))
    assert se < unpaired / 5
    assert np.isnan(paired_difference(a, {"w9": pd.Series({"a": 1.0})})[1])  # no window in common


def test_recall_by_familiarity_hand_computed():
    truth = {"a": {1, 2, 3, 4}, "b": {5, 6}, "c": {7}}
    bought = {"a": {1, 2, 9}, "b": {5}}  # c never ordered
    seen = {"a": {3}, "b": {5, 8}}  # b's 5 both seen and ordered: counts as re-bought
    recs = {"a": [1, 3, 4, 9], "b": [6, 5, 7]}  # c left out
    table = recall_by_familiarity(recs, truth, bought, seen, k=2)  # only a's 1, 3 and b's 6, 5 count
    # a knew 3 of the 4 items it bought: a perfect list of its history holds 2 of them (k = 2)
    assert table.columns.tolist() == ["recall", "rebought", "seen", "new", "rebought_ceiling", "history_ceiling"]
    assert table.loc["a"].tolist() == [0.5, 0.25, 0.25, 0.0, 0.5, 0.5]
    assert table.loc["b"].tolist() == [1.0, 0.5, 0.0, 0.5, 0.5, 0.5]  # 6 new to b, 5 re-bought
    assert table.loc["c"].tolist() == [0.0] * 6
    # the parts add up to the metric's terms; the ceilings cap at k items
    assert (table[["rebought", "seen", "new"]].sum(axis=1) == table["recall"]).all()
    assert table["recall"].to_dict() == user_recalls(recs, truth, k=2).to_dict()
    many = recall_by_familiarity({}, {"d": set(range(10))}, {"d": set(range(10))}, {}, k=4)
    assert many.loc["d", "rebought_ceiling"] == pytest.approx(0.4) and many.loc["d", "recall"] == 0.0
    # pair tables are accepted as well as mappings
    pairs = pd.DataFrame({C.USER: ["a", "a", "a", "b"], C.ITEM: [1, 2, 9, 5]})  # = bought
    assert recall_by_familiarity(recs, truth, pairs, seen, k=2).equals(table)


def test_familiarity_diagnostics_sum_like_the_metric():
    truth = {"a": {1, 2, 3, 4}, "b": {5, 6}, "c": {7}}
    recs = {"a": [1, 3, 4, 9], "b": [6, 5, 7]}  # c left out: its parts are 0 and its ceiling does not count
    bought, seen = {"a": {1, 2, 9}, "b": {5}, "c": {7}}, {"a": {3}, "b": {5, 8}}
    diag = familiarity_diagnostics(recs, truth, bought, seen, k=2)
    # per buyer (recall_by_familiarity): a 0.25 / 0.25 / 0, ceilings 0.5 / 0.5; b 0.5 / 0 / 0.5, ceilings 0.5 / 0.5
    assert diag == pytest.approx({"recall_rebought": 0.75 / 3, "recall_seen": 0.25 / 3, "recall_new": 0.5 / 3,
                                  "rebought_ceiling": 1 / 3, "history_ceiling": 1 / 3})  # fmt: skip
    parts = diag["recall_rebought"] + diag["recall_seen"] + diag["recall_new"]
    assert parts == pytest.approx(recall(recs, truth, top_users=3, k=2))
    assert familiarity_diagnostics(recs, {}, bought, seen) == dict.fromkeys(diag, 0.0)
