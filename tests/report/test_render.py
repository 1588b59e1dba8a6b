"""The deck's two renderings (Metaflow card, self-contained HTML) and what a run prints at its end."""

from __future__ import annotations

import base64
import os
import re

import pandas as pd

from recsys import report
from tests.report.conftest import PNG, _recalls

SMALL = report.Closing("s", 1, 1, "m", "", "f")


def test_the_run_ends_with_its_verdicts_and_next_steps(summary):
    text = report.console_summary(summary, report.Closing("sub.csv", 50, 10, "m", "d", "flows/recsys_flow.py"))
    lines = text.splitlines()
    start = lines.index("Verdicts (this vs against ± its standard error, over the validation windows):")
    verdicts = report.hypothesis_verdicts(summary)
    shown = lines[start + 1 : start + 1 + len(verdicts)]
    for line, (hypothesis, row) in zip(shown, verdicts.iterrows(), strict=True):
        assert line.split()[0] in ("higher", "lower", "no") and line.endswith(hypothesis)
        assert line.strip().startswith(row["verdict"])
    assert "Submission: sub.csv (50 users x 10 products)" in lines and lines[-1].endswith("--data-dir d")
    paired = report.console_summary({**summary, "buyer_recalls": _recalls({"reranker (p_buy)": pd.Series([0.5, 0.1]),
                                     "reranker (expected_recall)": pd.Series([0.4, 0.1])})}, SMALL)  # fmt: skip
    assert "Verdicts (the difference buyer by buyer ± its standard error" in paired
    # expected recall vs P(buy): buyer by buyer -0.1 and 0 on each window, -0.050 ± sqrt(2 x 0.005 / 2) / 2
    assert "  no measurable difference  -0.050 ± 0.035   expected recall adds to P(buy) alone" in paired.splitlines()
    assert "  higher                    unpaired         the model beats the history + popularity baseline" in paired


def test_the_truth_file_result_reads_against_the_baseline(summary):
    older = report.console_summary(summary, SMALL)
    assert "Against the truth file: recall 0.2100 (40 buyers)" in older.splitlines()  # a run before the baseline
    test = {"recall": 0.21, "recall_se": 0.02, "buyers": 40, "baseline_recall": 0.14, "baseline_difference": 0.07,
            "baseline_difference_se": 0.01}  # fmt: skip
    text = report.console_summary({**summary, "test_results": test}, SMALL)
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
        ("1.50 ×", "the baseline's (held-out truth)"),
    ]


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
    tables = [p for p in parts if isinstance(p, Table)]
    assert len(tables) == sum(len(report.card_table_parts(*t)) for s in slides for t in s.tables)
    titles = [p for p in parts if isinstance(p, Markdown)]
    assert len(titles) >= len(slides)


def test_a_wide_table_goes_to_the_card_in_parts_that_fit_its_width():
    """A card cuts a table wider than its text column (the per-window table lost its last columns): wide tables
    go in parts of at most CARD_COLUMNS columns, each naming its rows, together every column once."""
    frame = pd.DataFrame([[0.1 * i + j for j in range(10)] for i in range(3)], columns=[f"c{j}" for j in range(10)],
                         index=pd.Index(["valid", "valid2", "valid3"], name="window"))  # fmt: skip
    parts = report.card_table_parts("per window", frame)
    assert [caption for caption, _ in parts] == ["per window", "per window (continued)"]
    assert all(part.shape[1] <= report.CARD_COLUMNS and part.columns[0] == "window" for _, part in parts)
    assert [c for _, part in parts for c in part.columns[1:]] == list(frame.columns)
    assert parts[1][1]["window"].tolist() == ["valid", "valid2", "valid3"]
    narrow = report.card_table_parts("narrow", frame.iloc[:, :3])
    assert len(narrow) == 1 and narrow[0][1].columns.tolist() == ["window", "c0", "c1", "c2"]


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


def test_next_steps_ask_this_runs_model_about_one_of_its_users(summary):
    closing = report.Closing("sub.csv", 5, 10, "m", "", "flows/recsys_flow.py", python="py", example_user="u 1")
    kept = {"run_id": "r", "model_version": "3", "aliases": ["champion-shop"], "promotion": ["Champion: kept"]}
    lines = report.console_summary({**summary, "mlflow": kept}, closing).splitlines()
    assert "Champion: kept" in lines
    assert "  serve the model     make serve MODEL=models:/m/3   (http://127.0.0.1:5001/invocations)" in lines
    assert "  recommend           py -m recsys recommend 'u 1' --model models:/m/3 --k 5" in lines
    curl = next(line for line in lines if "curl" in line)
    assert curl.endswith("""-d '{"inputs": {"user_id": ["u 1"]}, "params": {"k": 5}}'""")
    served = {**kept, "aliases": ["champion-shop", "champion"]}
    lines = report.console_summary({**summary, "mlflow": served}, closing).splitlines()
    assert "  serve the model     make serve   (http://127.0.0.1:5001/invocations)" in lines
