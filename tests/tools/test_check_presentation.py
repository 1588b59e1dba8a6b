"""tools/check_presentation.py: the rules it applies to the facts its browser probe measures, and the probe itself
on a small deck in headless Chromium (skipped without it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_presentation.py"
spec = importlib.util.spec_from_file_location("check_presentation", TOOL)
check_presentation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_presentation)


def a_slide(**kw) -> dict:
    """A main slide's facts as the probe reports them: full, readable, no identifiers."""
    facts = {"id": "s", "appendix": False, "cover": False, "text": "plain words", "filled": 0.8, "images": []}
    facts["texts"] = [{"px": 14.0, "text": "plain words"}]
    return facts | kw


def a_chart(font_px: float, width_px: int, shown_width: float, height_px: int = 500, shown_height: float = 500):
    return {"alt": "chart", "font_px": font_px, "width_px": width_px, "height_px": height_px,
            "shown_width": shown_width, "shown_height": shown_height}  # fmt: skip


def test_a_readable_full_slide_passes():
    assert check_presentation.slide_problems(a_slide(images=[a_chart(20.0, 1000, 700, 500, 350)])) == []


def test_small_html_text_fails_with_its_size_and_text():
    (problem,) = check_presentation.slide_problems(a_slide(texts=[{"px": 11.5, "text": "1 / 18"}]))
    assert "under 12 px, smallest 11.5 px: '1 / 18'" in problem


def test_chart_text_is_its_font_times_the_scale_it_is_shown_at():
    # 20 px in a 1,000-pixel PNG shown 500 wide: 10 px
    (problem,) = check_presentation.small_text(a_slide(images=[a_chart(20.0, 1000, 500, 500, 250)]))
    assert "text 10.0 px" in problem
    # object-fit: contain, the height limits it: shown 1000 wide but only 200 of 500 high, scale 0.4 -> 8 px
    (problem,) = check_presentation.small_text(a_slide(images=[a_chart(20.0, 1000, 1000, 500, 200)]))
    assert "text 8.0 px" in problem
    # a chart that does not say its smallest text is not taken on trust
    (problem,) = check_presentation.small_text(a_slide(images=[a_chart(None, 1000, 1000)]))
    assert "does not say its smallest text size" in problem


@pytest.mark.parametrize(
    "text, what",
    [
        ("run with --plain False", "a command-line flag '--plain'"),
        ("MLflow run 8d4c0c3de09542eaa4956cd2b0cbd860", "a hex hash"),
        ("from RecsysFlow/1796490251472821", "a Metaflow run id 'RecsysFlow/1796490251472821'"),
    ],
)
def test_identifiers_fail_on_main_slides_only(text, what):
    problems = check_presentation.slide_problems(a_slide(text=text))
    assert len(problems) == 1 and what in problems[0]
    assert check_presentation.slide_problems(a_slide(text=text, appendix=True)) == []


def test_plain_text_holds_no_identifiers():
    text = "0.079 ± 0.018 — 1.34 × the baseline; 37,286 events; P(buy) × expected recall; 2024-09-26 + 3 d"
    assert check_presentation.identifiers(text) == []


def test_a_main_slide_more_than_a_third_empty_fails_but_the_cover_and_the_appendix_may_be():
    (problem,) = check_presentation.slide_problems(a_slide(filled=0.5))
    assert "50% of the slide is empty" in problem
    assert check_presentation.slide_problems(a_slide(filled=0.5, cover=True)) == []
    assert check_presentation.slide_problems(a_slide(filled=0.2, appendix=True)) == []


def test_content_past_the_margins_fails_anywhere():
    (problem,) = check_presentation.slide_problems(a_slide(appendix=True, outside_margins=["table"]))
    assert "content past the margins: ['table']" in problem


@pytest.mark.slow
def test_the_probe_measures_a_deck_in_chromium(tmp_path):
    """A deck with a chart shown at a third of its size, an identifier on a main slide and a half-empty slide:
    the check fails on each, and passes the same deck's appendix."""
    chromium = check_presentation.find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    import matplotlib

    matplotlib.use("Agg")
    from recsys.report import Slide, render_html
    from recsys.report.figures import _plt, _png

    plt = _plt()
    fig, ax = plt.subplots(figsize=(30, 4))  # 30 inches shown 1,190 pixels wide: 40 pixels an inch
    ax.plot([0, 1], [0, 1])
    slides = [
        Slide("main", "A main slide", "Run with `--plain False`.", figures=[("chart", "a chart")], wide=True),
        Slide("appendix_x", "Appendix", "RecsysFlow/12 ran with `--plain False`.", appendix=True),
    ]
    html = tmp_path / "deck.html"
    html.write_text(render_html(slides, {"chart": _png(fig)}, "t"), encoding="utf-8")
    result = check_presentation.check(html, tmp_path / "shot.png", chromium)
    problems = "\n".join(result["problems"])
    assert "slide 'main': chart 'a chart': text" in problems
    assert "slide 'main': a command-line flag '--plain'" in problems
    assert "slide 'main':" in problems and "of the slide is empty" in problems
    assert "appendix_x" not in problems
