"""The experiment over cuts on the tiny synthetic dataset: no leakage, trials, the ablation, the final model."""

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from recsys import buyers, experiment
from recsys.buyers import STRATEGIES, BuyerModel, rank_users
from recsys.candidates import SOURCES, branches
from recsys.dataset import Dataset
from recsys.features import drop_source
from recsys.frames import PackedFrame
from recsys.model import Prediction, cut_data, labelled_buyer_inputs, learning_pool
from recsys.reranker import TrialParams, learnable_rows
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.split import Cut, cut_names, daily_cuts, make_cuts, model_history, target
from tests.conftest import make_interactions, make_items


def tamper_after(ds, cut, seed=1):
    """A copy of ``ds`` whose events at or after ``cut`` are replaced by different ones (same log end)."""
    rng = np.random.default_rng(seed)
    inter = ds.interactions
    before = inter[inter[C.TS] < cut.at]
    after = inter[inter[C.TS] >= cut.at].copy()
    after[C.USER] = rng.permutation(after[C.USER].to_numpy())
    after[C.ITEM] = np.where(after[C.ITEM] >= 0, rng.integers(0, len(ds.items), len(after)), after[C.ITEM])
    after[C.ACTION] = np.where(after[C.ACTION] == int(Action.VIEW), int(Action.ORDER), after[C.ACTION])
    after[C.ACTION] = after[C.ACTION].astype(inter[C.ACTION].dtype)
    after[C.ITEM] = after[C.ITEM].astype(inter[C.ITEM].dtype)
    changed = pd.concat([before, after], ignore_index=True)
    return dataclasses.replace(ds, interactions=changed)


@pytest.fixture(scope="module")
def setup(tiny_dataset):
    cuts = make_cuts(tiny_dataset.end, n_train=1)
    pools = experiment.user_pools(tiny_dataset, cuts, 400)
    return tiny_dataset, cuts, pools


@pytest.fixture(scope="module")
def candidates(setup):
    ds, cuts, pools = setup
    cands, metrics = {}, {}
    for branch in branches():
        c, m = experiment.run_branch(branch, ds, cuts, pools, 30)
        cands.update(c)
        metrics.update(m)
    return cands, metrics


@pytest.fixture(scope="module")
def buyer_model(setup):
    """The buyer model as the flow learns it: from a labelled cut's whole pool (a training cut's pool holds only
    its buyers)."""
    ds, cuts, _ = setup
    return BuyerModel().fit([labelled_buyer_inputs(ds, cuts["train"], 400)])


@pytest.fixture(scope="module")
def data(setup, candidates):
    ds, cuts, pools = setup
    cands, _ = candidates
    return {n: cut_data(ds, cut, pools[n], {s: c[n] for s, c in cands.items()}) for n, cut in cuts.items()}


@pytest.mark.parametrize("branch", list(branches()))
def test_events_after_a_cut_change_nothing_computed_for_it(setup, branch):
    """The whole first stage and the features of a cut, computed from a log whose future was rewritten."""
    ds, cuts, _ = setup
    cut = {"valid": cuts["valid"]}
    tampered = tamper_after(ds, cuts["valid"])
    assert tampered.end == ds.end
    assert not tampered.interactions.equals(ds.interactions)
    pools = experiment.user_pools(ds, cut, 400)
    pools_t = experiment.user_pools(tampered, cut, 400)
    np.testing.assert_array_equal(pools["valid"], pools_t["valid"])

    cands, _ = experiment.run_branch(branch, ds, cut, pools, 30)
    cands_t, _ = experiment.run_branch(branch, tampered, cut, pools, 30)
    for source in cands:
        pd.testing.assert_frame_equal(cands[source]["valid"], cands_t[source]["valid"])

    data = cut_data(ds, cuts["valid"], pools["valid"], {s: c["valid"] for s, c in cands.items()})
    data_t = cut_data(tampered, cuts["valid"], pools["valid"], {s: c["valid"] for s, c in cands_t.items()})
    pd.testing.assert_frame_equal(data.table.drop(columns=C.TARGET), data_t.table.drop(columns=C.TARGET))
    assert not data.table[C.TARGET].equals(data_t.table[C.TARGET])  # only the labels may (and here do) change
    pd.testing.assert_frame_equal(data.inputs.table(), data_t.inputs.table())
    assert not data.inputs.labels.equals(data_t.inputs.labels)


