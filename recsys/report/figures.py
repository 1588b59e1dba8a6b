"""The report's figures: matplotlib charts drawn from a run summary, each returned as PNG bytes.

Each chart is drawn at the size it is shown on a 1280 x 720 slide (:data:`COLUMN_IN` beside text,
:data:`WIDE_IN` across the slide, about :data:`SLIDE_PX_PER_IN` pixels an inch) and its smallest text is at
least :data:`MIN_PT`, so that no text is under 12 pixels on the slide. The PNG says its smallest text size in
pixels (:data:`FONT_KEY`, read by :func:`figure_facts`): the HTML gives it to ``tools/check_presentation.py``,
which measures what the browser really shows.
"""

from __future__ import annotations

import io
import math
import textwrap

import numpy as np
import pandas as pd

from recsys.report.summaries import feature_label, source_label, strategy_label
from recsys.rows import ALONE, REMOVED, of_kind
from recsys.schema import Action

#: The stages of the action funnel, in order.
FUNNEL = (Action.VISIT, Action.VIEW, Action.LIKE, Action.ADD_BASKET, Action.ORDER)
#: Pixels an inch of a chart on a 1280-pixel slide: a chart beside text is about 670 pixels wide, one across the
#: slide about 1,190.
SLIDE_PX_PER_IN = 100
COLUMN_IN = 6.6
WIDE_IN = 11.8
#: The smallest text of a chart, in points: 10 points at 100 pixels an inch are 13.9 pixels.
MIN_PT = 10
BASE_PT = 12
DPI = 150
#: How the pipeline diagram marks a step run as several tasks at once.
FAN_OUT = "(tasks)"
#: The PNG text chunk holding the size in pixels of the chart's smallest text (at its own resolution).
FONT_KEY = "recsys:smallest-font-px"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": BASE_PT,
            "axes.titlesize": BASE_PT + 1,
            "axes.labelsize": BASE_PT - 1,
            "xtick.labelsize": BASE_PT - 1,
            "ytick.labelsize": BASE_PT - 1,
            "legend.fontsize": MIN_PT + 1,
        }
    )
    return plt


def smallest_font_pt(fig) -> float:
    """The size in points of the smallest text the figure draws (0 when it draws none)."""
    from matplotlib.text import Text

    fig.canvas.draw()  # creates the tick labels
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes, default=0))


def _png(fig, tight: bool = True) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    font_px = smallest_font_pt(fig) * DPI / 72
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None, FONT_KEY: f"{font_px:.1f}"})
    plt.close(fig)
    return buf.getvalue()


