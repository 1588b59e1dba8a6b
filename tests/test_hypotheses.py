"""The hypotheses beside the chosen trial, on the tiny synthetic dataset: the ablation, the plain two-stage model
and the choice of the best trial with every hypothesis row."""

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from recsys import hypotheses, trials, validation
from recsys.features import drop_source
from recsys.frames import PackedFrame
from recsys.reranker import TrialParams, learnable_rows
from recsys.rows import RowKey
from recsys.schema import Columns as C
from recsys.training import fit_reranker
from tests.scoring import PARAMS, windows_of


def test_ablation_retrains_without_each_source_deterministically(scope, data, buyer_model):
    recipe = hypotheses.Recipe(PARAMS, "p_buy")
    rows = [data["train"].rows[[c for c in data["train"].rows if not c.startswith(("s_covisit", "s_als"))]]]
    seen = []
    removed = hypotheses.sources_removed(
        scope, rows, windows_of(data, buyer_model), recipe, progress=lambda *a: seen.append(a)
    )
    sources = sorted(c[2:-5] for c in rows[0] if c.startswith("s_") and c.endswith("_rank"))
    assert list(removed.results) == sources and [s[0] for s in seen] == list(range(1, len(sources) + 1))
    assert "without faiss" in seen[0][1]
    for diag in removed.results.values():
        assert diag["windows"] == 1 and diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1
    again = hypotheses.sources_removed(scope, rows, windows_of(data, buyer_model), recipe)
    assert again.results["history"] == removed.results["history"]  # same seed, same result
    # "without history" is exactly the recipe refitted on the tables without its rows and columns, the same buyer
    # model choosing the users, scored like any trial
    reranker = fit_reranker(PARAMS, [learnable_rows(drop_source(r, "history")) for r in rows])
    without = windows_of(data, buyer_model).narrowed(lambda t: drop_source(t, "history"))
    _, by_hand = validation.validate(scope, "valid", reranker, without, ["p_buy"])
    assert by_hand.results["p_buy"]["recall"] == pytest.approx(removed.results["history"]["recall"])
    assert by_hand.results["p_buy"]["recall_selected"] == pytest.approx(removed.results["history"]["recall_selected"])


def test_plain_two_stage_is_the_trial_on_plain_tables_from_the_newest_cut(scope, data, buyer_model):
    recipe = hypotheses.Recipe(dataclasses.replace(PARAMS, train_cuts=2), "p_buy")  # the plain one learns from 1
    table = data["valid"].table
    plain = hypotheses.plain_table(table)
    # the plain sources' rows and columns, the plain counts, nothing else
    sources = {c[2 : -len("_rank")] for c in plain.columns if c.startswith("s_") and c.endswith("_rank")}
    assert sources == set(hypotheses.PLAIN_SOURCES) & {s[2:-5] for s in table.columns if s.endswith("_rank")}
    features = set(plain.columns) - {C.USER, C.ITEM, C.TARGET, C.N_SOURCES} - {c for c in plain if c.startswith("s_")}
    assert features == set(hypotheses.PLAIN_FEATURES) and len(plain) < len(table)
    stored = pickle.loads(pickle.dumps(PackedFrame(table)))  # a flow artifact: only the plain columns are decoded
    pd.testing.assert_frame_equal(hypotheses.plain_table(stored), plain)
    loaded = []
    result = hypotheses.plain_two_stage(scope, data["train"].rows, windows_of(data, buyer_model, loaded=loaded), recipe)
    assert loaded == ["valid"]  # each window's tables asked for once, when it is scored
    diag = result.results[hypotheses.PLAIN_ROW]
    assert diag["windows"] == 1 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1.0
    assert list(result.buyer_recalls) == [hypotheses.PLAIN_ROW]
    assert len(result.buyer_recalls[hypotheses.PLAIN_ROW]["valid"]) > 0
    # by hand: the trial learnt from the newest cut's plain rows alone, the same buyer model choosing the users
    reranker = fit_reranker(PARAMS, [learnable_rows(hypotheses.plain_table(data["train"].rows))])
    plain_windows = windows_of(data, buyer_model).narrowed(hypotheses.plain_table)
    _, by_hand = validation.validate(scope, "valid", reranker, plain_windows, ["p_buy"])
    assert by_hand.results["p_buy"]["recall"] == pytest.approx(diag["recall"])


def test_a_plain_model_with_nothing_to_learn_is_nan_with_a_warning(scope, data, buyer_model, caplog):
    unlearnable = data["train"].rows.assign(**{C.TARGET: 0})  # no bought item left
    with caplog.at_level("WARNING", logger="recsys.experiment"):
        result = hypotheses.plain_two_stage(
            scope, unlearnable, windows_of(data, buyer_model), hypotheses.Recipe(PARAMS, "p_buy")
        )
    diag = result.results[hypotheses.PLAIN_ROW]
    assert np.isnan(diag["recall"]) and result.buyer_recalls == {}
    assert "plain two-stage model cannot be trained" in caplog.text
    table = hypotheses.hypothesis_table({"p_buy": {"recall": 0.2}}, "p_buy", {}, {}, None, diag)  # no verdict
    assert np.isnan(table.loc[hypotheses.PLAIN_ROW, "recall"])