def test_events_after_the_validation_windows_change_no_pool_the_buyer_model_chooses(setup):
    """The validation windows' pools are chosen by a buyer model learnt before the oldest window: rewriting the log
    from that window on changes neither the model's choices nor which users get candidates at any window."""
    ds, cuts, _ = setup
    windows = {n: cuts[n] for n in cut_names(cuts, "valid")}
    oldest = windows[cut_names(cuts, "valid")[-1]]
    tampered = tamper_after(ds, oldest)
    models, _ = experiment.buyer_models(ds, cuts, 4, 400)
    models_t, _ = experiment.buyer_models(tampered, cuts, 4, 400)
    pools = experiment.user_pools(ds, {cut_names(cuts, "valid")[-1]: oldest}, 100, {"valid": models["valid"]})
    pools_t = experiment.user_pools(tampered, {cut_names(cuts, "valid")[-1]: oldest}, 100, {"valid": models_t["valid"]})
    for name in pools:
        np.testing.assert_array_equal(pools[name], pools_t[name])
    whole = experiment.user_pools(ds, windows, 100, models)
    assert all(len(p) == 100 for p in whole.values())
    assert any(not np.array_equal(whole[n], experiment.user_pools(ds, windows, 100)[n]) for n in windows)


def test_the_leak_check_catches_features_that_read_the_target_window(setup, candidates, monkeypatch):
    """The check above can fail: with a history that includes the cut's target window, features differ."""
    import recsys.model

    ds, cuts, pools = setup
    cands = {s: c["valid"] for s, c in candidates[0].items()}
    tampered = tamper_after(ds, cuts["valid"])
    monkeypatch.setattr(recsys.model, "model_history", lambda ds, cut: ds.interactions)  # a leaky history
    data = cut_data(ds, cuts["valid"], pools["valid"], cands)
    data_t = cut_data(tampered, cuts["valid"], pools["valid"], cands)
    assert not data.table.drop(columns=C.TARGET).equals(data_t.table.drop(columns=C.TARGET))
    assert not data.inputs.table().equals(data_t.inputs.table())


@pytest.fixture(scope="module")
def windows_layout(tiny_dataset):
    """The run's layout: daily training cuts before three back-to-back validation windows."""
    cuts = make_cuts(tiny_dataset.end, n_train=2, n_valid=3)
    return cuts, experiment.user_pools(tiny_dataset, cuts, 300)


def training_data(ds, cuts, pools, name):
    cands = {}
    for branch in branches():
        found, _ = experiment.run_branch(branch, ds, {name: cuts[name]}, {name: pools[name]}, 20)
        cands.update({s: c[name] for s, c in found.items()})
    return cut_data(ds, cuts[name], pools[name], cands)


@pytest.mark.parametrize("name", ["train", "train2"])
def test_training_windows_with_their_labels_never_see_the_validation_windows(tiny_dataset, windows_layout, name):
    """Rewriting everything from the oldest validation window on changes nothing a trial learns from: not the
    candidates, features or buyer inputs of a daily training cut, and not its labels either."""
    cuts, pools = windows_layout
    oldest_valid = min((cuts[n] for n in cuts if n.startswith("valid")), key=lambda c: c.at)
    tampered = tamper_after(tiny_dataset, oldest_valid)
    data = training_data(tiny_dataset, cuts, pools, name)
    data_t = training_data(tampered, cuts, pools, name)
    pd.testing.assert_frame_equal(data.table, data_t.table)  # labels included
    pd.testing.assert_frame_equal(data.inputs.table(), data_t.inputs.table())
    pd.testing.assert_series_equal(data.inputs.labels, data_t.inputs.labels)


def test_the_window_check_catches_a_training_target_reaching_into_validation(tiny_dataset, windows_layout):
    """The check above can fail: rewrite from one day earlier (inside the newest training window's target) and
    that window's labels change."""
    cuts, pools = windows_layout
    tampered = tamper_after(
        tiny_dataset, dataclasses.replace(cuts["train"], at=cuts["train"].target_end - pd.Timedelta(days=1))
    )
    data = training_data(tiny_dataset, cuts, pools, "train")
    data_t = training_data(tampered, cuts, pools, "train")
    pd.testing.assert_frame_equal(data.table.drop(columns=C.TARGET), data_t.table.drop(columns=C.TARGET))
    assert not data.table[C.TARGET].equals(data_t.table[C.TARGET])


