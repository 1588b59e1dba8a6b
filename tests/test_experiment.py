"""The experiment on the validation windows, on the tiny synthetic dataset: trials scored with the exact metric,
shard by shard, the hypothesis rows beside them (baselines, sources alone and removed, the plain two-stage model),
the choice of the best trial and the final submission written with the run's model object."""

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from recsys import experiment, training
from recsys.buyers import STRATEGIES, BuyerModel, rank_users
from recsys.candidates import branches
from recsys.dataset import Dataset
from recsys.features import drop_source
from recsys.frames import PackedFrame
from recsys.model import Prediction, SecondStage, TwoStageModel
from recsys.reranker import TrialParams, learnable_rows
from recsys.rows import RowKey
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import Cut
from recsys.training import fit_reranker, shard_data
from tests.conftest import make_interactions, make_items

SETTINGS = RunSettings(top_users=50, k=10, candidates=30, pool_size=400, train_cuts=1, buyer_cuts=4, valid_windows=1)
PARAMS = TrialParams("Logloss", depth=3, iterations=30)


@pytest.fixture(scope="module")
def scope(setup):
    ds, cuts, _ = setup
    return experiment.Scope.of(ds, cuts, SETTINGS)


@pytest.fixture(scope="module")
def candidates(setup):
    ds, cuts, pools = setup
    found = [training.branch_candidates(b, ds, cuts, pools, SETTINGS) for b in branches()]
    return training.join_branches(found)


@pytest.fixture(scope="module")
def data(setup, candidates):
    ds, cuts, pools = setup
    return {n: shard_data(ds, cut, pools[n], candidates.by_cut()[n]) for n, cut in cuts.items()}


@pytest.fixture(scope="module")
def buyer_model(setup):
    """The buyer model as the flow learns it: from a labelled cut's whole pool."""
    ds, cuts, _ = setup
    return BuyerModel().fit([training.labelled_buyer_inputs(ds, cuts["train"], 400)])


def windows_of(data, buyer_model, names=("valid",), loaded=None):
    """The validation windows' inputs, every window reading the ``valid`` cut's table (``loaded`` records the
    windows whose tables were read, in order)."""

    def tables(window):
        if loaded is not None:
            loaded.append(window)
        yield data["valid"].table

    return experiment.Windows(tables, {w: data["valid"].inputs for w in names}, buyer_model)


