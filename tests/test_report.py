"""The run report: the buyer curve, the slides, and their two renderings (Metaflow card, self-contained HTML)."""

from __future__ import annotations

import base64
import os
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys import experiment, report
from recsys.buyers import STRATEGIES, select_users
from recsys.reranker import TrialParams
from recsys.schema import Columns as C
from recsys.split import make_cuts

PNG = b"\x89PNG\r\n\x1a\n"
DIAG = {"recall": 0.2, "buyers": 40, "selected": 50, "selected_buyers": 20, "buyers_captured": 0.5}
DIAG.update({"selected_precision": 0.4, "recall_selected": 0.4, "recall_se": 0.01, "ceiling": 0.45})


def selection_scores(n_users: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({s: rng.random(n_users) for s in STRATEGIES}, index=pd.Index(np.arange(n_users) * 3))
    frame["p_buy"] = frame["p_buy"].round(1)  # ties, broken by user code as in select_users
    frame["bought"] = (rng.random(n_users) < 0.1).astype(np.int8)
    return frame


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


@pytest.fixture(scope="module")
def summary(tiny_dataset):
    ds = tiny_dataset
    cuts = make_cuts(ds.end, n_train=1, n_valid=2)
    trials = [TrialParams("YetiRank", depth=4), TrialParams("Logloss", depth=4)]
    results = {s: {**DIAG, "recall": 0.2 + 0.01 * i} for i, s in enumerate(STRATEGIES)}
    alone = {"history": {**DIAG, "recall": 0.15}, "als": {**DIAG, "recall": 0.1}}
    removed = {"history": {**DIAG, "recall": 0.12}, "als": {**DIAG, "recall": 0.19}}
    baselines = {"organisers": {**DIAG, "recall": 0.05}, "history_popularity": {**DIAG, "recall": 0.08}}
    graph = {
        "steps": {
            "start": {"next": ["a", "b"], "type": "split-static", "doc": "load"},
            "a": {"next": ["join"], "type": "linear", "doc": "branch a"},
            "b": {"next": ["join"], "type": "linear", "doc": "branch b"},
            "join": {"next": ["trial"], "type": "split-foreach", "doc": "join"},
            "trial": {"next": ["end"], "type": "join", "doc": "one trial"},
            "end": {"next": [], "type": "end", "doc": "summary"},
        }
    }
    data = SimpleNamespace(
        ds=ds,
        resolved_data_dir="data/synthetic/tiny-seed0",
        top_users=50,
        k=10,
        cuts=cuts,
        pools={name: np.arange(100) for name in cuts},
        best_strategy="p_buy",
        best_params=trials[0],
        valid_recall=results["p_buy"]["recall"],
        valid_results=results,
        baseline_results=baselines,
        source_metrics={
            "history.valid.recall_at_25": 0.3,
            "history.valid.recall_at_100": 0.4,
            "als.train.recall_at_25": 0.2,
            "als.valid.recall_at_25": 0.2,
            "als.valid.recall_at_100": 0.35,
        },
        trial_table=experiment.trial_table(
            [
                experiment.TrialOutcome(i, t, 30, experiment.Validation(results, {"valid": results}, {}, None))
                for i, t in enumerate(trials)
            ]
        ),
        valid_by_window={"valid": results, "valid2": results},
        hypotheses=experiment.hypothesis_table(
            results, "p_buy", baselines, alone, removed, {"recall": 0.15, "recall_se": 0.01}
        ),
        feature_importance=pd.Series([3.0, 2.0, 1.0], index=["ui_order", "u_view_all", "i_price"]),
        test_results={"recall": 0.21, "buyers": 40},
        mlflow={"run_id": "abc", "model_version": "3", "experiment": "x"},
        selection_scores=selection_scores(100),
    )
    return report.summarize(data, "42", graph)


def test_summary_holds_the_run_facts(summary, tiny_dataset):
    assert summary["run_id"] == "42"
    assert summary["cleaning"] == tiny_dataset.report
    assert summary["funnel"]["rows"].sum() == len(tiny_dataset.interactions)
    assert list(summary["candidate_recall"].columns) == ["recall_at_25", "recall_at_100"]
    assert list(summary["candidate_recall"].index) == ["history", "als"]  # best recall@100 first, valid cut only
    assert summary["curve"].loc[50].notna().all() and set(summary["curve"].columns) == set(STRATEGIES)
    assert set(summary["graph"]) == {"start", "a", "b", "join", "trial", "end"}


def test_the_deck_tells_the_story_then_the_appendix(summary):
    slides, figures = report.build_slides(summary)
    keys = [s.key for s in slides]
    main = ["title", "task", "data", "approach", "results", "selection", "hypotheses", "search", "importance"]
    assert keys[: len(main) + 2] == [*main, "serving", "limitations"]
    assert all(s.appendix for s in slides[len(main) + 2 :]) and not any(s.appendix for s in slides[: len(main) + 2])
    # the loader's report and the cuts each get a slide: together they overflowed the frame at the real volume
    assert {"appendix_data", "appendix_cuts"} <= set(keys)
    assert all(s.prose.strip() for s in slides if not s.appendix)  # versioned in docs/presentation/
    assert set(figures) == {"validation", "funnel", "pipeline", "candidate_recall", "sources", "importance",
                            "buyer_curve"}  # fmt: skip
    assert all(png.startswith(PNG) for png in figures.values())
    assert {name for s in slides for name, _ in s.figures} == set(figures)
    assert "42" in slides[0].facts and slides[0].numbers[0][0] == "0.210"  # the chosen (p_buy) recall


def test_slide_text_comes_from_the_run_parameters_not_from_the_prose(summary):
    slides, _ = report.build_slides(summary)
    task = next(s for s in slides if s.key == "task").prose
    assert "**50 users**" in task and "**10 products**" in task and "3,000" not in task and "{" not in task


def test_main_slides_use_names_a_person_reads(summary):
    slides, _ = report.build_slides(summary)
    identifiers = ("expected_recall", "p_buy", "history_popularity", "recall_selected", "buyers_captured", "s_")
    for slide in slides:
        if slide.appendix:
            continue
        for _, frame in slide.tables:
            cells = " ".join(map(str, [*frame.columns, *frame.index, *frame.to_numpy().ravel()]))
            assert not any(i in cells for i in identifiers), (slide.key, cells[:300])


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
    hypotheses.loc[experiment.PLAIN_ROW, "recall"] = float("nan")
    verdicts = report.hypothesis_verdicts({**summary, "hypotheses": hypotheses})
    assert not verdicts.index.str.contains("plain two-stage").any()
    assert "the model beats the history + popularity baseline" in verdicts.index


def _recalls(rows: dict[str, pd.Series]) -> pd.DataFrame:
    """A run's ``buyer_recalls`` table: each row's recall per buyer, the same on windows valid and valid2."""
    return pd.concat(
        pd.DataFrame({"row": r, "window": w, C.USER: v.index, "recall": v.to_numpy()})
        for r, v in rows.items()
        for w in ("valid", "valid2")
    )


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


def test_the_run_ends_with_its_verdicts_and_next_steps(summary):
    text = report.console_summary(summary, output_path="sub.csv", n_users=50, k=10, model_name="m", data_dir="d",
                                  flow_file="flows/recsys_flow.py")  # fmt: skip
    lines = text.splitlines()
    start = lines.index("Verdicts (this vs against ± its standard error, over the validation windows):")
    verdicts = report.hypothesis_verdicts(summary)
    shown = lines[start + 1 : start + 1 + len(verdicts)]
    for line, (hypothesis, row) in zip(shown, verdicts.iterrows(), strict=True):
        assert line.split()[0] in ("higher", "lower", "no") and line.endswith(hypothesis)
        assert line.strip().startswith(row["verdict"])
    assert "Submission: sub.csv (50 users x 10 products)" in lines and lines[-1].endswith("--data-dir d")
    paired = report.console_summary({**summary, "buyer_recalls": _recalls({"reranker (p_buy)": pd.Series([0.5, 0.1]),
                                     "reranker (expected_recall)": pd.Series([0.4, 0.1])})}, output_path="s",
                                    n_users=1, k=1, model_name="m", data_dir="", flow_file="f")  # fmt: skip
    assert "Verdicts (the difference buyer by buyer ± its standard error" in paired
    # expected recall vs P(buy): buyer by buyer -0.1 and 0 on each window, -0.050 ± sqrt(2 x 0.005 / 2) / 2
    assert "  no measurable difference  -0.050 ± 0.035   expected recall adds to P(buy) alone" in paired.splitlines()
    assert "  higher                    unpaired         the model beats the history + popularity baseline" in paired


def test_the_truth_file_result_reads_against_the_baseline(summary):
    older = report.console_summary(summary, output_path="s", n_users=1, k=1, model_name="m", data_dir="", flow_file="f")
    assert "Against the truth file: recall 0.2100 (40 buyers)" in older.splitlines()  # a run before the baseline
    test = {"recall": 0.21, "recall_se": 0.02, "buyers": 40, "baseline_recall": 0.14, "baseline_difference": 0.07,
            "baseline_difference_se": 0.01}  # fmt: skip
    text = report.console_summary({**summary, "test_results": test}, output_path="s", n_users=1, k=1,
                                  model_name="m", data_dir="", flow_file="f")  # fmt: skip
    assert (
        "Against the truth file: recall 0.2100 ± 0.0200 (40 buyers); the history + popularity baseline 0.1400: "
        "1.50 ×, +0.0700 ± 0.0100 buyer by buyer (higher)" in text.splitlines()
    )
    close = report.truth_sentence({**test, "baseline_difference": 0.015})
    assert close.endswith("+0.0150 ± 0.0100 buyer by buyer (no measurable difference)")
    slides = {s.key: s for s in report.build_slides({**summary, "test_results": test})[0]}
    assert "recall **0.2100** ± 0.0200" in slides["results"].facts and "1.50 ×" in slides["results"].facts
    assert slides["title"].numbers[-2:] == [
        ("0.210", "recall on the held-out truth"),
        ("× 1.50", "the baseline, held-out truth"),
    ]


def test_verdict_slides_name_the_chosen_model_once(summary):
    """Where every verdict row compares the chosen model (p_buy, 0.210), its figure is in the caption, not a column
    repeating it, so the table fits beside the sources figure; the fixture's main slide also compares the best
    trial of each objective, so it keeps the column."""
    slides = {s.key: s for s in report.build_slides(summary)[0]}
    (caption, table), *_ = slides["appendix_sources"].tables
    assert "this" not in table.columns and caption.endswith("the chosen model: 0.210 ± 0.010")
    assert {"against", "verdict"} <= set(table.columns)
    (caption, table), *_ = slides["hypotheses"].tables
    assert table["this"].nunique() > 1 and "chosen model" not in caption


def test_feature_and_row_labels():
    assert report.feature_label("ui_days_since_order") == "user × item: days since order"
    assert report.feature_label("s_popular_category_rank") == "popular in the user's categories: rank"
    assert report.feature_label("u_addb_7") == "user: basket adds (7 d)"
    assert report.row_label("baseline: organisers").startswith("organisers'")
    assert report.row_label("reranker (p_buy)") == "reranker, users by P(buy) alone"
    assert report.row_label(experiment.PLAIN_ROW) == report.PLAIN_LABEL


def test_html_is_one_self_contained_file_with_every_figure_inlined(summary, tmp_path):
    path = report.write_presentation(summary, tmp_path / "out")
    text = path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing to fetch
    inlined = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    slides, figures = report.build_slides(summary)
    assert len(inlined) == sum(len(s.figures) for s in slides)
    assert all(base64.b64decode(b).startswith(PNG) for b in inlined)
    assert len(re.findall(r'<section class="slide', text)) == len(slides)
    assert "<table>" in text and "source removed" in text and "ALS (matrix factorisation)" in text
    assert sorted(p.name for p in (tmp_path / "out" / "figures").iterdir()) == sorted(f"{n}.png" for n in figures)


def test_card_components_are_markdown_tables_and_images(summary):
    from metaflow.cards import Image, Markdown, Table

    slides, figures = report.build_slides(summary)
    parts = report.card_components(slides, figures)
    assert sum(isinstance(p, Image) for p in parts) == sum(len(s.figures) for s in slides)
    assert sum(isinstance(p, Table) for p in parts) == sum(len(s.tables) for s in slides)
    titles = [p for p in parts if isinstance(p, Markdown)]
    assert len(titles) >= len(slides)


def test_display_table_formats_floats_and_keeps_the_index():
    frame = pd.DataFrame({"recall": [0.123456, float("nan")], "users": [1000, 2]}, index=pd.Index(["a", "b"], name="m"))
    shown = report.display_table(frame)
    assert shown.columns.tolist() == ["m", "recall", "users"]
    assert shown.to_numpy().tolist() == [["a", "0.1235", "1,000"], ["b", "", "2"]]


def test_the_search_slide_says_when_no_search_ran():
    best = {"trial": "YetiRank, depth 6", "strategy": "p_buy"}
    one = report.search_note(1, best)
    assert "one trial" in one and "--trials 8" in one and "**YetiRank, depth 6**" in one
    assert report.search_note(6, best).startswith("6 trials; chosen: **YetiRank, depth 6**")


def test_the_approach_says_who_is_submitted_whether_the_pool_exceeds_the_budget_or_not(summary):
    budget = int(summary["budget"])

    def approach(users_scored):
        run = {**summary, "cuts": summary["cuts"].assign(**{"users scored": users_scored})}
        slide = next(s for s in report.build_slides(run)[0] if s.key == "approach")
        return slide.prose, dict(slide.diagram)["Submission"]

    prose, box = approach(4 * budget)
    assert (
        f"The best {budget:,} of a pool of {4 * budget:,} users (the likeliest buyers among the most active) are "
        "submitted." in prose
    )
    assert box.startswith(f"the best {budget:,} users")
    prose, box = approach(budget - 1)  # a small log: everyone is submitted
    assert f"All {budget - 1:,} active users of the pool are submitted (the budget is {budget:,})." in prose
    assert box.startswith(f"all {budget - 1:,} users") and "the best" not in prose


def test_the_trial_table_reads_in_a_terminal(summary):
    common = {"iterations": 300, "l2_leaf_reg": 3.0, "buyers": 478.333333}
    trials = pd.DataFrame(
        [
            {"trial": 1, "objective": "Logloss", "depth": 8, "learning_rate": 0.05, "train_cuts": 6, "negatives": 0.1,
             "trees": 120, "strategy": "p_buy", "recall": 0.2, "recall_se": 0.01, "buyers_captured": 0.4816, **common},
            {"trial": 0, "objective": "YetiRank", "depth": 6, "learning_rate": 0.08, "train_cuts": 2, "negatives": 0.25,
             "trees": 284, "strategy": "expected_recall", "recall": 0.19, "recall_se": 0.0086, "buyers_captured": 0.5,
             **common},
        ]
    )  # fmt: skip
    lines = report.trial_console_table(trials).splitlines()
    assert lines[0].split()[:3] == ["trial", "objective", "depth"] and "valid recall" in lines[0]
    assert lines[1].split()[:8] == ["1", "Logloss", "8", "0.05", "3", "6", "10%", "120"]
    assert "P(buy) alone" in lines[1] and "0.2000 ± 0.0100" in lines[1] and lines[1].endswith("0.482")
    assert "P(buy) × expected recall" in lines[2] and "478.33" not in "\n".join(lines)


def test_next_step_commands_name_paths_that_work_from_here(tmp_path, monkeypatch):
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert report.short_path(str(tmp_path / "repo" / "flows" / "f.py")) == os.path.join("flows", "f.py")
    assert report.short_path(str(tmp_path / "elsewhere" / "f.py")) == str(tmp_path / "elsewhere" / "f.py")
