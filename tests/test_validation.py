"""Scoring on the validation windows, on the tiny synthetic dataset: trials scored with the exact metric, window by
window and shard by shard, the means over the windows and their standard errors, and the familiarity split."""

import numpy as np
import pandas as pd
import pytest

from recsys import validation
from recsys.buyers import STRATEGIES, rank_users
from recsys.dataset import Dataset
from recsys.model import Prediction
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import Cut
from recsys.training import fit_reranker
from tests.conftest import make_interactions, make_items
from tests.scoring import PARAMS, SETTINGS, two_windows, windows_of


def test_trial_scores_every_strategy_and_its_users_beat_chance(scope, setup, data, buyer_model):
    _, _, pools = setup
    assert C.TARGET not in data["final"].table and data["train"].table[C.TARGET].sum() > 0
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    pred, scored = validation.validate(scope, "valid", reranker, windows_of(data, buyer_model))
    results = scored.results
    assert set(results) == set(STRATEGIES)
    n_buyers = results["expected_recall"]["buyers"]
    for diag in results.values():
        assert diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["ceiling"] <= diag["buyers_captured"] <= 1.0
    # the chosen users hold more buyers than users drawn at random from the pool
    assert results["expected_recall"]["selected_precision"] > n_buyers / len(pools["valid"])

    scores = validation.selection_scores(pred, data["valid"].inputs)
    assert set(scores.columns) == {*STRATEGIES, "bought"}
    assert len(scores) == len(pools["valid"]) and scores["bought"].sum() > 0
    for strategy, users in pred.selected.items():  # the stored scores rank users exactly as the selection did
        assert rank_users(scores[strategy])[:50].equals(users)