def test_trial_scores_every_strategy_and_its_users_beat_chance(scope, setup, data, buyer_model):
    _, _, pools = setup
    assert C.TARGET not in data["final"].table and data["train"].table[C.TARGET].sum() > 0
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    pred, scored = experiment.validate(scope, "valid", reranker, windows_of(data, buyer_model))
    results = scored.results
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
    scope = experiment.Scope.of(ds, {"valid": Cut(pd.Timestamp("2024-09-04"))}, RunSettings(top_users=2, k=2))
    diag = experiment.evaluate(scope, "valid", pred, familiarity=True).results["s"]
    # k = 2: 0 gets {2, 4} of {1, 2, 4}: 1/3 re-bought, 1/3 new; 1 gets {5, 0} of {3, 5}: 1/2 new
    assert diag["recall"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert diag["recall_rebought"] == pytest.approx(1 / 6) and diag["recall_seen"] == 0.0
    assert diag["recall_new"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert diag["rebought_ceiling"] == pytest.approx((1 / 3 + 1 / 2) / 2)  # 0's item 2, 1's item 3
    assert diag["history_ceiling"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # 0's items 1 and 2
    # without the flag the diagnostics are the metric's only
    assert "recall_new" not in experiment.evaluate(scope, "valid", pred).results["s"]


def test_final_submission_is_written_with_the_run_model(scope, setup, data, candidates):
    ds, cuts, _ = setup
    reranker = fit_reranker(PARAMS, [data["valid"].rows])
    stage = SecondStage(reranker, BuyerModel().fit([data["valid"].inputs]), "expected_recall")
    model = TwoStageModel.at_cut(ds, cuts["final"], candidates.final_sources, stage, SETTINGS.candidates)
    ranking = experiment.rank_final(scope, stage, iter([data["final"].table]), data["final"].inputs)
    final = experiment.final_submission(scope, model.parts, ranking)
    assert len(final.submission) == 50 and final.submission["products"].map(len).eq(10).all()
    assert list(final.recs) == [ds.users["user_id"].tolist().index(u) for u in final.submission["user_id"]]
    pd.testing.assert_frame_equal(final.example, data["final"].table.head(5))
    # the served model recomputes the same lists for the same users
    assert model.recommend(data["final"].inputs.users.to_numpy(), 10, top_users=50) == final.recs
    # a ranking by any other second stage cannot become the model's submission
    other = SecondStage(fit_reranker(PARAMS, [data["valid"].rows]), stage.buyer_model, stage.strategy)
    with pytest.raises(ValueError, match="another second stage"):
        experiment.final_submission(
            scope, model.parts, experiment.rank_final(scope, other, [data["final"].table], data["final"].inputs)
        )


def test_ablation_retrains_without_each_source_deterministically(scope, data, buyer_model):
    recipe = experiment.Recipe(PARAMS, "p_buy")
    rows = [data["train"].rows[[c for c in data["train"].rows if not c.startswith(("s_covisit", "s_als"))]]]
    seen = []
    removed = experiment.sources_removed(
        scope, rows, windows_of(data, buyer_model), recipe, progress=lambda *a: seen.append(a)
    )
    sources = sorted(c[2:-5] for c in rows[0] if c.startswith("s_") and c.endswith("_rank"))
    assert list(removed.results) == sources and [s[0] for s in seen] == list(range(1, len(sources) + 1))
    assert "without faiss" in seen[0][1]
    for diag in removed.results.values():
        assert diag["windows"] == 1 and diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1
    again = experiment.sources_removed(scope, rows, windows_of(data, buyer_model), recipe)
    assert again.results["history"] == removed.results["history"]  # same seed, same result
    # "without history" is exactly the recipe refitted on the tables without its rows and columns, the same buyer
    # model choosing the users, scored like any trial
    reranker = fit_reranker(PARAMS, [learnable_rows(drop_source(r, "history")) for r in rows])
    without = windows_of(data, buyer_model).narrowed(lambda t: drop_source(t, "history"))
    _, by_hand = experiment.validate(scope, "valid", reranker, without, ["p_buy"])
    assert by_hand.results["p_buy"]["recall"] == pytest.approx(removed.results["history"]["recall"])
    assert by_hand.results["p_buy"]["recall_selected"] == pytest.approx(removed.results["history"]["recall_selected"])


def test_plain_two_stage_is_the_trial_on_plain_tables_from_the_newest_cut(scope, data, buyer_model):
    recipe = experiment.Recipe(dataclasses.replace(PARAMS, train_cuts=2), "p_buy")  # the plain one learns from 1
    table = data["valid"].table
    plain = experiment.plain_table(table)
    # the plain sources' rows and columns, the plain counts, nothing else
    sources = {c[2 : -len("_rank")] for c in plain.columns if c.startswith("s_") and c.endswith("_rank")}
    assert sources == set(experiment.PLAIN_SOURCES) & {s[2:-5] for s in table.columns if s.endswith("_rank")}
    features = set(plain.columns) - {C.USER, C.ITEM, C.TARGET, C.N_SOURCES} - {c for c in plain if c.startswith("s_")}
    assert features == set(experiment.PLAIN_FEATURES) and len(plain) < len(table)
    stored = pickle.loads(pickle.dumps(PackedFrame(table)))  # a flow artifact: only the plain columns are decoded
    pd.testing.assert_frame_equal(experiment.plain_table(stored), plain)
    loaded = []
    result = experiment.plain_two_stage(scope, data["train"].rows, windows_of(data, buyer_model, loaded=loaded), recipe)
    assert loaded == ["valid"]  # each window's tables asked for once, when it is scored
    diag = result.results[experiment.PLAIN_ROW]
    assert diag["windows"] == 1 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1.0
    assert list(result.buyer_recalls) == [experiment.PLAIN_ROW]
    assert len(result.buyer_recalls[experiment.PLAIN_ROW]["valid"]) > 0
    # by hand: the trial learnt from the newest cut's plain rows alone, the same buyer model choosing the users
    reranker = fit_reranker(PARAMS, [learnable_rows(experiment.plain_table(data["train"].rows))])
    plain_windows = windows_of(data, buyer_model).narrowed(experiment.plain_table)
    _, by_hand = experiment.validate(scope, "valid", reranker, plain_windows, ["p_buy"])
    assert by_hand.results["p_buy"]["recall"] == pytest.approx(diag["recall"])


def test_a_plain_model_with_nothing_to_learn_is_nan_with_a_warning(scope, data, buyer_model, caplog):
    unlearnable = data["train"].rows.assign(**{C.TARGET: 0})  # no bought item left
    with caplog.at_level("WARNING", logger="recsys.experiment"):
        result = experiment.plain_two_stage(
            scope, unlearnable, windows_of(data, buyer_model), experiment.Recipe(PARAMS, "p_buy")
        )
    diag = result.results[experiment.PLAIN_ROW]
    assert np.isnan(diag["recall"]) and result.buyer_recalls == {}
    assert "plain two-stage model cannot be trained" in caplog.text
    table = experiment.hypothesis_table({"p_buy": {"recall": 0.2}}, "p_buy", {}, {}, None, diag)  # no verdict
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
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    two = experiment.Scope.of(ds, {"valid": cuts["valid"], "valid2": cuts["valid"]}, SETTINGS)
    loaded = []
    v = experiment.validate_windows(two, reranker, windows_of(data, buyer_model, ("valid", "valid2"), loaded))
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


def test_shards_scored_one_by_one_give_the_windows_figures_of_the_whole_table(scope, data, buyer_model):
    reranker = fit_reranker(PARAMS, [data["train"].rows])
    whole = experiment.validate_windows(scope, reranker, windows_of(data, buyer_model))
    table = data["valid"].table
    users = np.unique(table[C.USER])
    parts = [table[table[C.USER].isin(u)] for u in np.array_split(users, 3)]
    sharded = experiment.Windows(lambda w: iter(parts), {"valid": data["valid"].inputs}, buyer_model)
    split = experiment.validate_windows(scope, reranker, sharded)
    assert split.results == whole.results and split.by_window == whole.by_window
    for strategy in STRATEGIES:
        pd.testing.assert_series_equal(split.buyer_recalls[strategy]["valid"], whole.buyer_recalls[strategy]["valid"])
    pd.testing.assert_frame_equal(split.selection_scores, whole.selection_scores)


def test_the_choice_keeps_the_best_trial_and_every_hypothesis_row(scope, setup, data, candidates, buyer_model):
    windows = windows_of(data, buyer_model)
    outcomes = [
        experiment.run_trial(scope, n, p, [data["train"].rows], windows)
        for n, p in enumerate([PARAMS, dataclasses.replace(PARAMS, depth=4)])
    ]
    baselines = experiment.baselines(setup[0], scope)
    evidence = experiment.Evidence(candidates.by_cut().get, windows, lambda cut: data[cut].rows, baselines)
    choice = experiment.choose(scope, outcomes, evidence, plain=True, ablation=True)
    assert choice.best is experiment.best_outcome(outcomes)
    artifacts = choice.artifacts()
    hypotheses, recalls = artifacts["hypotheses"], artifacts["buyer_recalls"]
    assert {"baseline", "source alone", "source removed", "plain two-stage"} <= set(hypotheses["kind"])
    assert [RowKey(k, s).name for k, s in zip(hypotheses["kind"], hypotheses["subject"], strict=True)] == list(
        hypotheses.index
    )
    assert artifacts["best_params"] == choice.best.params and artifacts["valid_recall"] == choice.best.recall
    # every hypothesis row keeps its recall per buyer, named alike: the mean is the row's recall
    rows = [r for r in recalls["row"].unique() if not r.startswith("best trial")]
    assert rows == list(hypotheses.index)
    means = recalls.groupby("row")["recall"].mean()
    assert np.allclose(means[hypotheses.index], hypotheses["recall"].astype(float))
    assert choice.lines()[-1].startswith(f"best: trial {choice.best.number}")
    assert outcomes[0].line().startswith("trial 0 (Logloss")


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
    table = experiment.buyer_recall_table(experiment.RowRecalls(chosen, {}, {}), "activity", trials=best)
    rows = table.groupby("row")["recall"].mean()
    assert list(table["row"].unique())[-2:] == ["best trial: YetiRank", "best trial: Logloss"]
    assert rows["best trial: YetiRank"] == pytest.approx(0.4) and rows["best trial: Logloss"] == pytest.approx(0.2)
