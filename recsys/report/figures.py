"""The report's figures: matplotlib charts drawn from a run summary, each returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from recsys.report.summaries import feature_label, source_label, strategy_label
from recsys.rows import ALONE, REMOVED, of_kind
from recsys.schema import Action

#: The stages of the action funnel, in order.
FUNNEL = (Action.VISIT, Action.VIEW, Action.LIKE, Action.ADD_BASKET, Action.ORDER)


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
    alone, removed = (
        of_kind(hypotheses, kind)["recall"].astype(float).rename(source_label) for kind in (ALONE, REMOVED)
    )
    frame = pd.DataFrame({"this source alone": alone, "all sources but this one": removed}).sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    frame.plot.barh(ax=ax, color=["#94a3b8", "#2563eb"])
    ax.axvline(recall.iloc[0], color="#dc2626", linestyle="--", label=f"all sources ({recall.iloc[0]:.3f})")
    low = float(np.nanmin(frame.to_numpy())) if frame.notna().any().any() else 0.0
    ax.set_xlim(max(0.0, low * 0.8), float(np.nanmax([frame.max().max(), recall.iloc[0]])) * 1.05)
    ax.set_xlabel("validation recall (axis starts near the smallest value)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8, frameon=False)
    ax.set_title("what each candidate source is worth")
    return _png(fig)


def importance_figure(importance: pd.Series, n: int = 12) -> bytes:
    plt = _plt()
    top = importance.head(n)[::-1].rename(feature_label)
    fig, ax = plt.subplots(figsize=(8, max(3, 0.3 * len(top) + 1)))
    ax.barh(top.index, top.to_numpy(), color="#0f766e")
    ax.set_xlabel("how much the feature moves the reranker's scores")
    ax.set_title(f"the {len(top)} features the final reranker relies on most")
    return _png(fig)


def curve_figure(curve: pd.DataFrame, budget: int) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for strategy in curve.columns:
        ax.plot(curve.index, curve[strategy], label=strategy_label(strategy))
    ax.axvline(budget, color="#555", linestyle=":", label=f"budget ({budget:,} users)")
    ax.set_xlabel("users submitted (most likely first)")
    ax.set_ylabel("share of the window's buyers captured")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("choosing the users: buyers captured as the list grows")
    return _png(fig)


def validation_figure(table: pd.DataFrame) -> bytes:
    """Recall of the chosen model and the baselines with a 95% interval (± 2 standard errors of the mean over
    the validation windows)."""
    plt = _plt()
    frame = table[::-1]
    recall = frame["recall"].astype(float)
    se = frame["recall_se"].astype(float).fillna(0) if "recall_se" in frame else recall * 0
    colors = ["#2563eb" if i == len(recall) - 1 else "#94a3b8" for i in range(len(recall))]
    fig, ax = plt.subplots(figsize=(8, max(2.4, 0.5 * len(recall) + 1)))
    ax.barh(recall.index, recall.to_numpy(), xerr=2 * se.to_numpy(), color=colors, capsize=4)
    for y, (v, e) in enumerate(zip(recall.to_numpy(), se.to_numpy(), strict=True)):
        ax.text(v + 2 * e + 0.004, y, f"{v:.3f}", va="center", fontsize=9)
    ax.set_xlim(0, float((recall + 2 * se).max()) * 1.2)
    ax.set_xlabel("mean validation recall over the windows\nwith its 95% interval")
    return _png(fig)