def test_the_recall_splits_by_what_buyers_knew_strictly_before_the_cut():
    a = Action
    inter = make_interactions(
        [
            (0, 1, a.VIEW, "2024-09-01 10:00"),  # before the cut: 0 saw 1 and bought 2, 1 bought 3
            (0, 2, a.ORDER, "2024-09-02 10:00"),
            (1, 3, a.ORDER, "2024-09-03 10:00"),
            (0, 1, a.ORDER, "2024-09-04 10:00"),  # the target window: 0 buys 1 (seen), 2 (re-bought), 4 (new)
            (0, 2, a.ORDER, "2024-09-04 10:00"),
            (0, 4, a.ORDER, "2024-09-04 10:00"),
            (1, 5, a.ORDER, "2024-09-04 11:00"),  # 1 buys 5 twice in the window (new all the same) and 3 again
            (1, 5, a.ORDER, "2024-09-05 11:00"),
            (1, 3, a.ORDER, "2024-09-05 12:00"),
        ]
    )
    ds = Dataset(inter, pd.DataFrame({C.USER_ID: ["u0", "u1"]}), make_items(6), np.zeros((6, 2), np.float32))
    lists = pd.DataFrame({C.USER: [0, 0, 0, 1, 1], C.ITEM: [2, 4, 1, 5, 0], C.RANK: [1, 2, 3, 1, 2]})
    pred = Prediction(lists, pd.Series(dtype=float), pd.Series(dtype=float), {"s": pd.Index([0, 1])})
    scope = validation.Scope.of(ds, {"valid": Cut(pd.Timestamp("2024-09-04"))}, RunSettings(top_users=2, k=2))
    diag = validation.evaluate(scope, "valid", pred, familiarity=True).results["s"]
    # k = 2: 0 gets {2, 4} of {1, 2, 4}: 1/3 re-bought, 1/3 new; 1 gets {5, 0} of {3, 5}: 1/2 new
    assert diag["recall"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert diag["recall_rebought"] == pytest.approx(1 / 6) and diag["recall_seen"] == 0.0
    assert diag["recall_new"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert diag["rebought_ceiling"] == pytest.approx((1 / 3 + 1 / 2) / 2)  # 0's item 2, 1's item 3
    assert diag["history_ceiling"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 0's items 1 and 2
    # without the flag the diagnostics are the metric's only
    assert "recall_new" not in validation.evaluate(scope, "valid", pred).results["s"]


def test_over_windows_is_the_mean_with_the_spread_as_standard_error():
    per_window = [
        {"recall": 0.20, "recall_se": 0.001, "buyers": 100},
        {"recall": 0.30, "recall_se": 0.001, "buyers": 200},
        {"recall": 0.25, "recall_se": 0.001, "buyers": 300},
    ]
    out = validation.over_windows(per_window)
    assert out["recall"] == pytest.approx(0.25) and out["buyers"] == pytest.approx(200) and out["windows"] == 3
    assert out["recall_se"] == pytest.approx(0.05 / np.sqrt(3))  # std of (0.2, 0.3, 0.25) is 0.05


def test_over_windows_never_claims_more_precision_than_the_buyers_give():
    # three windows that happen to agree: their spread is 0, the buyer-sampling error of the mean is not
    per_window = [{"recall": 0.25, "recall_se": 0.03}] * 3
    out = validation.over_windows(per_window)
    assert out["recall_se"] == pytest.approx(np.sqrt(3 * 0.03**2) / 3)


def test_mean_results_averages_each_row_over_windows():
    by_window = {
        "valid": {"a": {"recall": 0.1, "recall_se": 0.0}, "b": {"recall": 0.3, "recall_se": 0.0}},
        "valid2": {"a": {"recall": 0.3, "recall_se": 0.0}, "b": {"recall": 0.5, "recall_se": 0.0}},
    }
    out = validation.mean_results(by_window)
    assert out["a"]["recall"] == pytest.approx(0.2) and out["b"]["recall"] == pytest.approx(0.4)
    assert out["a"]["recall_se"] == pytest.approx(0.1)  # std 0.1414 / sqrt(2)
    with pytest.raises(ValueError, match="no validation window"):
        validation.over_windows([])


def test_validate_windows_scores_each_window_and_chooses_by_the_mean(setup, data, buyer_model):
    ds, cuts, _ = setup
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    two = validation.Scope.of(ds, {"valid": cuts["valid"], "valid2": cuts["valid"]}, SETTINGS)
    loaded = []
    v = validation.validate_windows(two, reranker, windows_of(data, buyer_model, ("valid", "valid2"), loaded))
    assert loaded == ["valid", "valid2"]  # each window's tables read once, in order
    assert set(v.by_window) == {"valid", "valid2"} and set(v.results) == set(STRATEGIES)
    for strategy, diag in v.results.items():
        assert diag["windows"] == 2
        assert diag["recall"] == pytest.approx(v.by_window["valid"][strategy]["recall"])  # the same window twice
    assert v.strategy == max(v.results, key=lambda s: v.results[s]["recall"])
    for strategy, by_window in v.buyer_recalls.items():  # the terms of each window's recall, for paired verdicts
        assert set(by_window) == {"valid", "valid2"}
        for w, per_buyer in by_window.items():
            assert per_buyer.mean() == pytest.approx(v.by_window[w][strategy]["recall"])
            assert len(per_buyer) == v.by_window[w][strategy]["buyers"]


def test_windows_scored_in_parts_join_in_any_order_to_the_figures_of_one_pass(setup, data, buyer_model):
    two, windows = two_windows(setup, data, buyer_model)
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    whole = validation.validate_windows(two, reranker, windows)
    assert whole.by_window["valid"] != whole.by_window["valid2"]  # two windows of different figures
    parts = [validation.validate_part(two, reranker, windows, [w]) for w in ("valid2", "valid")]
    assert parts[0].selection_scores is None  # the buyer curve is the newest window's
    joined = validation.join_validation(parts, ["valid", "valid2"])
    assert joined.results == whole.results and joined.by_window == whole.by_window
    assert list(joined.by_window) == ["valid", "valid2"] and joined.strategy == whole.strategy
    for strategy in STRATEGIES:
        for w in ("valid", "valid2"):
            pd.testing.assert_series_equal(joined.buyer_recalls[strategy][w], whole.buyer_recalls[strategy][w])
            assert joined.selected[w][strategy].equals(whole.selected[w][strategy])
    pd.testing.assert_frame_equal(joined.selection_scores, whole.selection_scores)
    with pytest.raises(ValueError, match="no part scores the validation window 'valid2'"):
        validation.join_validation(parts[1:], ["valid", "valid2"])


def test_shards_scored_one_by_one_give_the_windows_figures_of_the_whole_table(scope, data, buyer_model):
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    whole = validation.validate_windows(scope, reranker, windows_of(data, buyer_model))
    table = data["valid"].table
    users = np.unique(table[C.USER])
    parts = [table[table[C.USER].isin(u)] for u in np.array_split(users, 3)]
    sharded = validation.Windows(lambda w: iter(parts), {"valid": data["valid"].inputs}, buyer_model)
    split = validation.validate_windows(scope, reranker, sharded)
    assert split.results == whole.results and split.by_window == whole.by_window
    for strategy in STRATEGIES:
        pd.testing.assert_series_equal(split.buyer_recalls[strategy]["valid"], whole.buyer_recalls[strategy]["valid"])
    pd.testing.assert_frame_equal(split.selection_scores, whole.selection_scores)