# ----------------------------------------------------------------------------------------------------------
# Figures over several validation windows: means and a standard error, by hand
# ----------------------------------------------------------------------------------------------------------


def test_weighing_the_best_trial_gives_every_hypothesis_row(scope, setup, data, candidates, buyer_model):
    windows = windows_of(data, buyer_model)
    outcomes = [
        trials.run_trial(scope, n, p, [data["train"].rows], windows)
        for n, p in enumerate([PARAMS, dataclasses.replace(PARAMS, depth=4)])
    ]
    baselines = hypotheses.baselines(setup[0], scope)
    evidence = hypotheses.Evidence(candidates.by_cut().get, windows, lambda cut: data[cut].rows, baselines)
    choice = hypotheses.weigh(scope, outcomes, evidence, plain=True, ablation=True)
    assert choice.best is trials.best_outcome(outcomes)
    record, chosen = choice.record(), trials.chosen(outcomes)
    table, recalls = record.hypotheses, record.buyer_recalls
    assert {"baseline", "source alone", "source removed", "plain two-stage"} <= set(table["kind"])
    assert [RowKey(k, s).name for k, s in zip(table["kind"], table["subject"], strict=True)] == list(table.index)
    assert chosen.best_params == choice.best.params and chosen.valid_recall == choice.best.recall
    assert chosen.best_strategy == choice.best.validation.strategy == table["subject"].iloc[0]  # its row first
    # every hypothesis row keeps its recall per buyer, named alike: the mean is the row's recall
    rows = [r for r in recalls["row"].unique() if not r.startswith("best trial")]
    assert rows == list(table.index)
    means = recalls.groupby("row")["recall"].mean()
    assert np.allclose(means[table.index], table["recall"].astype(float))
    assert choice.lines()[0].startswith("plain two-stage model in the reranker's place: valid recall")
    assert trials.best_line(outcomes).startswith(f"best: trial {choice.best.number}")
    assert outcomes[0].line().startswith("trial 0 (Logloss")


def test_the_best_trial_of_each_objective_keeps_its_recall_per_buyer():
    """The trial table's "best trial of each" comparison is paired too: per objective, the best trial's recall per
    buyer under its own best strategy, as rows "best trial: <objective>" of the buyer-recall table."""

    def outcome(number, objective, recalls):  # recalls: strategy -> the two buyers' recalls on one window
        per_buyer = {s: {"valid": pd.Series(r, index=[7, 9])} for s, r in recalls.items()}
        results = {s: {"recall": float(np.mean(r)), "recall_se": 0.01} for s, r in recalls.items()}
        scored = validation.Validation(results, {}, {}, pd.DataFrame(), per_buyer)
        return trials.TrialOutcome(number, TrialParams(objective), 100, scored)

    outcomes = [
        outcome(0, "YetiRank", {"p_buy": [0.2, 0.2], "activity": [0.1, 0.1]}),
        outcome(1, "Logloss", {"p_buy": [0.1, 0.3], "activity": [0.0, 0.1]}),
        outcome(2, "YetiRank", {"p_buy": [0.2, 0.3], "activity": [0.5, 0.3]}),  # YetiRank's best, by activity
    ]
    best = trials.best_trial_recalls(outcomes)
    assert list(best) == ["YetiRank", "Logloss"]  # in the order the search proposed them
    assert best["YetiRank"]["valid"].tolist() == [0.5, 0.3] and best["Logloss"]["valid"].tolist() == [0.1, 0.3]
    chosen = outcomes[2].validation.buyer_recalls
    table = hypotheses.buyer_recall_table(hypotheses.RowRecalls(chosen, {}, {}), "activity", trials=best)
    rows = table.groupby("row")["recall"].mean()
    assert list(table["row"].unique())[-2:] == ["best trial: YetiRank", "best trial: Logloss"]
    assert rows["best trial: YetiRank"] == pytest.approx(0.4) and rows["best trial: Logloss"] == pytest.approx(0.2)


def test_baselines_scored_window_by_window_in_parts_join_to_the_figures_of_one_pass(tiny_dataset):
    """The flow scores the baselines in its candidate tasks, each on the windows of its group of cuts: the parts,
    joined in any order, give the means (to the bit) and the per-buyer recalls of one pass over every window."""
    from recsys.split import cut_names, make_cuts
    from tests.scoring import SETTINGS

    cuts = make_cuts(tiny_dataset.end, n_train=1, n_valid=3)
    scope = validation.Scope.of(tiny_dataset, cuts, SETTINGS)
    whole = hypotheses.baselines(tiny_dataset, scope)
    windows = cut_names(cuts, "valid")
    parts = [
        hypotheses.baseline_windows(tiny_dataset, validation.Scope(group, SETTINGS, scope.answers, scope.catalog))
        for group in ({w: cuts[w]} for w in windows[::-1])
    ]
    joined = hypotheses.join_windows(parts, windows)
    assert joined.results == whole.results and whole.results["history_popularity"]["windows"] == 3
    assert list(joined.buyer_recalls) == list(whole.buyer_recalls)
    for row, per_window in whole.buyer_recalls.items():
        assert list(joined.buyer_recalls[row]) == windows
        for w, recalls in per_window.items():
            pd.testing.assert_series_equal(joined.buyer_recalls[row][w], recalls)
