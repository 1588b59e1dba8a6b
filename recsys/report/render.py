"""The report's outputs: the slides as Metaflow card components and as one self-contained HTML file, the export
of a run's presentation (``python -m recsys present``), and what a run prints at its end."""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys import records
from recsys.report.figures import figure_facts
from recsys.report.slides import Slide, build_slides
from recsys.report.summaries import (
    STRATEGY_LABELS,
    data_facts,
    display_table,
    hypothesis_verdicts,
    summarize,
    truth_sentence,
)

log = logging.getLogger("recsys.report")

HTML_NAME = "presentation.html"
FIGURES_DIR = "figures"
DIAG_COLUMNS = ["recall", "buyers_captured", "recall_selected", "selected_precision"]


# ---------------------------------------------------------------------------------------------------- renderers


def card_components(slides: list[Slide], figures: dict[str, bytes]) -> list:
    """The slides as Metaflow card components (Markdown, Table, Image), in order: every table whole, no 0..N
    index column."""
    from metaflow.cards import Image, Markdown, Table

    parts = []
    for slide in slides:
        parts.append(Markdown(f"## {slide.title}"))
        if slide.numbers:
            parts.append(Markdown(" · ".join(f"**{n}** {what}" for n, what in slide.numbers)))
        if slide.diagram:
            parts.append(Markdown(" → ".join(f"**{head}** ({body})" for head, body in slide.diagram)))
        for text in (slide.prose, slide.facts):
            if text.strip():
                parts.append(Markdown(text))
        for caption, frame in slide.tables:
            for part_caption, shown in card_table_parts(caption, frame):
                parts.append(Markdown(f"**{part_caption}**"))
                parts.append(Table(data=shown.to_numpy().tolist(), headers=list(shown.columns)))
        for name, caption in slide.figures:
            parts.append(Image(src=figures[name], label=caption))
    return parts


#: The widest table a card shows whole: a card's tables are as wide as its text column (about 900 pixels in a
#: 1280-pixel window) and cut what does not fit, such as the per-window table's last columns.
CARD_COLUMNS = 6


def card_table_parts(caption: str, frame: pd.DataFrame, columns: int = CARD_COLUMNS) -> list[tuple[str, pd.DataFrame]]:
    """A table as text cells (:func:`display_table`: Table.from_dataframe would cut them at 30 characters), in
    parts of at most ``columns`` columns that each repeat the first (the row's name), captioned "(continued)"."""
    shown = display_table(frame)
    if shown.shape[1] <= columns:
        return [(caption, shown)]
    first, rest, step = shown.columns[0], list(shown.columns[1:]), columns - 1
    parts = [shown[[first, *rest[i : i + step]]] for i in range(0, len(rest), step)]
    return [(caption if i == 0 else f"{caption} (continued)", part) for i, part in enumerate(parts)]


