"""The run report: slides of facts, tables and figures built from a flow run's artifacts, rendered two ways from the
same content: the flow's Metaflow card and a standalone HTML presentation (``python -m recsys present``).

The numbers and figures come only from the run (:func:`summarize` keeps the small part of its artifacts that the
report needs); the prose of each slide is versioned markdown in ``docs/presentation/<slide>.md``.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.schema import Action
from recsys.schema import Columns as C

log = logging.getLogger("recsys.report")

PROSE_DIR = Path(__file__).resolve().parents[1] / "docs" / "presentation"
HTML_NAME = "presentation.html"
FIGURES_DIR = "figures"
#: Points kept on each buyer-selection curve (the curve of a 12,000-user pool needs no more to be drawn).
CURVE_POINTS = 200
#: The stages of the action funnel, in order.
FUNNEL = (Action.VISIT, Action.VIEW, Action.LIKE, Action.ADD_BASKET, Action.ORDER)
DIAG_COLUMNS = ["recall", "buyers_captured", "recall_selected", "selected_precision"]


# ----------------------------------------------------------------------------------------------- the run summary


def buyer_curve(scores: pd.DataFrame, n_buyers: int, strategies, budget: int | None = None) -> pd.DataFrame:
    """Share of all the period's buyers among the first N users of each strategy's ranking, for N up to the pool.

    ``scores`` is :func:`recsys.experiment.selection_scores` (a ``bought`` flag and one score column per strategy);
    users are ranked as :func:`recsys.buyers.select_users` ranks them, so the value at N = ``top_users`` is the
    strategy's ``buyers_captured``. About :data:`CURVE_POINTS` values of N are kept, ``budget`` always among them.
    """
    from recsys.buyers import rank_users

    n = len(scores)
    points = np.unique(np.r_[np.linspace(1, n, min(n, CURVE_POINTS)).round().astype(int), [budget or n]])
    points = points[(points >= 1) & (points <= n)]
    curve = {}
    for strategy in strategies:
        order = rank_users(scores[strategy])
        captured = np.cumsum(scores["bought"].reindex(order).to_numpy()) / max(n_buyers, 1)
        curve[strategy] = captured[points - 1]
    return pd.DataFrame(curve, index=pd.Index(points, name="users submitted"))


def action_funnel(interactions: pd.DataFrame) -> pd.DataFrame:
    """Rows (exploded events) and distinct users per action, in action-code order."""
    grouped = interactions.groupby(C.ACTION)[C.USER]
    frame = pd.DataFrame({"rows": grouped.size(), "users": grouped.nunique()})
    frame.index = [Action(int(a)).name.lower() for a in frame.index]
    frame.index.name = "action"
    return frame


def _get(data, name: str, default=None):
    try:
        return getattr(data, name)
    except (AttributeError, KeyError):
        return default


def summarize(data, run_id: str = "", graph: dict | None = None) -> dict:
    """The small summary of a run that the report shows, from its artifacts.

    ``data`` is the end step's ``self`` in the flow or ``task.data`` of a client ``Task``; artifacts missing from
    older runs leave their part of the report out. ``graph`` is Metaflow's ``_graph_info`` (the pipeline diagram).
    """
    ds = data.ds
    strategy = data.best_strategy
    valid = data.valid_results
    summary = {
        "run_id": str(run_id),
        "params": {
            name: _get(data, attr)
            for name, attr in (
                ("data", "resolved_data_dir"),
                ("top users", "top_users"),
                ("k", "k"),
                ("seed", "seed"),
                ("training cuts", "train_cuts"),
                ("pool size", "pool_size"),
                ("candidates per source", "candidates"),
                ("identity stitching", "stitch_identities"),
                ("grid", "grid"),
            )
        },
        "data": {
            "users": len(ds.users),
            "items": len(ds.items),
            "items in the catalog": int(ds.items[C.IN_CATALOG].sum()),
            "items with a title embedding": int((ds.items[C.VECTOR_ROW] >= 0).sum()),
            "interaction rows (exploded)": len(ds.interactions),
            "first event": str(ds.start),
            "log end (final cut)": str(ds.end),
        },
        "cleaning": dict(ds.report),
        "funnel": action_funnel(ds.interactions),
        "cuts": pd.DataFrame(
            [
                {
                    "cut": name,
                    "history before": str(cut.at),
                    "target until": str(cut.target_end),
                    "users scored": len(data.pools[name]),
                }
                for name, cut in data.cuts.items()
            ]
        ).set_index("cut"),
        "graph": {
            name: {"next": list(info.get("next", [])), "type": info.get("type", ""), "doc": info.get("doc") or ""}
            for name, info in ((graph or {}).get("steps") or {}).items()
        },
        "candidate_recall": candidate_recall_table(data.source_metrics),
        "hypotheses": _get(data, "hypotheses"),
        "trials": data.trial_table,
        "best": {"trial": data.best_params.label, "strategy": strategy, "valid recall": float(data.valid_recall)},
        "importance": data.feature_importance.head(30),
        "valid_results": valid,
        "baselines": data.baseline_results,
        "test_results": dict(data.test_results or {}),
        "mlflow": _get(data, "mlflow"),
        "tracking_uri": _get(data, "mlflow_uri"),
        "budget": int(data.top_users),
        "curve": None,
        # None: an older run; False: the flow ran with --ablation False and has no "source removed" rows
        "ablation": _get(data, "ablation"),
    }
    scores = _get(data, "selection_scores")
    if scores is not None and "bought" in scores:
        strategies = [c for c in scores.columns if c != "bought"]
        summary["curve"] = buyer_curve(scores, int(valid[strategy]["buyers"]), strategies, int(data.top_users))
    return summary


def candidate_recall_table(source_metrics: dict[str, float], cut: str = "valid") -> pd.DataFrame:
    """Source x recall@N on one cut, from the branches' ``source.cut.recall_at_N`` metrics."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in source_metrics.items():
        source, where, metric = key.split(".")
        if where == cut:
            rows.setdefault(source, {})[metric] = value
    frame = pd.DataFrame(rows).T
    if frame.empty:
        return frame
    frame = frame[sorted(frame.columns, key=lambda c: int(c.rsplit("_", 1)[-1]))]
    frame.index.name = "source"
    return frame.sort_values(frame.columns[-1], ascending=False)


