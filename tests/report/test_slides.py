"""The deck built from a run summary: the story, then the appendix; names a person reads."""

from __future__ import annotations

from recsys import report
from recsys.report.summaries import source_label
from tests.report.conftest import PNG


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
    assert "42" not in slides[0].facts and slides[0].numbers[0][0] == "0.210"  # the chosen (p_buy) recall; no id


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


def test_the_prose_names_what_this_runs_charts_put_first(summary):
    slides = {s.key: s for s in report.build_slides(summary)[0]}
    top = [report.feature_label(n) for n in summary["importance"].index[:3]]
    assert all(label in slides["importance"].prose for label in top)
    best = source_label(summary["candidate_recall"].index[0])
    assert best in slides["limitations"].prose
    se = summary["valid_results"][summary["best"]["strategy"]]["recall_se"]
    assert f"error is still {se:.3f} in this run" in slides["limitations"].prose
    assert summary["run_id"] not in slides["title"].facts  # ids only in the appendix