#: Every slide is a 16:9 frame as wide as the window (1280 x 720 on a 1280-pixel screen); sizes are in vw so
#: that the whole deck scales with the window. Content that does not fit is a bug the Chromium check reports.
CSS = """
html { scroll-snap-type: y mandatory; background: #1e293b; }
body { margin: 0; font-family: "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; }
.slide { scroll-snap-align: start; width: 100vw; height: 56.25vw; box-sizing: border-box; padding: 2vw 3.2vw 2.6vw;
         background: #fff; overflow: hidden; display: flex; flex-direction: column; gap: 0.9vw; position: relative;
         font-size: 1.45vw; line-height: 1.35; border-bottom: 1px solid #cbd5e1; }
.slide.text-only { font-size: 1.85vw; }
.slide.text-only .numbers div { flex: 1 1 0; max-width: none; font-size: 1.3vw; }
.diagram { display: flex; gap: 2.4vw; margin: 0.4vw 0 0.6vw; }
.diagram .box { flex: 1 1 0; border: 0.15vw solid #2563eb; border-radius: 0.6vw; padding: 0.5vw 0.7vw;
                background: #eff6ff; font-size: 1.05vw; color: #334155; position: relative; }
.diagram .box b { display: block; font-size: 1.35vw; color: #1e3a8a; }
.diagram .box:not(:last-child)::after { content: "\\2192"; position: absolute; right: -2.1vw; top: 30%;
                                        font-size: 1.8vw; color: #2563eb; }
.slide h1 { margin: 0; font-size: 2.3vw; color: #1e3a8a; border-bottom: 0.22vw solid #2563eb; padding-bottom: 0.4vw; }
.slide.appendix h1 { color: #475569; border-color: #94a3b8; font-size: 1.9vw; }
.slide .number { position: absolute; right: 2vw; bottom: 0.9vw; color: #64748b; font-size: 0.95vw; }
.slide p, .slide ul { margin: 0 0 0.5vw; } .slide li { margin: 0.15vw 0; }
.cols { display: flex; gap: 2.4vw; flex: 1 1 auto; min-height: 0; }
.cols > div { flex: 1 1 0; min-width: 0; min-height: 0; }
.numbers { display: flex; gap: 2.5vw; margin: 0.6vw 0 1vw; flex-wrap: wrap; }
.numbers div { color: #334155; font-size: 1.1vw; max-width: 15vw; }
.numbers b { display: block; font-size: 3vw; color: #2563eb; line-height: 1.1; white-space: nowrap; }
.slide.title { justify-content: center; padding-left: 6vw; background: linear-gradient(135deg, #eff6ff, #fff 60%); }
.slide.title .cols { flex: 0 0 auto; }
.slide.title h1 { font-size: 3.6vw; border: none; }
.slide.title .numbers b { font-size: 4.2vw; }
table { border-collapse: collapse; font-size: 1.1vw; margin: 0.2vw 0 0.9vw; max-width: 100%; }
th, td { border: 1px solid #cbd5e1; padding: 0.15vw 0.6vw; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.slide:not(.appendix) .cols > div:only-child table { font-size: 1.3vw; }
.slide:not(.appendix) .cols > div:only-child td { padding: 0.3vw 0.6vw; }
#hypotheses td:not(:first-child), #appendix_sources td:not(:first-child) { white-space: nowrap; }  /* 0.181 ± 0.014 */
thead th { background: #f1f5f9; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3vw; font-size: 1.05vw; }
figure { margin: 0 0 0.6vw; }
.cols > div.figures:not(:only-child) { flex: 1.35 1 0; }
#hypotheses .cols > div.figures:not(:only-child),
#appendix_sources .cols > div.figures:not(:only-child) { flex: 0.8 1 0; }  /* their verdict tables need the width */
figure img { display: block; width: 100%; max-height: 43vw; object-fit: contain; object-position: left top; }
.figures figure + figure img { max-height: 20vw; }
.slide.wide .cols { flex-direction: column; gap: 0.4vw; }
.slide.wide .cols > div { flex: 0 0 auto; }
.slide.wide figure img { max-height: 38vw; }
figcaption { font-size: 1vw; color: #475569; }
code { background: #f1f5f9; padding: 0 0.25vw; font-size: 0.95em; }
@media print { .slide { page-break-after: always; } html { background: #fff; } }
"""
JS = """
document.addEventListener('keydown', function (e) {
  var slides = Array.from(document.querySelectorAll('.slide'));
  var now = slides.findIndex(function (s) { return s.getBoundingClientRect().bottom > 10; });
  var next = {ArrowRight: 1, PageDown: 1, ' ': 1, ArrowLeft: -1, PageUp: -1}[e.key];
  if (next === undefined) return;
  e.preventDefault();
  var target = slides[Math.max(0, Math.min(slides.length - 1, now + next))];
  target.scrollIntoView();
});
"""


