"""The deck built from a run summary: the story, then the appendix; names a person reads."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from recsys import report
from recsys.report.figures import DPI, MIN_PT, SLIDE_PX_PER_IN, figure_facts, pipeline_boxes
from recsys.report.summaries import source_label
from tests.report.conftest import PNG

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def main_text(slides) -> str:
    """Everything the main slides say: prose, facts, numbers, diagram boxes, table captions and cells."""
    parts = []
    for slide in slides:
        if slide.appendix:
            continue
        parts += [slide.title, slide.prose, slide.facts, *(f"{n} {w}" for n, w in slide.numbers)]
        parts += [f"{h} {b}" for h, b in slide.diagram] + [caption for caption, _ in slide.figures]
        for caption, frame in slide.tables:
            parts += [caption, " ".join(map(str, [*frame.columns, *frame.index, *frame.to_numpy().ravel()]))]
    return "\n".join(parts)


def test_the_deck_tells_the_story_then_the_appendix(summary):
    slides, figures = report.build_slides(summary)
    keys = [s.key for s in slides]
    main = ["title", "task", "data", "approach", "results", "selection", "hypotheses", "search", "importance"]
    assert keys[: len(main) + 2] == [*main, "serving", "limitations"]
    assert all(s.appendix for s in slides[len(main) + 2 :]) and not any(s.appendix for s in slides[: len(main) + 2])
    # the loader's report and the cuts each get a slide: together they overflowed the frame at the real volume
    assert {"appendix_data", "appendix_cuts"} <= set(keys)
    assert all(s.prose.strip() for s in slides if not s.appendix)  # versioned in recsys/report/prose/
    assert set(figures) == {"validation", "funnel", "pipeline", "candidate_recall", "sources", "importance",
                            "buyer_curve", "trials", "windows"}  # fmt: skip
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
    assert f"a standard error of {se:.3f} in this run" in " ".join(slides["limitations"].prose.split())
    assert summary["run_id"] not in slides["title"].facts  # ids only in the appendix


def test_every_placeholder_of_the_prose_is_filled_from_the_run(summary):
    slides, _ = report.build_slides(summary)
    assert PLACEHOLDER.findall(main_text(slides)) == []


def test_the_data_slides_describe_this_log_not_a_fixed_shop(summary):
    """The event mix and the task's input come from the run's funnel: an orders-only log (the real dev cases)
    says so instead of "views, likes, basket adds..."."""
    slides = {s.key: s for s in report.build_slides(summary)[0]}
    rows = summary["funnel"]["rows"].sort_values(ascending=False)
    share = f"{rows.iloc[0] / rows.sum():.0%}"
    assert f"are the most frequent events ({share})" in slides["data"].prose
    orders = pd.DataFrame({"rows": [500], "users": [40]}, index=pd.Index(["order"], name="action"))
    only = {s.key: s for s in report.build_slides({**summary, "funnel": orders})[0]}
    assert "Every event of the log is one of its orders." in only["data"].prose
    assert "(orders only)" in only["task"].prose and "views" not in only["task"].prose


def test_main_slides_show_no_flags_hashes_or_run_ids(summary):
    """The run's ids, the promotion mode and the skipped ablation are said in words (the appendix has the ids)."""
    mlflow = {"run_id": "0123456789abcdef0123456789abcdef", "model_version": "2", "aliases": [],
              "decision": "registered only (--promote never)"}  # fmt: skip
    slides, _ = report.build_slides({**summary, "mlflow": mlflow, "ablation": False})
    text = main_text(slides)
    assert "promotion turned off" in text and "ablation option" in text
    assert not re.search(r"(?<![\w-])--[a-z]|[0-9a-f]{32}|Flow/\d", text), text


def test_charts_are_drawn_for_text_of_at_least_12_pixels_on_the_slide(summary):
    """Each PNG says its smallest text (at its own resolution); drawn at the slide's 100 pixels an inch, it is
    at least 12 pixels (the Chromium check measures the scale the browser really uses)."""
    _, figures = report.build_slides(summary)
    for name, png in figures.items():
        facts = figure_facts(png)
        assert facts["font_px"] >= MIN_PT * DPI / 72 - 0.1, name
        assert facts["font_px"] * SLIDE_PX_PER_IN / DPI >= 12, name


def test_the_pipeline_diagram_has_one_box_per_stage(summary):
    graph = summary["graph"]  # start -> (a, b) -> join -> foreach trial -> end
    assert pipeline_boxes(graph) == ["start", "in parallel: a, b", "join", "trial (tasks)", "end"]


def test_the_limitations_say_what_this_run_searched(summary):
    def limitations(trials):
        run = {**summary, "trials": trials}
        return " ".join(next(s for s in report.build_slides(run)[0] if s.key == "limitations").prose.split())

    several = limitations(summary["trials"])
    assert "**2 trials**: the chosen one was picked on the windows it is scored on" in several
    assert "between its best and its worst trial" in several
    one = limitations(summary["trials"][summary["trials"]["trial"] == 0])
    assert "**No search**" in one and "between its best" not in one


def test_the_results_figure_draws_the_intervals_of_the_table_beside_it(summary, monkeypatch):
    """The validation figure's error bars are the standard errors the results table shows (they were drawn at zero
    width when the figure looked for ``recall_se`` in a table whose headers were already renamed)."""
    from recsys.report import figures, slides

    drawn = {}

    def capture(table, chosen=""):
        drawn["table"] = table.copy()
        return PNG

    monkeypatch.setattr(slides, "validation_figure", capture)
    deck, _ = report.build_slides(summary)
    (results,) = [s for s in deck if s.key == "results"]
    (_, table), shown = results.tables[0], drawn["table"]
    se = table.loc[shown.index].filter(like="s.e.").iloc[:, 0].astype(float)
    assert (shown["recall_se"] > 0).all() and shown["recall_se"].round(10).tolist() == se.round(10).tolist()
    with pytest.raises(ValueError, match="needs each row's recall_se"):
        figures.validation_figure(shown.drop(columns="recall_se"))
