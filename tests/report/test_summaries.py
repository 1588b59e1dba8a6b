"""The run summary, the labels, tables and verdicts computed from it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys import records, report
from recsys.buyers import STRATEGIES, select_users
from recsys.hypotheses import PLAIN_ROW
from recsys.rows import BASELINE, PLAIN, RERANKER, RowKey
from tests.report.conftest import _recalls, selection_scores


def test_buyer_curve_at_the_budget_is_the_share_of_buyers_select_users_captures():
    scores = selection_scores()
    n_buyers = int(scores["bought"].sum()) + 7  # 7 buyers outside the pool: never captured
    curve = report.buyer_curve(scores, n_buyers, STRATEGIES, budget=123)
    assert 123 in curve.index and curve.index.max() == len(scores)
    for strategy in STRATEGIES:
        chosen = select_users(scores[strategy], 123, "p_buy")  # a score ranks the same under any name
        assert curve.loc[123, strategy] == pytest.approx(scores.loc[chosen, "bought"].sum() / n_buyers)
        assert curve[strategy].is_monotonic_increasing
        assert curve[strategy].iloc[-1] == pytest.approx(scores["bought"].sum() / n_buyers)


def test_summary_holds_the_run_facts(summary, tiny_dataset):
    assert summary["run_id"] == "42"
    assert summary["cleaning"] == tiny_dataset.report
    assert summary["funnel"]["rows"].sum() == len(tiny_dataset.interactions)
    assert list(summary["candidate_recall"].columns) == ["recall_at_25", "recall_at_100"]
    assert list(summary["candidate_recall"].index) == ["history", "als"]  # best recall@100 first, valid cut only
    assert summary["curve"].loc[50].notna().all() and set(summary["curve"].columns) == set(STRATEGIES)
    assert set(summary["graph"]) == {"start", "a", "b", "join", "trial", "end"}


def test_a_run_older_than_its_data_facts_is_summarized_from_its_log(run_data, summary, tiny_dataset):
    data, graph = run_data
    older = SimpleNamespace(**{k: v for k, v in vars(data).items() if k != "data_facts"}, ds=tiny_dataset)
    again = report.summarize(records.read(older, facts_of=report.summaries.data_facts), "42", graph)
    with pytest.raises(records.MissingArtifactError, match="no data_facts"):
        records.read(older)  # the report passes the fallback; nothing else computes from the log
    assert again["data"] == summary["data"] and again["cleaning"] == summary["cleaning"]
    assert again["data"]["interaction rows (exploded)"] == len(tiny_dataset.interactions)
    pd.testing.assert_frame_equal(again["funnel"], summary["funnel"])


def test_hypothesis_verdicts_follow_the_intervals(summary):
    verdicts = report.hypothesis_verdicts(summary)
    assert verdicts.loc["the model beats the history + popularity baseline", "verdict"] == "higher"  # 0.21 vs 0.08
    # 0.21 vs 0.22 with standard errors of 0.01: a difference of 0.01 against 2 x 0.014
    assert verdicts.loc["expected recall adds to P(buy) alone", "verdict"] == "no measurable difference"
    assert verdicts.loc["the user's own history earns its place (the model without it)", "verdict"] == "higher"
    assert verdicts.loc[f"the reranker beats a {report.PLAIN_LABEL}", "verdict"] == "higher"  # 0.21 vs 0.15
    assert report.compare({"recall": 0.3, "recall_se": 0.01}, {"recall": 0.2, "recall_se": 0.01}) == "higher"
    # 0.06 apart with errors 0.02 and 0.015: the intervals overlap (0.20-0.28 vs 0.27-0.33), yet 0.06 > 2 x 0.025
    assert report.compare({"recall": 0.24, "recall_se": 0.02}, {"recall": 0.30, "recall_se": 0.015}) == "lower"
    assert report.compare({"recall": 0.25, "recall_se": 0.02}, {"recall": 0.29, "recall_se": 0.015}) == (
        "no measurable difference"  # 0.04 < 2 x 0.025
    )
    assert report.compare({"recall": 0.2}, {"recall": 0.3}) == "no interval"


def test_a_plain_model_that_could_not_learn_gets_no_verdict(summary):
    hypotheses = summary["hypotheses"].copy()
    hypotheses.loc[PLAIN_ROW, "recall"] = float("nan")
    verdicts = report.hypothesis_verdicts({**summary, "hypotheses": hypotheses})
    assert not verdicts.index.str.contains("plain two-stage").any()
    assert "the model beats the history + popularity baseline" in verdicts.index


def test_verdicts_compare_rows_buyer_by_buyer_when_the_run_stored_their_recalls(summary):
    p_buy = pd.Series(np.r_[np.full(42, 0.5), np.zeros(58)])  # the chosen row: mean 0.21
    worse = p_buy.copy()
    worse.iloc[:10] -= 0.1  # mean 0.20: ten buyers lose 0.1, the others score the same
    recalls = _recalls({"reranker (p_buy)": p_buy, "reranker (expected_recall)": worse})
    verdicts = report.hypothesis_verdicts({**summary, "buyer_recalls": recalls})
    line = verdicts.loc["expected recall adds to P(buy) alone"]
    # unpaired, 0.20 vs 0.21 with errors of 0.01 each is no measurable difference; buyer by buyer the difference
    # is -0.010 with an error of sqrt(2 x 0.0909e-4) / 2 = 0.002
    assert line["verdict"] == "lower" and line["difference (paired)"] == "-0.010 ± 0.002"
    baseline = verdicts.loc["the model beats the history + popularity baseline"]  # its rows were not stored
    assert baseline["difference (paired)"] == "" and baseline["verdict"] == "higher"
    assert "difference (paired)" not in report.hypothesis_verdicts(summary)  # a run from before: as it was


def test_the_trials_comparison_is_paired_when_the_run_stored_the_best_trials_recalls(summary):
    yeti = pd.Series(np.r_[np.full(44, 0.5), np.zeros(56)])  # the fixture's best trials both score 0.22
    logloss = yeti.copy()
    logloss.iloc[:10] -= 0.1  # the same buyers, ten of them 0.1 worse
    recalls = _recalls({"best trial: YetiRank": yeti, "best trial: Logloss": logloss})
    line = report.hypothesis_verdicts({**summary, "buyer_recalls": recalls}).loc[
        "YetiRank beats Logloss (best trial of each)"
    ]
    # unpaired the two trials are equal; buyer by buyer, YetiRank is 0.010 ± 0.002 ahead
    assert line["difference (paired)"] == "+0.010 ± 0.002" and line["verdict"] == "higher"


def test_feature_and_row_labels():
    assert report.feature_label("ui_days_since_order") == "user × item: days since order"
    assert report.feature_label("s_popular_category_rank") == "popular in the user's categories: rank"
    assert report.feature_label("u_addb_7") == "user: basket adds (7 d)"
    assert report.row_label(RowKey(BASELINE, "organisers")).startswith("organisers'")
    assert report.row_label(RowKey(RERANKER, "p_buy")) == "reranker, users by P(buy) alone"
    assert report.row_label(RowKey(PLAIN)) == report.PLAIN_LABEL


def test_display_table_formats_floats_and_keeps_the_index():
    frame = pd.DataFrame({"recall": [0.123456, float("nan")], "users": [1000, 2]}, index=pd.Index(["a", "b"], name="m"))
    shown = report.display_table(frame)
    assert shown.columns.tolist() == ["m", "recall", "users"]
    assert shown.to_numpy().tolist() == [["a", "0.1235", "1,000"], ["b", "", "2"]]


def test_the_search_slide_says_when_no_search_ran():
    best = {"trial": "YetiRank, depth 6", "strategy": "p_buy"}
    one = report.search_note(1, best)
    assert "one trial" in one and "searched nothing" in one and "**YetiRank, depth 6**" in one
    assert "--" not in one  # no command-line flag on a main slide
    assert report.search_note(6, best).startswith("6 trials; chosen: **YetiRank, depth 6**")


def test_an_automatic_pool_size_shows_as_the_users_it_means(run_data):
    data, graph = run_data
    automatic = SimpleNamespace(**{**vars(data), "pool_size": 0, "top_users": 50})
    assert (
        report.summarize(records.read(automatic), "42", graph)["params"]["pool size"]
        == "200 (automatic: 4 × top users)"
    )
    chosen = SimpleNamespace(**{**vars(data), "pool_size": 300})
    assert report.summarize(records.read(chosen), "42", graph)["params"]["pool size"] == 300


def test_a_run_missing_an_artifact_its_records_need_is_an_error_naming_it(run_data):
    """A renamed or missing artifact stops the reader with its name and the step that stores it, where a silent
    default would drop a part of the report; the fields older runs lack have their stand-ins."""
    data, graph = run_data
    without = SimpleNamespace(**{k: v for k, v in vars(data).items() if k not in ("best_strategy", "valid_recall")})
    wanted = r"no best_strategy, valid_recall \(Chosen: stored by choose\)"
    with pytest.raises(records.MissingArtifactError, match=wanted):
        records.read(without)
    older = SimpleNamespace(
        **{k: v for k, v in vars(data).items() if k not in ("n_train_cuts", "ablation")}, train_cuts=3
    )
    run = records.read(older)
    assert run.start.n_train_cuts == 3 and run.params.ablation is None  # the fixture is older than --ablation
    assert report.summarize(run, "42", graph)["params"]["training cuts (daily)"] == 3
    assert records.read(data, tracked=False).tracked is None and records.read(data).tracked.mlflow["run_id"] == "abc"