def figure_facts(png: bytes) -> dict:
    """A chart's pixel ``width`` and ``height`` and the size in pixels of its smallest text (``font_px``, at the
    PNG's own resolution; NaN for a PNG that does not say it)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        width, height = img.size
        text = getattr(img, "text", {}) or {}
    return {"width": width, "height": height, "font_px": float(text.get(FONT_KEY, math.nan))}


def _wrap(label: str, width: int = 26) -> str:
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def _layers(graph: dict) -> dict[str, int]:
    """Column of each step in the diagram: the longest path from ``start``."""
    depth = {name: 0 for name in graph}
    for _ in range(len(graph)):
        for name, info in graph.items():
            for nxt in info["next"]:
                if nxt in depth:
                    depth[nxt] = max(depth[nxt], depth[name] + 1)
    return depth


def pipeline_boxes(graph: dict) -> list[str]:
    """The diagram's boxes, in order: one per column of the DAG; steps that run side by side share a box, and a
    step run as several tasks at once (a foreach) is marked ``(tasks)``."""
    depth = _layers(graph)
    columns: dict[int, list[str]] = {}
    for name in graph:
        columns.setdefault(depth[name], []).append(name)
    foreach = {n for info in graph.values() if info["type"] == "split-foreach" for n in info["next"]}
    boxes = []
    for col in sorted(columns):
        named = [f"{n} {FAN_OUT}" if n in foreach else n for n in columns[col]]
        boxes.append("\n".join(textwrap.wrap("in parallel: " + ", ".join(named), 18)) if len(named) > 1 else named[0])
    return boxes


def _snake(n: int, per_row: int) -> list[tuple[int, int]]:
    """(row, column) of each of ``n`` boxes, left to right on even rows and back on odd ones, so that every
    arrow is short: along a row, or straight down to the next."""
    out = []
    for i in range(n):
        row, col = divmod(i, per_row)
        out.append((row, col if row % 2 == 0 else per_row - 1 - col))
    return out


def pipeline_figure(graph: dict, per_row: int = 6) -> bytes:
    """The flow's steps as boxes and arrows, row after row (a snake), from the run's own DAG."""
    from matplotlib.patches import FancyBboxPatch

    plt = _plt()
    boxes = pipeline_boxes(graph)
    places = _snake(len(boxes), per_row)
    n_rows = places[-1][0] + 1
    box_h = 0.2 + 0.25 * max(b.count("\n") + 1 for b in boxes)  # inches, every box as tall as the tallest
    row_h = box_h + 0.45
    fig = plt.figure(figsize=(WIDE_IN, row_h * n_rows + 0.1))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, per_row)
    ax.set_ylim(-(row_h * n_rows + 0.1), 0)
    ax.axis("off")
    centre = [(col + 0.5, -0.25 - row * row_h - box_h / 2) for row, col in places]
    for label, (x, y) in zip(boxes, centre, strict=True):
        fill = "#dbeafe" if FAN_OUT in label else "#f1f5f9"
        ax.add_patch(
            FancyBboxPatch((x - 0.4, y - box_h / 2), 0.8, box_h, boxstyle="round,pad=0.02", fc=fill, ec="#334155")
        )
        ax.text(x, y, label, ha="center", va="center", fontsize=BASE_PT)
    arrow = {"arrowstyle": "-|>", "lw": 1.5, "color": "#475569"}
    for (x0, y0), (x1, y1) in zip(centre, centre[1:], strict=False):
        if y0 == y1:  # along the row
            step = 0.42 if x1 > x0 else -0.42
            ax.annotate("", xy=(x1 - step, y1), xytext=(x0 + step, y0), arrowprops=arrow)
        else:  # down to the next row
            ax.annotate("", xy=(x1, y1 + box_h / 2 + 0.03), xytext=(x0, y0 - box_h / 2 - 0.03), arrowprops=arrow)
    return _png(fig, tight=False)


def funnel_figure(funnel: pd.DataFrame, buyers: pd.Series | None = None) -> bytes:
    """Rows per action (log scale) above the users reaching each stage of the funnel; for a log of one action
    (orders only: no funnel to draw) the buyers of each validation window (``buyers``: window label -> count)."""
    plt = _plt()
    if len(funnel) == 1 and buyers is not None and len(buyers):
        fig, ax = plt.subplots(figsize=(COLUMN_IN, min(5.4, 1.0 * len(buyers) + 2.6)))
        ax.barh(buyers.index[::-1], buyers.to_numpy()[::-1], color="#2563eb")
        for y, v in enumerate(buyers.to_numpy()[::-1]):
            ax.text(v, y, f" {int(v):,}", va="center", fontsize=MIN_PT + 1)
        ax.set_xlim(0, buyers.max() * 1.2)
        ax.set_title(f"buyers in each validation window (all {funnel.index[0]} events)")
        return _png(fig)
    stages = [a.name.lower() for a in FUNNEL if a.name.lower() in funnel.index]
    rows = funnel["rows"].sort_values()
    height = 0.24 * (len(rows) + len(stages)) + 1.6
    fig, axes = plt.subplots(2, 1, figsize=(COLUMN_IN, min(height, 5.4)), height_ratios=[len(rows), len(stages)])
    axes[0].barh(rows.index, rows.to_numpy(), color="#64748b")
    axes[0].set_xscale("log")
    axes[0].set_title("events per action (log scale)")
    users = funnel.loc[stages, "users"][::-1]
    axes[1].barh(users.index, users.to_numpy(), color="#2563eb")
    for y, v in enumerate(users.to_numpy()):
        axes[1].text(v, y, f" {v:,}", va="center", fontsize=MIN_PT)
    axes[1].set_xlim(0, users.max() * 1.2)
    axes[1].set_title("users reaching each stage of the funnel")
    return _png(fig)


def candidate_recall_figure(table: pd.DataFrame) -> bytes:
    """Each source's candidate recall at each list length (validation windows)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_IN, 0.5 * len(table) + 1.8))
    frame = table[::-1].rename(index=lambda s: _wrap(source_label(s), 22))
    frame.columns = [c.replace("recall_at_", "among the first ") for c in frame.columns]
    frame.plot.barh(ax=ax)
    ax.set_ylabel("")
    ax.set_xlabel("share of the validation buyers'\npurchases among the candidates")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return _png(fig)