def _table_html(caption: str, frame: pd.DataFrame) -> str:
    shown = display_table(frame)
    # identifiers such as recall_selected may break after an underscore: the trial table fits the slide's width
    head = "".join(f"<th>{html.escape(c).replace('_', '_<wbr>')}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in shown.to_numpy())
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _figure_html(png: bytes, caption: str) -> str:
    """A chart inlined as base64, saying the size of its smallest text and its width in pixels
    (``data-font-px``, ``data-width-px``): the Chromium check computes the size it is shown at."""
    facts = figure_facts(png)
    sizes = f'data-width-px="{facts["width"]}"' + (
        "" if math.isnan(facts["font_px"]) else f' data-font-px="{facts["font_px"]:g}"'
    )
    return (
        f'<figure><img alt="{html.escape(caption)}" {sizes} src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def render_html(slides: list[Slide], figures: dict[str, bytes], title: str) -> str:
    """One self-contained HTML file: every slide a 16:9 frame, figures inlined as base64 PNG, no network.

    Arrow keys / PageUp / PageDown move between slides; printing gives one slide per page. Each slide says how
    many figures it should show (``data-figures``), which the Chromium check compares with what loaded."""
    import markdown

    sections = []
    for i, slide in enumerate(slides, 1):
        text = "".join(markdown.markdown(t, extensions=["tables"]) for t in (slide.prose, slide.facts) if t.strip())
        numbers = "".join(f"<div><b>{html.escape(n)}</b>{html.escape(what)}</div>" for n, what in slide.numbers)
        numbers = f'<div class="numbers">{numbers}</div>' if numbers else ""
        tables = "".join(_table_html(caption, frame) for caption, frame in slide.tables)
        images = "".join(_figure_html(figures[name], caption) for name, caption in slide.figures)
        diagram = "".join(
            f'<div class="box"><b>{html.escape(head)}</b>{html.escape(body)}</div>' for head, body in slide.diagram
        )
        diagram = f'<div class="diagram">{diagram}</div>' if diagram else ""
        left = f"<div>{numbers}{text}{tables}</div>" if numbers or text or tables else ""
        right = f'<div class="figures">{images}</div>' if images else ""
        classes = "slide" + (" appendix" if slide.appendix else "") + (" title" if slide.key == "title" else "")
        classes += " text-only" if not (slide.figures or slide.tables or slide.appendix) else ""
        classes += " wide" if slide.wide else ""
        sections.append(
            f'<section class="{classes}" id="{slide.key}" data-figures="{len(slide.figures)}">'
            f"<h1>{html.escape(slide.title)}</h1>{diagram}"
            f'<div class="cols">{left}{right}</div><span class="number">{i} / {len(slides)}</span></section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(sections)}<script>{JS}</script></body></html>\n"
    )


# ------------------------------------------------------------------------------------------------------ export


def load_run(run_id: str = ""):
    """A RecsysFlow run from the Metaflow client: ``run_id``, or the latest successful run of any user."""
    from metaflow import Flow, Run, namespace
    from metaflow.exception import MetaflowNotFound

    namespace(None)
    try:
        run = Run(f"RecsysFlow/{run_id}") if run_id else Flow("RecsysFlow").latest_successful_run
    except MetaflowNotFound as err:
        raise LookupError(f"{err} (is METAFLOW_DATASTORE_SYSROOT_LOCAL or the working directory right?)") from err
    if run is None:
        raise LookupError("no successful RecsysFlow run in this Metaflow datastore")
    if not run.successful:
        raise LookupError(f"run {run.pathspec} did not finish successfully")
    return run


def run_summary(run) -> dict:
    """The report summary a run stored (``report_summary`` of its end step), or one computed from its artifacts."""
    data = run["end"].task.data
    try:
        stored = data.report_summary
    except (AttributeError, KeyError):  # a run older than the stored summary: computed from its records
        stored = None
    if stored is not None:
        return stored
    graph = None
    try:
        graph = run["_parameters"].task["_graph_info"].data
    except Exception:  # noqa: BLE001 - the diagram is optional
        log.warning("no _graph_info in %s: the pipeline diagram is left out", run.pathspec)
    return summarize(records.read(data, facts_of=data_facts), run.id, graph)


def write_presentation(summary: dict, out_dir, prose_dir: Path | None = None) -> Path:
    """``out_dir/presentation.html`` (self-contained) and ``out_dir/figures/*.png``; returns the HTML path."""
    out = Path(out_dir)
    (out / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    slides, figures = build_slides(summary, prose_dir)
    for name, png in figures.items():
        (out / FIGURES_DIR / f"{name}.png").write_bytes(png)
    path = out / HTML_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(slides, figures, f"Stokman recsys: RecsysFlow/{summary['run_id']}"), encoding="utf-8")
    tmp.replace(path)
    return path


def log_presentation(out_dir, mlflow_run_id: str, tracking_uri: str) -> None:
    """Attach the exported folder to the run's MLflow run, under ``presentation/``."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).log_artifacts(mlflow_run_id, str(out_dir), artifact_path="presentation")


# ------------------------------------------------------------------------------------------ the end of a run


COUNT_COLUMNS = ("buyers", "selected", "selected_buyers")


def console_table(frame: pd.DataFrame) -> str:
    """A diagnostics table for a terminal: counts as integers, shares with 4 decimals."""
    shown = frame.copy()
    for name in shown.columns:
        if name in COUNT_COLUMNS:
            shown[name] = shown[name].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
        else:
            shown[name] = shown[name].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    return shown.to_string()


def trial_console_table(trials: pd.DataFrame, rows: int = 12) -> str:
    """The trial table (:func:`recsys.trials.trial_table`, best first) for a terminal: each trial's recipe,
    the user-selection strategy, the validation recall ± its standard error, the buyers captured and the trees."""
    head = trials.head(rows)
    shown = pd.DataFrame(
        {
            "trial": head["trial"].astype(int),
            "objective": head["objective"],
            "depth": head["depth"].astype(int),
            "lr": head["learning_rate"].map(lambda v: f"{v:g}"),
            "l2": head["l2_leaf_reg"].map(lambda v: f"{v:g}"),
            "windows": head["train_cuts"].astype(int),
            "negatives": head["negatives"].map(lambda v: f"{v:.0%}"),
            "trees": head["trees"].astype(int),
            "users by": head["strategy"].map(lambda v: STRATEGY_LABELS.get(v, v)),
            "valid recall": [f"{r:.4f} ± {se:.4f}" for r, se in zip(head["recall"], head["recall_se"], strict=True)],
            "buyers captured": head["buyers_captured"].map(lambda v: f"{v:.3f}"),
        }
    )
    return shown.to_string(index=False)


def short_path(path: str) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute (a command to copy)."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def submission_lines(output_path: str, n_users: int, test_results: dict) -> list[str]:
    """What the final step prints about the submission (and its score against a truth file, when there is one)."""
    out = [f"wrote {output_path}: {n_users:,} users"]
    if test_results:
        out.append(f"against the truth file: {truth_sentence(test_results)}")
    return out


@dataclass
class Closing:
    """What a run's last lines point to: its submission and its size, the registered model, the data, how to call
    the commands (the flow file, the Python), and a user of the submission for the examples."""

    output_path: str
    n_users: int
    k: int
    model_name: str
    data_dir: str
    flow_file: str
    python: str = ".venv/bin/python"
    example_user: str = ""

    @classmethod
    def of(cls, run: records.Run, flow_file: str, python: str) -> Closing:
        """The closing of a finished run (its records), the first submitted user as the example."""
        submission = run.final.submission
        return cls(run.final.output_path, len(submission), run.params.k, run.params.model_name,
                   run.start.resolved_data_dir, flow_file, python, str(submission["user_id"].iloc[0]))  # fmt: skip


def console_summary(summary: dict, closing: Closing) -> str:
    """What the run prints at its end: the validation result against the baselines, the submission and, last,
    what to do next (commands that work whoever runs them: the run is named by its id, the examples ask for one
    of its submitted users)."""
    run_id, best, valid = summary["run_id"], summary["best"], summary["valid_results"][summary["best"]["strategy"]]
    baselines = ", ".join(f"{name} {r['recall']:.4f}" for name, r in summary["baselines"].items())
    se = f" ± {valid['recall_se']:.4f}" if not math.isnan(valid.get("recall_se", math.nan)) else ""
    lines = [
        f"Validation ({summary['budget']:,} users): recall {valid['recall']:.4f}{se} with {best['trial']}, users by "
        f"{best['strategy']}; buyers captured {valid['buyers_captured']:.3f} ({int(valid['selected_buyers']):,} of "
        f"{int(valid['buyers']):,}); baselines: {baselines}",
    ]
    hypotheses = summary.get("hypotheses")
    if hypotheses is not None:
        shown = [c for c in hypotheses.columns if c in (*DIAG_COLUMNS, *COUNT_COLUMNS)]
        lines += ["", console_table(hypotheses[shown])]
        lines += _verdict_lines(summary)
    lines += ["", f"Submission: {closing.output_path} ({closing.n_users:,} users x {closing.k} products)"]
    test = summary.get("test_results") or {}
    if test:
        lines.append(f"Against the truth file: {truth_sentence(test)}")
    mlflow = summary.get("mlflow") or {}
    if mlflow:
        lines.append(f"MLflow: run {mlflow['run_id']}, model {closing.model_name} version {mlflow['model_version']}")
        lines += mlflow.get("promotion", [])
    if summary.get("ablation") is False:
        lines.append("The source ablation was skipped (run with --ablation True for the 'source removed' rows).")
    return "\n".join(lines + _next_steps(run_id, closing, mlflow))


def _verdict_lines(summary: dict) -> list[str]:
    verdicts = hypothesis_verdicts(summary)
    paired = "difference (paired)" in verdicts
    lines = ["", f"Verdicts ({'the difference buyer by buyer' if paired else 'this vs against'} ± its standard "
                 f"error, over the validation windows):"]  # fmt: skip
    for hypothesis, row in verdicts.iterrows():
        difference = row["difference (paired)"] if paired and row["difference (paired)"] else "unpaired"
        lines.append(f"  {row['verdict']:<25} {difference:<16} {hypothesis}")
    return lines


def _next_steps(run_id: str, closing: Closing, mlflow: dict) -> list[str]:
    """Ready-to-paste commands: the report, the slides, the UI, this run's model (the server's ``@champion`` when it
    took it, its version otherwise) asked about one of its submitted users, and the file's check."""
    python, output_path, data_dir = closing.python, closing.output_path, closing.data_dir
    served = "champion" in mlflow.get("aliases", ["champion"])
    model = f"models:/{closing.model_name}/{mlflow['model_version']}" if mlflow else ""
    serve = "make serve" + ("" if served or not model else f" MODEL={model}")
    lines = [
        "",
        "Next steps:",
        f"  the report (card)   {python} {closing.flow_file} card view {run_id}/end",
        f"  the slides          {python} -m recsys present --run-id {run_id}   (or: make present)",
        "  the MLflow UI       make ui   (http://127.0.0.1:5000)",
        f"  serve the model     {serve}   (http://127.0.0.1:5001/invocations)",
    ]
    if closing.example_user and model:
        user = shlex.quote(closing.example_user)
        body = shlex.quote(json.dumps({"inputs": {"user_id": [closing.example_user]}, "params": {"k": 5}}))
        lines += [
            f"  recommend           {python} -m recsys recommend {user} --model {model} --k 5",
            f"  ask the server      curl -s localhost:5001/invocations -H 'Content-Type: application/json' -d {body}",
        ]
    check = f"  check the file      {python} -m recsys validate {output_path}"
    lines.append(check + (f" --data-dir {data_dir}" if data_dir else ""))
    return lines