# ------------------------------------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _layers(graph: dict) -> dict[str, int]:
    """Column of each step in the diagram: the longest path from ``start``."""
    depth = {name: 0 for name in graph}
    for _ in range(len(graph)):
        for name, info in graph.items():
            for nxt in info["next"]:
                if nxt in depth:
                    depth[nxt] = max(depth[nxt], depth[name] + 1)
    return depth


def pipeline_figure(graph: dict, n_trials: int) -> bytes:
    """The flow's steps as boxes and arrows, laid out left to right from the run's own DAG."""
    plt = _plt()
    depth = _layers(graph)
    columns: dict[int, list[str]] = {}
    for name in graph:
        columns.setdefault(depth[name], []).append(name)
    height = max(len(v) for v in columns.values())
    pos = {}
    for col, names in columns.items():
        for row, name in enumerate(names):
            pos[name] = (col, (len(names) - 1) / 2 - row)
    fig, ax = plt.subplots(figsize=(max(8, 1.45 * len(columns)), max(2.6, 0.75 * height + 0.8)))
    for name, info in graph.items():
        for nxt in info["next"]:
            if nxt in pos:
                ax.annotate(
                    "",
                    xy=pos[nxt],
                    xytext=pos[name],
                    arrowprops={"arrowstyle": "->", "color": "#555", "shrinkA": 30, "shrinkB": 30},
                )
    foreach_children = {n for name, info in graph.items() if info["type"] == "split-foreach" for n in info["next"]}
    for name, (x, y) in pos.items():
        label = f"{name}\n× {n_trials}" if name in foreach_children else name
        color = "#dbeafe" if name in foreach_children else "#f1f5f9"
        ax.text(
            x, y, label, ha="center", va="center", fontsize=9, bbox={"boxstyle": "round", "fc": color, "ec": "#333"}
        )
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-height / 2 - 0.1, height / 2 + 0.1)
    ax.axis("off")
    ax.set_title("RecsysFlow: the steps of the run")
    return _png(fig)