def test_the_buyer_models_daily_cuts_never_see_the_validation_windows(tiny_dataset, windows_layout):
    """The validation buyer model learns from daily cuts whose targets end where the oldest validation window
    starts: rewriting everything from there on changes none of their features or labels; ending them one day
    later (a target reaching into the window) does change them, so the check can fail."""
    cuts, _ = windows_layout
    oldest_valid = min((cuts[n] for n in cuts if n.startswith("valid")), key=lambda c: c.at)
    tampered = tamper_after(tiny_dataset, oldest_valid)
    daily = daily_cuts(oldest_valid.at, 30, tiny_dataset.interactions[C.TS].min())
    assert len(daily) > 2
    for cut in daily.values():
        a, b = labelled_buyer_inputs(tiny_dataset, cut, 300), labelled_buyer_inputs(tampered, cut, 300)
        assert a.labels.sum() > 0
        pd.testing.assert_frame_equal(a.table(), b.table())
        pd.testing.assert_series_equal(a.labels, b.labels)
    (late,) = daily_cuts(oldest_valid.at + pd.Timedelta(days=1), 1, tiny_dataset.interactions[C.TS].min()).values()
    a, b = labelled_buyer_inputs(tiny_dataset, late, 300), labelled_buyer_inputs(tampered, late, 300)
    assert not a.labels.equals(b.labels)


def test_buyer_models_learn_from_the_daily_cuts_before_their_windows(setup):
    ds, cuts, _ = setup
    models, facts = experiment.buyer_models(ds, cuts, 4, 300)
    assert set(models) == {"valid", "final"}
    assert facts["valid"]["cuts"] == facts["final"]["cuts"] == 4 and facts["final"]["buyers"] > 0
    few, few_facts = experiment.buyer_models(ds, cuts, 1, 300)
    assert few_facts["valid"]["cuts"] == 1 and few_facts["valid"]["users"] < facts["valid"]["users"]
    late = dataclasses.replace(ds, interactions=ds.interactions[ds.interactions[C.TS] >= cuts["valid"].at])
    with pytest.raises(ValueError, match="no daily cut for the valid buyer model"):
        experiment.buyer_models(late, cuts, 4, 300)


def test_a_learning_only_cut_gives_the_same_learnable_rows(setup, candidates):
    """A training cut's candidates and table are made for its buyers only: what the reranker learns from is the
    same as with the whole pool's; its buyer inputs are skipped (the buyer model's daily cuts compute the same)."""
    ds, cuts, pools = setup
    cut = cuts["train"]
    whole = buyers.user_pool(model_history(ds, cut), 400)  # the setup's pool size, before keeping the buyers
    np.testing.assert_array_equal(pools["train"], learning_pool(ds, cut, whole))
    bought = target(ds.interactions, cut)[C.USER].unique()
    assert 0 < len(pools["train"]) < len(whole) and set(pools["train"]) <= set(bought)
    whole_cands = {}
    for branch in branches():
        found, _ = experiment.run_branch(branch, ds, {"train": cut}, {"train": whole}, 30)
        whole_cands.update({s: c["train"] for s, c in found.items()})
    full = cut_data(ds, cut, whole, whole_cands)
    light = cut_data(ds, cut, pools["train"], {s: c["train"] for s, c in candidates[0].items()}, learn_only=True)
    assert light.table[C.USER].nunique() < full.table[C.USER].nunique()
    pd.testing.assert_frame_equal(
        learnable_rows(light.table).reset_index(drop=True), learnable_rows(full.table).reset_index(drop=True)
    )
    assert light.inputs is None
    daily = labelled_buyer_inputs(ds, cut, 400)
    pd.testing.assert_frame_equal(daily.table(), full.inputs.table())
    pd.testing.assert_series_equal(daily.labels, full.inputs.labels)
    with pytest.raises(ValueError, match="target window inside the log"):
        cut_data(ds, cuts["final"], pools["final"], {s: c["final"] for s, c in candidates[0].items()}, learn_only=True)