def source_figure(hypotheses: pd.DataFrame) -> bytes:
    """Each source alone and the model without it, against all sources."""
    plt = _plt()
    recall = hypotheses["recall"].astype(float)
    alone, removed = (
        of_kind(hypotheses, kind)["recall"].astype(float).rename(lambda s: _wrap(source_label(s), 20))
        for kind in (ALONE, REMOVED)
    )
    frame = pd.DataFrame({"this source alone": alone, "all but this one": removed}).sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(5.0, 0.55 * len(frame) + 2.2))
    frame.plot.barh(ax=ax, color=["#94a3b8", "#2563eb"])
    ax.axvline(recall.iloc[0], color="#dc2626", linestyle="--", label=f"all sources ({recall.iloc[0]:.3f})")
    low = float(np.nanmin(frame.to_numpy())) if frame.notna().any().any() else 0.0
    ax.set_xlim(max(0.0, low * 0.8), float(np.nanmax([frame.max().max(), recall.iloc[0]])) * 1.05)
    ax.set_xlabel("validation recall\n(the axis starts near the smallest)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.4, 1.0), ncol=2, frameon=False)
    return _png(fig)


def importance_figure(importance: pd.Series, n: int = 12) -> bytes:
    """The final reranker's strongest features, across the slide."""
    plt = _plt()
    top = importance.head(n)[::-1].rename(feature_label)
    fig, ax = plt.subplots(figsize=(WIDE_IN, max(2.6, 0.3 * len(top) + 0.9)))
    ax.barh(top.index, top.to_numpy(), color="#0f766e")
    ax.set_xlabel("how much the feature moves the reranker's scores (CatBoost's importance)")
    return _png(fig)


def curve_figure(curve: pd.DataFrame, budget: int) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_IN, 4.4))
    for strategy in curve.columns:
        ax.plot(curve.index, curve[strategy], label=strategy_label(strategy))
    ax.axvline(budget, color="#555", linestyle=":", label=f"budget ({budget:,} users)")
    ax.set_xlabel("users submitted (most likely first)")
    ax.set_ylabel("share of the window's buyers captured")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    return _png(fig)


def validation_figure(table: pd.DataFrame, chosen: str = "") -> bytes:
    """Recall of the chosen model (``chosen``: its row, in blue) and the baselines with a 95% interval (± 2
    standard errors of the mean over the validation windows)."""
    if "recall_se" not in table:  # never an interval of zero width for a figure that says it draws one
        raise ValueError(f"a validation figure needs each row's recall_se; the table has {list(table.columns)}")
    plt = _plt()
    recall = table["recall"].astype(float).to_numpy()
    se = table["recall_se"].astype(float).fillna(0).to_numpy()
    fig, ax = plt.subplots(figsize=(COLUMN_IN, max(2.4, 0.7 * len(recall) + 1.2)))
    mark = list(table.index).index(chosen) if chosen in table.index else -1  # the chosen model in blue
    _interval_bars(ax, [_wrap(s, 24) for s in table.index], recall, se, highlight=mark)
    ax.set_xlabel("mean validation recall over the windows\nwith its 95% interval")
    return _png(fig)


def _interval_bars(ax, labels: list[str], recall: np.ndarray, se: np.ndarray, highlight: int = 0) -> None:
    """Horizontal bars of recalls with ± 2 standard errors, the ``highlight``-th (from the top) in blue; each
    value written inside its bar."""
    n = len(labels)
    colors = ["#2563eb" if i == n - 1 - highlight else "#64748b" for i in range(n)]
    ax.barh(labels[::-1], recall[::-1], xerr=2 * se[::-1], color=colors, capsize=4)
    for y, v in enumerate(recall[::-1]):
        ax.text(v * 0.02, y, f"{v:.3f}", va="center", fontsize=MIN_PT + 1, color="white", fontweight="bold")
    ax.set_xlim(0, float(np.nanmax(recall + 2 * se)) * 1.3)


def trials_figure(rows: pd.DataFrame) -> bytes:
    """Each trial under each user-selection strategy (``rows``: label, recall, recall_se; best first)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_IN, max(2.4, 0.6 * len(rows) + 1.3)))
    se = rows["recall_se"].astype(float).fillna(0).to_numpy()
    _interval_bars(ax, [_wrap(s, 28) for s in rows["label"]], rows["recall"].astype(float).to_numpy(), se)
    ax.set_xlabel("mean validation recall with its 95% interval")
    return _png(fig)


def windows_figure(windows: pd.DataFrame) -> bytes:
    """The chosen model's recall on each validation window (± 2 standard errors) beside the window's ceiling."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(COLUMN_IN, max(3.0, 0.9 * len(windows) + 2.0)))
    recall = windows["recall"].astype(float).to_numpy()
    se = windows["recall_se"].astype(float).fillna(0).to_numpy() if "recall_se" in windows else recall * 0
    labels = list(windows.index.astype(str))
    _interval_bars(ax, labels, recall, se, highlight=-1)
    if "ceiling" in windows and windows["ceiling"].notna().any():
        ax.scatter(windows["ceiling"].astype(float).to_numpy()[::-1], labels[::-1], marker="|", s=400,
                   color="#dc2626", label="ceiling of the candidates", zorder=3)  # fmt: skip
        ax.set_xlim(0, float(np.nanmax([windows["ceiling"].max(), *(recall + 2 * se)])) * 1.3)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_xlabel("recall on each validation window\nwith its 95% interval")
    return _png(fig)