def funnel_figure(funnel: pd.DataFrame) -> bytes:
    plt = _plt()
    stages = [a.name.lower() for a in FUNNEL if a.name.lower() in funnel.index]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    rows = funnel["rows"].sort_values()
    axes[0].barh(rows.index, rows.to_numpy(), color="#64748b")
    axes[0].set_xscale("log")
    axes[0].set_title("rows per action (log scale)")
    users = funnel.loc[stages, "users"][::-1]
    axes[1].barh(users.index, users.to_numpy(), color="#2563eb")
    for y, v in enumerate(users.to_numpy()):
        axes[1].text(v, y, f" {v:,}", va="center", fontsize=8)
    axes[1].set_title("users reaching each stage of the funnel")
    return _png(fig)


def candidate_recall_figure(table: pd.DataFrame) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    table[::-1].plot.barh(ax=ax)
    ax.set_xlabel("share of the validation buyers' purchases among the candidates")
    ax.set_title("candidate recall by source (validation cut)")
    return _png(fig)


def source_figure(hypotheses: pd.DataFrame) -> bytes:
    plt = _plt()
    recall = hypotheses["recall"].astype(float)
    alone = recall[recall.index.str.startswith("source alone: ")].rename(lambda s: s.split(": ", 1)[1])
    removed = recall[recall.index.str.startswith("source removed: ")].rename(lambda s: s.split(": ", 1)[1])
    frame = pd.DataFrame({"source alone": alone, "all sources but this one": removed}).sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    frame.plot.barh(ax=ax, color=["#94a3b8", "#2563eb"])
    ax.axvline(recall.iloc[0], color="#dc2626", linestyle="--", label=f"all sources ({recall.iloc[0]:.4f})")
    ax.set_xlabel("validation recall")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    ax.set_title("what each source is worth: alone, and removed (retrained without it)")
    return _png(fig)


def importance_figure(importance: pd.Series, n: int = 20) -> bytes:
    plt = _plt()
    top = importance.head(n)[::-1]
    fig, ax = plt.subplots(figsize=(8, max(3, 0.26 * len(top) + 1)))
    ax.barh(top.index, top.to_numpy(), color="#0f766e")
    ax.set_title("feature importance of the final reranker (PredictionValuesChange)")
    return _png(fig)


def curve_figure(curve: pd.DataFrame, budget: int) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for strategy in curve.columns:
        ax.plot(curve.index, curve[strategy], label=strategy)
    ax.axvline(budget, color="#555", linestyle=":", label=f"budget ({budget:,} users)")
    ax.set_xlabel("users submitted (best first)")
    ax.set_ylabel("share of validation buyers captured")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("buyer selection: buyers captured vs users submitted")
    return _png(fig)


def validation_figure(table: pd.DataFrame) -> bytes:
    plt = _plt()
    recall = table["recall"].astype(float)[::-1]
    colors = ["#2563eb" if name.startswith("reranker") else "#94a3b8" for name in recall.index]
    fig, ax = plt.subplots(figsize=(8, max(2.6, 0.4 * len(recall) + 1)))
    ax.barh(recall.index, recall.to_numpy(), color=colors)
    for y, v in enumerate(recall.to_numpy()):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=8)
    ax.set_xlabel("validation recall (the competition metric)")
    ax.set_title("the reranker against the baselines")
    return _png(fig)


# -------------------------------------------------------------------------------------------------------- slides


@dataclass
class Slide:
    """One slide (one card section): versioned prose, facts from the run, tables and figures."""

    key: str
    title: str
    prose: str = ""
    facts: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (figure name, caption)