def test_branches_run_every_registered_source(candidates):
    cands, metrics = candidates
    assert set(cands) == set(SOURCES)
    for source in SOURCES:
        assert f"{source}.valid.recall_at_25" in metrics and f"{source}.final.recall_at_25" not in metrics
        assert f"{source}.valid.recall_at_25" in metrics and f"{source}.valid.recall_at_100" not in metrics


def test_trial_scores_every_strategy_and_its_users_beat_chance(setup, data, buyer_model):
    ds, cuts, pools = setup
    assert C.TARGET not in data["final"].table and data["train"].table[C.TARGET].sum() > 0
    reranker = experiment.train_trial(
        TrialParams("Logloss", depth=3, iterations=30), [learnable_rows(data["train"].table)]
    )
    pred, results = experiment.validate(
        ds, cuts["valid"], reranker, buyer_model, data["valid"].table, data["valid"].inputs, 10, 50
    )
    assert set(results) == set(STRATEGIES)
    n_buyers = results["expected_recall"]["buyers"]
    for diag in results.values():
        assert diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["ceiling"] <= diag["buyers_captured"] <= 1.0
    # the chosen users hold more buyers than users drawn at random from the pool
    assert results["expected_recall"]["selected_precision"] > n_buyers / len(pools["valid"])

    scores = experiment.selection_scores(pred, data["valid"].inputs)
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
    diag = experiment.evaluate(ds, Cut(pd.Timestamp("2024-09-04")), pred, k=2, top_users=2, familiarity=True)["s"]
    # k = 2: 0 gets {2, 4} of {1, 2, 4}: 1/3 re-bought, 1/3 new; 1 gets {5, 0} of {3, 5}: 1/2 new
    assert diag["recall"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert diag["recall_rebought"] == pytest.approx(1 / 6) and diag["recall_seen"] == 0.0
    assert diag["recall_new"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert diag["rebought_ceiling"] == pytest.approx((1 / 3 + 1 / 2) / 2)  # 0's item 2, 1's item 3
    assert diag["history_ceiling"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 0's items 1 and 2
    # without the flag the diagnostics are the metric's only
    assert "recall_new" not in experiment.evaluate(ds, Cut(pd.Timestamp("2024-09-04")), pred, 2, 2)["s"]


def test_final_submission_is_complete(setup, data):
    ds, cuts, _ = setup
    final = experiment.final_submission(
        ds, cuts["final"], data["final"].table, data["final"].inputs, [learnable_rows(data["valid"].table)],
        BuyerModel().fit([data["valid"].inputs]), TrialParams("Logloss", depth=3, iterations=30), "expected_recall",
        10, 50,
    )  # fmt: skip
    assert len(final.submission) == 50 and final.submission["products"].map(len).eq(10).all()
    assert final.feature_importance.index[0] in data["final"].table.columns
    assert list(final.recs) == [ds.users["user_id"].tolist().index(u) for u in final.submission["user_id"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_users": 0}, "--top-users must be at least 1"),
        ({"k": 0}, "--k must be at least 1"),
        ({"train_cuts": 0}, "--train-cuts"),
        ({"pool_size": 10}, "smaller than --top-users"),
        ({"pool_size": -1}, "--pool-size must be 0"),
        ({"candidates": 0}, "--candidates"),
        ({"trials": [TrialParams(train_cuts=2)]}, "more training cuts than --train-cuts 1"),
        ({"valid_windows": 0}, "--valid-windows must be at least 1"),
        ({"buyer_cuts": 0}, "--buyer-cuts must be at least 1"),
        ({"trials": [TrialParams(train_cuts=1)] * 2, "n_trials": 1}, "--trials 1 must be at least the 2 --grid"),
        ({"trials": [TrialParams(depth=12, train_cuts=1)]}, "outside the search space"),
    ],
)
def test_bad_run_parameters_are_refused(kwargs, message):
    params = {"top_users": 100, "k": 25, "train_cuts": 1, "pool_size": 0, "candidates": 50, **kwargs}
    with pytest.raises(ValueError, match=message):
        experiment.check_parameters(**params)
    experiment.check_parameters(top_users=100, k=25, train_cuts=1, pool_size=0, candidates=50)  # valid ones pass


def test_pool_size_default_is_a_multiple_of_the_budget():
    assert experiment.pool_size(0, 3000) == experiment.POOL_FACTOR * 3000
    assert experiment.pool_size(5000, 3000) == 5000


def test_ablation_retrains_without_each_source_deterministically(setup, data, buyer_model):
    ds, cuts, _ = setup
    params = TrialParams("Logloss", depth=3, iterations=30)
    sources = ["history", "popular"]
    inputs = experiment.AblationInputs(
        train_rows=[learnable_rows(data["train"].table)],
        valid_tables={"valid": data["valid"].table},
        valid_inputs={"valid": data["valid"].inputs},
    )
    valid = {"valid": cuts["valid"]}
    seen = []
    removed = experiment.sources_removed(
        ds, valid, inputs, buyer_model, params, "p_buy", sources[::-1], 10, 50, progress=lambda *a: seen.append(a)
    )
    assert list(removed) == sources and [s[0] for s in seen] == [1, 2] and "without history" in seen[0][1]
    for diag in removed.values():
        assert (
            diag["windows"] == 1 and diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1.0
        )
    again = experiment.sources_removed(ds, valid, inputs, buyer_model, params, "p_buy", ["history"], 10, 50)
    assert again["history"] == removed["history"]  # same seed, same result
    # "without history" is exactly the recipe refitted on the tables without its rows and columns, the same buyer
    # model choosing the users, scored like any trial
    reranker = experiment.train_trial(params, [learnable_rows(drop_source(r, "history")) for r in inputs.train_rows])
    _, by_hand = experiment.validate(
        ds, cuts["valid"], reranker, buyer_model, drop_source(data["valid"].table, "history"),
        data["valid"].inputs, 10, 50, ["p_buy"],
    )  # fmt: skip
    assert by_hand["p_buy"]["recall"] == pytest.approx(removed["history"]["recall"])
    assert by_hand["p_buy"]["recall_selected"] == pytest.approx(removed["history"]["recall_selected"])


def test_plain_two_stage_is_the_trial_on_plain_tables_from_the_newest_cut(setup, data, buyer_model):
    ds, cuts, _ = setup
    params = TrialParams("Logloss", depth=3, iterations=30, train_cuts=2)  # the plain model learns from 1 cut
    table = data["valid"].table
    plain = experiment.plain_table(table)
    # the plain sources' rows and columns, the plain counts, nothing else
    sources = {c[2 : -len("_rank")] for c in plain.columns if c.startswith("s_") and c.endswith("_rank")}
    assert sources == set(experiment.PLAIN_SOURCES) & {s[2:-5] for s in table.columns if s.endswith("_rank")}
    features = set(plain.columns) - {C.USER, C.ITEM, C.TARGET, C.N_SOURCES} - {c for c in plain if c.startswith("s_")}
    assert features == set(experiment.PLAIN_FEATURES) and len(plain) < len(table)
    stored = pickle.loads(pickle.dumps(PackedFrame(table)))  # a flow artifact: only the plain columns are decoded
    pd.testing.assert_frame_equal(experiment.plain_table(stored), plain)
    per_buyer, loaded = {}, []

    def table_of(window):
        loaded.append(window)
        return table

    result = experiment.plain_two_stage(
        ds, {"valid": cuts["valid"]}, learnable_rows(data["train"].table), table_of,
        {"valid": data["valid"].inputs}, buyer_model, params, "p_buy", 10, 50, per_buyer=per_buyer,
    )  # fmt: skip
    assert loaded == ["valid"]  # each window's table asked for once, when it is scored
    assert result["windows"] == 1 and 0.0 <= result["recall"] <= result["buyers_captured"] <= 1.0
    assert list(per_buyer) == [experiment.PLAIN_ROW] and len(per_buyer[experiment.PLAIN_ROW]["valid"]) > 0
    # by hand: the trial learnt from the newest cut's plain rows alone, the same buyer model choosing the users
    reranker = experiment.train_trial(
        TrialParams("Logloss", depth=3, iterations=30, train_cuts=1),
        [learnable_rows(experiment.plain_table(data["train"].table))],
    )
    _, by_hand = experiment.validate(
        ds, cuts["valid"], reranker, buyer_model, plain, data["valid"].inputs, 10, 50, ["p_buy"]
    )
    assert by_hand["p_buy"]["recall"] == pytest.approx(result["recall"])


def test_a_plain_model_with_nothing_to_learn_is_nan_with_a_warning(setup, data, buyer_model, caplog):
    ds, cuts, _ = setup
    unlearnable = learnable_rows(data["train"].table).assign(**{C.TARGET: 0})  # no bought item left
    per_buyer = {}
    with caplog.at_level("WARNING", logger="recsys.experiment"):
        result = experiment.plain_two_stage(
            ds, {"valid": cuts["valid"]}, unlearnable, lambda w: data["valid"].table,
            {"valid": data["valid"].inputs}, buyer_model, TrialParams("Logloss", depth=3, iterations=30), "p_buy",
            10, 50, per_buyer=per_buyer,
        )  # fmt: skip
    assert np.isnan(result["recall"]) and per_buyer == {} and "plain two-stage model cannot be trained" in caplog.text
    table = experiment.hypothesis_table(
        {"p_buy": {"recall": 0.2}}, "p_buy", {}, {}, None, result
    )  # the report skips its verdict
    assert np.isnan(table.loc[experiment.PLAIN_ROW, "recall"])


# ----------------------------------------------------------------------------------------------------------
# Figures over several validation windows: means and a standard error, by hand
# ----------------------------------------------------------------------------------------------------------


def test_over_windows_is_the_mean_with_the_spread_as_standard_error():
    per_window = [
        {"recall": 0.20, "recall_se": 0.001, "buyers": 100},
        {"recall": 0.30, "recall_se": 0.001, "buyers": 200},
        {"recall": 0.25, "recall_se": 0.001, "buyers": 300},
    ]
    out = experiment.over_windows(per_window)
    assert out["recall"] == pytest.approx(0.25) and out["buyers"] == pytest.approx(200) and out["windows"] == 3
    assert out["recall_se"] == pytest.approx(0.05 / np.sqrt(3))  # std of (0.2, 0.3, 0.25) is 0.05


def test_over_windows_never_claims_more_precision_than_the_buyers_give():
    # three windows that happen to agree: their spread is 0, the buyer-sampling error of the mean is not
    per_window = [{"recall": 0.25, "recall_se": 0.03}] * 3
    out = experiment.over_windows(per_window)
    assert out["recall_se"] == pytest.approx(np.sqrt(3 * 0.03**2) / 3)


def test_mean_results_averages_each_row_over_windows():
    by_window = {
        "valid": {"a": {"recall": 0.1, "recall_se": 0.0}, "b": {"recall": 0.3, "recall_se": 0.0}},
        "valid2": {"a": {"recall": 0.3, "recall_se": 0.0}, "b": {"recall": 0.5, "recall_se": 0.0}},
    }
    out = experiment.mean_results(by_window)
    assert out["a"]["recall"] == pytest.approx(0.2) and out["b"]["recall"] == pytest.approx(0.4)
    assert out["a"]["recall_se"] == pytest.approx(0.1)  # std 0.1414 / sqrt(2)
    with pytest.raises(ValueError, match="no validation window"):
        experiment.over_windows([])


def test_validate_windows_scores_each_window_and_chooses_by_the_mean(setup, data, buyer_model):
    ds, cuts, _ = setup
    reranker = experiment.train_trial(
        TrialParams("Logloss", depth=3, iterations=30), [learnable_rows(data["train"].table)]
    )
    windows = {"valid": cuts["valid"], "final_as_valid": cuts["valid"]}
    loaded = []

    def table_of(name):
        loaded.append(name)
        return data["valid"].table

    inputs = {w: data["valid"].inputs for w in windows}
    v = experiment.validate_windows(ds, windows, reranker, buyer_model, table_of, inputs, 10, 50)
    assert loaded == list(windows)  # each table loaded once, in order
    assert set(v.by_window) == set(windows) and set(v.results) == set(STRATEGIES)
    for strategy, diag in v.results.items():
        assert diag["windows"] == 2
        assert diag["recall"] == pytest.approx(v.by_window["valid"][strategy]["recall"])  # the same window twice
    assert v.strategy == max(v.results, key=lambda s: v.results[s]["recall"])
    for strategy, by_window in v.buyer_recalls.items():  # the terms of each window's recall, for paired verdicts
        assert set(by_window) == set(windows)
        for w, per_buyer in by_window.items():
            assert per_buyer.mean() == pytest.approx(v.by_window[w][strategy]["recall"])
            assert len(per_buyer) == v.by_window[w][strategy]["buyers"]


def test_every_hypothesis_row_keeps_its_recall_per_buyer(setup, candidates, data, buyer_model):
    ds, cuts, _ = setup
    valid = {"valid": cuts["valid"]}
    base, alone, removed = {}, {}, {}
    base_results = experiment.baselines(ds, valid, 10, 50, per_buyer=base)
    users = {"valid": pd.Index(data["valid"].inputs.users[:50])}
    cands = {s: {"valid": c["valid"]} for s, c in candidates[0].items()}
    alone_results = experiment.sources_alone(ds, valid, cands, users, 10, 50, per_buyer=alone)
    inputs = experiment.AblationInputs(
        [learnable_rows(data["train"].table)], {"valid": data["valid"].table}, {"valid": data["valid"].inputs}
    )
    params = TrialParams("Logloss", depth=3, iterations=30)
    removed_results = experiment.sources_removed(
        ds, valid, inputs, buyer_model, params, "p_buy", ["history"], 10, 50, per_buyer=removed
    )
    reranker = experiment.train_trial(params, inputs.train_rows)
    v = experiment.validate_windows(ds, valid, reranker, buyer_model, lambda w: data["valid"].table,
                                    inputs.valid_inputs, 10, 50)  # fmt: skip
    table = experiment.buyer_recall_table(v.buyer_recalls, "p_buy", base, alone, removed)
    hypotheses = experiment.hypothesis_table(v.results, "p_buy", base_results, alone_results, removed_results)
    assert list(table["row"].unique()) == list(hypotheses.index)  # the same rows, named alike
    means = table.groupby("row")["recall"].mean()
    assert np.allclose(means[hypotheses.index], hypotheses["recall"].astype(float))


def test_the_best_trial_of_each_objective_keeps_its_recall_per_buyer():
    """The trial table's "best trial of each" comparison is paired too: per objective, the best trial's recall per
    buyer under its own best strategy, as rows "best trial: <objective>" of the buyer-recall table."""

    def outcome(number, objective, recalls):  # recalls: strategy -> the two buyers' recalls on one window
        per_buyer = {s: {"valid": pd.Series(r, index=[7, 9])} for s, r in recalls.items()}
        results = {s: {"recall": float(np.mean(r)), "recall_se": 0.01} for s, r in recalls.items()}
        validation = experiment.Validation(results, {}, {}, pd.DataFrame(), per_buyer)
        return experiment.TrialOutcome(number, TrialParams(objective), 100, validation)

    outcomes = [
        outcome(0, "YetiRank", {"p_buy": [0.2, 0.2], "activity": [0.1, 0.1]}),
        outcome(1, "Logloss", {"p_buy": [0.1, 0.3], "activity": [0.0, 0.1]}),
        outcome(2, "YetiRank", {"p_buy": [0.2, 0.3], "activity": [0.5, 0.3]}),  # YetiRank's best, by activity
    ]
    best = experiment.best_trial_recalls(outcomes)
    assert list(best) == ["YetiRank", "Logloss"]  # in the order the search proposed them
    assert best["YetiRank"]["valid"].tolist() == [0.5, 0.3] and best["Logloss"]["valid"].tolist() == [0.1, 0.3]
    chosen = outcomes[2].validation.buyer_recalls
    table = experiment.buyer_recall_table(chosen, "activity", {}, {}, None, trials=best)
    rows = table.groupby("row")["recall"].mean()
    assert list(table["row"].unique())[-2:] == ["best trial: YetiRank", "best trial: Logloss"]
    assert rows["best trial: YetiRank"] == pytest.approx(0.4) and rows["best trial: Logloss"] == pytest.approx(0.2)