def read_prose(key: str, prose_dir: Path | None = None) -> str:
    path = Path(prose_dir or PROSE_DIR) / f"{key}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return str(value)


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as text cells (floats to 4 decimals), its index as the first column."""
    frame = frame.reset_index() if frame.index.name or not isinstance(frame.index, pd.RangeIndex) else frame
    return frame.map(_fmt).rename(columns=str)


def validation_table(summary: dict) -> pd.DataFrame:
    """The reranker under each selection strategy next to the baselines (validation), and the truth file."""
    rows = {f"reranker ({s})": r for s, r in summary["valid_results"].items()}
    rows.update({f"baseline: {n}": r for n, r in summary["baselines"].items()})
    frame = pd.DataFrame(rows).T[DIAG_COLUMNS]
    frame.index.name = "validation"
    return frame.sort_values("recall", ascending=False)


def build_slides(summary: dict, prose_dir: Path | None = None) -> tuple[list[Slide], dict[str, bytes]]:
    """The slides of a run summary and their figures (name -> PNG)."""
    figures: dict[str, bytes] = {}
    slides: list[Slide] = []
    best, test = summary["best"], summary["test_results"]
    valid = validation_table(summary)
    baseline_best = valid[valid.index.str.startswith("baseline")]["recall"].max()
    figures["validation"] = validation_figure(valid)

    facts = [
        f"- run: `RecsysFlow/{summary['run_id']}`",
        f"- data: `{summary['params'].get('data')}`; budget {summary['budget']:,} users x {summary['params'].get('k')} "
        "products",
        f"- chosen: **{best['trial']}**, users selected by `{best['strategy']}`",
        f"- validation recall: **{best['valid recall']:.4f}** (best baseline {baseline_best:.4f})",
    ]
    if test:
        facts.append(f"- submission against the truth file: recall **{test['recall']:.4f}**")
    if summary.get("mlflow"):
        facts.append(
            f"- MLflow run `{summary['mlflow'].get('run_id')}`, model version {summary['mlflow'].get('model_version')}"
        )
    slides.append(
        Slide(
            "overview",
            "Stokman: who buys in the next 3 days, and what",
            read_prose("overview", prose_dir),
            "\n".join(facts),
            figures=[("validation", "validation recall: the reranker and the baselines")],
        )
    )

    data_facts = "\n".join(f"- {name}: {_fmt(value)}" for name, value in summary["data"].items())
    cleaning = pd.Series(summary["cleaning"], name="count", dtype=object).to_frame()
    cleaning.index.name = "loader report (cleaned / counted)"
    figures["funnel"] = funnel_figure(summary["funnel"])
    slides.append(
        Slide(
            "data",
            "The data",
            read_prose("data", prose_dir),
            data_facts,
            [("action funnel", summary["funnel"]), ("what the loader cleaned", cleaning)],
            [("funnel", "rows per action and users per funnel stage")],
        )
    )

    stack = Slide("stack", "Stack, tools and the pipeline", read_prose("stack", prose_dir))
    if summary["graph"]:
        figures["pipeline"] = pipeline_figure(summary["graph"], len(summary["trials"]["trial"].unique()))
        stack.figures.append(("pipeline", "the run's Metaflow DAG"))
        steps = pd.DataFrame({"does": {n: g["doc"] for n, g in summary["graph"].items()}})
        steps.index.name = "step"
        stack.tables.append(("steps", steps))
    slides.append(stack)

    slides.append(
        Slide(
            "methodology",
            "Experiment methodology",
            read_prose("methodology", prose_dir),
            tables=[("time cuts of this run", summary["cuts"])],
        )
    )

    processing = Slide("processing", "Data processing and candidates", read_prose("processing", prose_dir))
    if not summary["candidate_recall"].empty:
        figures["candidate_recall"] = candidate_recall_figure(summary["candidate_recall"])
        processing.tables.append(("candidate recall by source (validation)", summary["candidate_recall"]))
        processing.figures.append(("candidate_recall", "candidate recall@N per source"))
    slides.append(processing)

    hyp = Slide("hypotheses", "Hypotheses tested", read_prose("hypotheses", prose_dir))
    if summary.get("ablation") is False:
        hyp.facts = (
            'The source ablation was skipped in this run (`--ablation False`): no "source removed" rows. '
            "Run the flow with `--ablation True` to retrain the chosen recipe without each source."
        )
    if summary["hypotheses"] is not None:
        hyp.tables.append(("validation, same metric for every row", summary["hypotheses"][DIAG_COLUMNS]))
        if summary["hypotheses"].index.str.startswith("source").any():
            figures["sources"] = source_figure(summary["hypotheses"])
            hyp.figures.append(("sources", "each source alone and each source removed"))
    slides.append(hyp)

    trials = summary["trials"]
    params = [
        c
        for c in trials.columns
        if c not in ("trial", "strategy", *DIAG_COLUMNS, "buyers", "selected", "selected_buyers")
    ]
    by_objective = trials.pivot_table(index="objective", columns="strategy", values="recall", aggfunc="max")
    slides.append(
        Slide(
            "algorithms",
            "Algorithms compared",
            read_prose("algorithms", prose_dir),
            tables=[("best validation recall per objective and user-selection strategy", by_objective)],
        )
    )
    slides.append(
        Slide(
            "hyperparameters",
            "Hyperparameter search",
            read_prose("hyperparameters", prose_dir),
            f"- {trials['trial'].nunique()} trials x {trials['strategy'].nunique()} selection strategies",
            [("every trial (best first)", trials[["trial", *params, "strategy", *DIAG_COLUMNS]].set_index("trial"))],
        )
    )

    figures["importance"] = importance_figure(summary["importance"])
    slides.append(
        Slide(
            "importance",
            "Feature importance",
            read_prose("importance", prose_dir),
            tables=[("top 15 features", summary["importance"].head(15).to_frame("importance"))],
            figures=[("importance", "what the final reranker relies on")],
        )
    )

    selection = Slide("selection", "Choosing the users", read_prose("selection", prose_dir))
    if summary["curve"] is not None:
        curve, budget = summary["curve"], summary["budget"]
        figures["buyer_curve"] = curve_figure(curve, budget)
        at = curve.loc[[n for n in curve.index if n <= budget][-1:]].T
        at.columns = [f"buyers captured at {budget:,} users"]
        at.index.name = "strategy"
        selection.tables.append(("at the budget", at))
        selection.figures.append(("buyer_curve", "share of validation buyers captured vs users submitted"))
    slides.append(selection)

    val_facts = f"- chosen by validation recall: `{best['strategy']}` with {best['trial']}"
    if test:
        val_facts += "\n" + "\n".join(f"- truth file {k}: {_fmt(v)}" for k, v in test.items())
    slides.append(
        Slide(
            "validation",
            "Validation results",
            read_prose("validation", prose_dir),
            val_facts,
            [("validation recall against the baselines", valid)],
            [("validation", "validation recall")],
        )
    )
    return slides, figures


# ---------------------------------------------------------------------------------------------------- renderers


def card_components(slides: list[Slide], figures: dict[str, bytes]) -> list:
    """The slides as Metaflow card components (Markdown, Table, Image), in order."""
    from metaflow.cards import Image, Markdown, Table

    parts = []
    for slide in slides:
        parts.append(Markdown(f"## {slide.title}"))
        for text in (slide.prose, slide.facts):
            if text.strip():
                parts.append(Markdown(text))
        for caption, frame in slide.tables:
            parts.append(Markdown(f"**{caption}**"))
            parts.append(Table.from_dataframe(display_table(frame), truncate=False))
        for name, caption in slide.figures:
            parts.append(Image(src=figures[name], label=caption))
    return parts


CSS = """
html { scroll-snap-type: y mandatory; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; background: #e2e8f0; }
.slide { scroll-snap-align: start; min-height: 100vh; box-sizing: border-box; padding: 3vh 5vw; background: #fff;
         margin-bottom: 8px; display: flex; flex-direction: column; gap: 0.6em; }
.slide h1 { margin: 0; font-size: 2em; color: #1e3a8a; border-bottom: 3px solid #2563eb; padding-bottom: 0.2em; }
.slide .number { color: #64748b; font-size: 0.8em; float: right; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
.cols > div { flex: 1 1 420px; min-width: 0; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.3em 0 1em; }
th, td { border: 1px solid #cbd5e1; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f1f5f9; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 4px; }
figure { margin: 0 0 1em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e2e8f0; }
figcaption { font-size: 0.8em; color: #475569; }
code { background: #f1f5f9; padding: 0 3px; }
@media print { .slide { page-break-after: always; min-height: auto; } body { background: #fff; } }
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
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in shown.to_numpy())
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def render_html(slides: list[Slide], figures: dict[str, bytes], title: str) -> str:
    """One self-contained HTML file: every slide a full-screen section, figures inlined as base64 PNG, no network.

    Arrow keys / PageUp / PageDown move between slides; printing gives one slide per page."""
    import markdown

    sections = []
    for i, slide in enumerate(slides, 1):
        text = "".join(markdown.markdown(t, extensions=["tables"]) for t in (slide.prose, slide.facts) if t.strip())
        tables = "".join(_table_html(caption, frame) for caption, frame in slide.tables)
        images = "".join(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
            f'{base64.b64encode(figures[name]).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            for name, caption in slide.figures
        )
        right = f"<div>{images}</div>" if images else ""
        sections.append(
            f'<section class="slide" id="{slide.key}"><h1>{html.escape(slide.title)}'
            f'<span class="number">{i} / {len(slides)}</span></h1>'
            f'<div class="cols"><div>{text}{tables}</div>{right}</div></section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
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
    stored = _get(data, "report_summary")
    if stored is not None:
        return stored
    graph = None
    try:
        graph = run["_parameters"].task["_graph_info"].data
    except Exception:  # noqa: BLE001 - the diagram is optional
        log.warning("no _graph_info in %s: the pipeline diagram is left out", run.pathspec)
    return summarize(data, run.id, graph)


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


def console_summary(
    summary: dict, *, output_path: str, n_users: int, k: int, model_name: str, data_dir: str, flow_file: str
) -> str:
    """What the run prints at its end: the validation result against the baselines, the submission and, last,
    what to do next (commands that work whoever runs them: the run is named by its id)."""
    run_id, best, valid = summary["run_id"], summary["best"], summary["valid_results"][summary["best"]["strategy"]]
    baselines = ", ".join(f"{name} {r['recall']:.4f}" for name, r in summary["baselines"].items())
    lines = [
        f"Validation ({summary['budget']:,} users): recall {valid['recall']:.4f} with {best['trial']}, users by "
        f"{best['strategy']}; buyers captured {valid['buyers_captured']:.3f} ({int(valid['selected_buyers']):,} of "
        f"{int(valid['buyers']):,}); baselines: {baselines}",
    ]
    hypotheses = summary.get("hypotheses")
    if hypotheses is not None:
        lines += [
            "",
            console_table(hypotheses[[c for c in hypotheses.columns if c in (*DIAG_COLUMNS, *COUNT_COLUMNS)]]),
        ]
    lines += ["", f"Submission: {output_path} ({n_users:,} users x {k} products)"]
    test = summary.get("test_results") or {}
    if test:
        lines.append(f"Against the truth file: recall {test['recall']:.4f} ({int(test['buyers']):,} buyers)")
    mlflow = summary.get("mlflow") or {}
    if mlflow:
        lines.append(f"MLflow: run {mlflow['run_id']}, model {model_name} v{mlflow['model_version']} @champion")
    if summary.get("ablation") is False:
        lines.append("The source ablation was skipped (run with --ablation True for the 'source removed' rows).")
    python = ".venv/bin/python"
    lines += [
        "",
        "Next steps:",
        f"  the report (card)   {python} {flow_file} card view {run_id}/end",
        f"  the slides          {python} -m recsys present --run-id {run_id}   (or: make present)",
        "  the MLflow UI       make ui   (http://127.0.0.1:5000)",
        "  serve the model     make serve   (http://127.0.0.1:5001/invocations)",
        f"  check the file      {python} -m recsys validate {output_path}"
        + (f" --data-dir {data_dir}" if data_dir else ""),
    ]
    return "\n".join(lines)
