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
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.experiment import BEST_TRIAL_ROW, PLAIN_ROW
from recsys.metrics import paired_difference
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.split import cut_kind

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


def verdict_inputs(data, hypotheses: pd.DataFrame | None = None) -> dict:
    """The part of a run's summary that :func:`hypothesis_verdicts` reads, from the run's artifacts (``data`` as in
    :func:`summarize`; ``hypotheses``: the hypothesis table, where it is not an artifact yet)."""
    return {
        "hypotheses": _get(data, "hypotheses") if hypotheses is None else hypotheses,
        # the recall of each buyer behind the hypotheses' rows (None: a run from before paired verdicts)
        "buyer_recalls": _get(data, "buyer_recalls"),
        "trials": data.trial_table,
        "best": {"strategy": data.best_strategy},
        "valid_results": data.valid_results,
        "baselines": data.baseline_results,
    }


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
            name: _get(data, attr, _get(data, "train_cuts") if attr == "n_train_cuts" else None)
            for name, attr in (
                ("data", "resolved_data_dir"),
                ("top users", "top_users"),
                ("k", "k"),
                ("seed", "seed"),
                ("training cuts (daily)", "n_train_cuts"),  # --train-cuts, or fewer on a short log
                ("buyer-model cuts (daily, at most)", "buyer_cuts"),
                ("validation windows", "valid_windows"),
                ("trials", "trials_n"),
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
        **verdict_inputs(data),
        "best": {"trial": data.best_params.label, "strategy": strategy, "valid recall": float(data.valid_recall)},
        "importance": data.feature_importance.head(30),
        "test_results": dict(data.test_results or {}),
        "mlflow": _get(data, "mlflow"),
        "tracking_uri": _get(data, "mlflow_uri"),
        "budget": int(data.top_users),
        "curve": None,
        # None: an older run; False: the flow ran with --ablation False and has no "source removed" rows
        "ablation": _get(data, "ablation"),
        "horizon": next(iter(data.cuts.values())).horizon_days,
    }
    by_window = _get(data, "valid_by_window") or {}
    summary["windows"] = {w: r[strategy] for w, r in by_window.items()}  # the chosen model on each window
    scores = _get(data, "selection_scores")
    if scores is not None and "bought" in scores:
        strategies = [c for c in scores.columns if c != "bought"]
        newest = next(iter(summary["windows"].values()), valid[strategy])  # the curve is the newest window's
        summary["curve"] = buyer_curve(scores, int(newest["buyers"]), strategies, int(data.top_users))
    return summary


def candidate_recall_table(source_metrics: dict[str, float], kind: str = "valid") -> pd.DataFrame:
    """Source x recall@N, averaged over the cuts of one kind (the validation windows ``valid``, ``valid2``, ...),
    from the branches' ``source.cut.recall_at_N`` metrics."""
    rows: dict[str, dict[str, list[float]]] = {}
    for key, value in source_metrics.items():
        source, where, metric = key.split(".")
        if cut_kind(where) == kind:
            rows.setdefault(source, {}).setdefault(metric, []).append(value)
    frame = pd.DataFrame({s: {m: float(np.mean(v)) for m, v in r.items()} for s, r in rows.items()}).T
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
    alone = recall[recall.index.str.startswith("source alone: ")].rename(lambda s: source_label(s.split(": ", 1)[1]))
    removed = recall[recall.index.str.startswith("source removed: ")].rename(
        lambda s: source_label(s.split(": ", 1)[1])
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


# -------------------------------------------------------------------------------------------------------- slides

#: Names a person reads, for the identifiers of strategies, sources, baselines, metrics and features.
STRATEGY_LABELS = {
    "expected_recall": "P(buy) × expected recall",
    "p_buy": "P(buy) alone",
    "activity": "recent activity (baselines' ranking)",
}
SOURCE_LABELS = {
    "history": "the user's own history",
    "neighbours": "similar users (TIFU-kNN)",
    "covisit": "co-visitation",
    "als": "ALS (matrix factorisation)",
    "faiss": "title neighbours (FAISS)",
    "popular": "popular overall",
    "popular_category": "popular in the user's categories",
}
BASELINE_LABELS = {
    "organisers": "organisers' baseline (last basket adds)",
    "history_popularity": "history + popularity baseline",
}
METRIC_LABELS = {
    "recall": "recall",
    "recall_se": "± s.e.",
    "buyers_captured": "buyers captured",
    "recall_selected": "recall of chosen buyers",
    "selected_precision": "chosen who buy",
    "ceiling": "ceiling",
    "recall_new": "from new products",
    "history_ceiling": "history ceiling",
    "buyers": "buyers",
    "selected": "users",
    "selected_buyers": "chosen buyers",
}
_WORDS = {
    "ui": "user × item:",
    "u": "user:",
    "i": "item:",
    "addb": "basket adds",
    "delb": "basket removals",
    "listb": "basket views",
    "visitcat": "category visits",
    "all": "(all time)",
    "n": "number of",
}


def strategy_label(name: str) -> str:
    return STRATEGY_LABELS.get(name, name.replace("_", " "))


def source_label(name: str) -> str:
    return SOURCE_LABELS.get(name, name.replace("_", " "))


def feature_label(name: str) -> str:
    """``ui_days_since_order`` -> ``user × item: days since order``; ``s_als_rank`` -> ``ALS (...): rank``."""
    if name.startswith("s_") and name.endswith(("_score", "_rank")):
        source, _, what = name[2:].rpartition("_")
        return f"{source_label(source)}: {what}"
    words = []
    for word in name.split("_"):
        if word.isdigit():
            words.append(f"({word} d)")
        else:
            words.append(_WORDS.get(word, word))
    return " ".join(words)


def row_label(name: str) -> str:
    """A hypothesis or validation row name (``reranker (p_buy)``, ``baseline: organisers``, ``source alone: als``)
    as a person reads it."""
    if name.startswith("reranker ("):
        return f"reranker, users by {strategy_label(name[len('reranker (') : -1])}"
    kind, _, what = name.partition(": ")
    if kind == "baseline":
        return BASELINE_LABELS.get(what, what)
    if kind == "source alone":
        return f"only {source_label(what)}"
    if kind == "source removed":
        return f"all but {source_label(what)}"
    if name == PLAIN_ROW:
        return PLAIN_LABEL
    return name


METRIC_COLUMNS = ("recall", "recall_se", "buyers_captured", "recall_selected")


def metric_table(frame: pd.DataFrame, columns=METRIC_COLUMNS):
    """Rows with readable names, the given diagnostics with readable headers."""
    cols = [c for c in columns if c in frame]
    out = frame[cols].rename(index=row_label, columns=METRIC_LABELS)
    out.index.name = ""
    return out


@dataclass
class Slide:
    """One slide (one card section): versioned prose, facts from the run, tables and figures. ``appendix``
    slides hold the detail (full tables, identifiers) that the main slides leave out."""

    key: str
    title: str
    prose: str = ""
    facts: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (figure name, caption)
    appendix: bool = False
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (big number, what it is)
    diagram: list[tuple[str, str]] = field(default_factory=list)  # boxes of a left-to-right flow: (title, text)


def read_prose(key: str, prose_dir: Path | None = None, values: dict | None = None) -> str:
    """The slide's versioned prose, with ``{top_users}``, ``{k}``, ``{horizon}``... filled from the run."""
    path = Path(prose_dir or PROSE_DIR) / f"{key}.md"
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    for key, value in (values or {}).items():  # plain replacement: the prose may hold JSON braces
        text = text.replace("{" + key + "}", str(value))
    return text


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return str(value)


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as text cells (floats to 4 decimals): a named or labelled index becomes the first column, a plain
    0..N index is dropped."""
    if frame.index.name or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index().rename(columns={"index": ""})
    return frame.map(_fmt).rename(columns=str)


def validation_table(summary: dict) -> pd.DataFrame:
    """The reranker under each selection strategy next to the baselines (validation), best first."""
    rows = {f"reranker ({s})": r for s, r in summary["valid_results"].items()}
    rows.update({f"baseline: {n}": r for n, r in summary["baselines"].items()})
    frame = pd.DataFrame(rows).T
    for column in ("recall_se", "ceiling"):
        if column not in frame:
            frame[column] = np.nan
    frame.index.name = "validation"
    return frame.sort_values("recall", ascending=False)


def compare(a: dict, b: dict, paired: tuple[float, float] | None = None) -> str:
    """``higher`` / ``lower`` when the difference of the two recalls exceeds twice its standard error (a
    two-sided z-test at about 95%), else ``no measurable difference``.

    ``paired``: the difference and its standard error computed buyer by buyer over the same windows
    (:func:`recsys.metrics.paired_difference`), the right error for two rows scored on the same buyers. Without
    it the error is sqrt(se_a² + se_b²), which ignores that the two figures share their hard and easy buyers:
    conservative, never optimistic (3-8 times the paired error on the dev cases, README "Hypotheses")."""
    if paired is not None and not math.isnan(paired[1]):
        diff, margin = paired[0], 2 * paired[1]
    else:
        sa, sb = (float(x.get("recall_se", float("nan"))) for x in (a, b))
        if math.isnan(sa) or math.isnan(sb):
            return "no interval"
        diff, margin = float(a["recall"]) - float(b["recall"]), 2 * math.hypot(sa, sb)
    if diff > margin:
        return "higher"
    if -diff > margin:
        return "lower"
    return "no measurable difference"


def _pm(r: dict) -> str:
    se = r.get("recall_se")
    return f"{r['recall']:.3f}" + ("" if se is None or (isinstance(se, float) and math.isnan(se)) else f" ± {se:.3f}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def search_note(n_trials: int, best: dict) -> str:
    """What the run searched and chose, in a sentence (one trial: the known-good one alone, no search)."""
    chosen = f"**{best['trial']}**, users by {strategy_label(best['strategy'])}"
    if n_trials == 1:
        return (
            f"This run trained one trial, the known-good configuration (the default: a second, random trial never "
            f"won on the benchmark logs; `--trials 8` or more searches): {chosen}."
        )
    return f"{n_trials} trials; chosen: {chosen}."


def _by_window(recalls: pd.DataFrame | None, row: str) -> dict[str, pd.Series]:
    """One hypothesis row's recall per buyer, per window, from the run's ``buyer_recalls`` table."""
    if recalls is None or row is None:
        return {}
    mine = recalls[recalls["row"] == row]
    return {w: part.set_index(C.USER)["recall"] for w, part in mine.groupby("window", sort=False)}


#: How the hypothesis about each removed source ends (after the source's label).
PER_SOURCE_HYPOTHESIS = " earns its place (the model without it)"
PLAIN_LABEL = "plain two-stage (4 sources, 10 counts, 1 window)"


def truth_sentence(test: dict, bold: bool = False) -> str:
    """The truth-file result in words: the recall ± its standard error, the buyers, and (runs since the
    comparison was added) the history + popularity baseline's recall on the same file, the ratio and the
    difference buyer by buyer with its verdict."""
    mark = "**" if bold else ""
    se = test.get("recall_se")
    text = f"recall {mark}{test['recall']:.4f}{mark}"
    text += f" ± {se:.4f}" if se is not None and not math.isnan(se) else ""
    text += f" ({int(test['buyers']):,} buyers)"
    base = test.get("baseline_recall")
    if base is None or math.isnan(base):
        return text
    ratio = f"{test['recall'] / base:.2f} ×" if base > 0 else "n/a"
    diff, diff_se = test["baseline_difference"], test["baseline_difference_se"]
    verdict = compare(test, {"recall": base}, (diff, diff_se))
    return (
        f"{text}; the history + popularity baseline {base:.4f}: {ratio}, {diff:+.4f} ± {diff_se:.4f} buyer by "
        f"buyer ({verdict})"
    )


def hypothesis_verdicts(summary: dict) -> pd.DataFrame:
    """The run's hypotheses, each as ``what is compared``, the two recalls ± s.e., the difference buyer by buyer
    ± its standard error (runs that stored the recall per buyer) and a verdict from that difference's interval
    (from the two figures' intervals otherwise: :func:`compare`)."""
    valid, best = summary["valid_results"], summary["best"]
    chosen = valid[best["strategy"]]
    chosen_row = f"reranker ({best['strategy']})"
    recalls = summary.get("buyer_recalls")
    rows = []

    def add(hypothesis, a, b, row_a=None, row_b=None):
        a_w, b_w = _by_window(recalls, row_a), _by_window(recalls, row_b)
        paired = paired_difference(a_w, b_w) if a_w and b_w else None
        line = {"hypothesis": hypothesis, "this": _pm(a), "against": _pm(b)}
        if recalls is not None:
            line["difference (paired)"] = "" if paired is None else f"{paired[0]:+.3f} ± {paired[1]:.3f}"
        rows.append({**line, "verdict": compare(a, b, paired)})

    baselines = summary["baselines"]
    top_baseline = max(baselines, key=lambda n: baselines[n]["recall"])
    add(f"the model beats the {BASELINE_LABELS.get(top_baseline, top_baseline)}", chosen, baselines[top_baseline],
        chosen_row, f"baseline: {top_baseline}")  # fmt: skip
    if "activity" in valid and "expected_recall" in valid:
        add("users by P(buy) × expected recall beat users by recent activity", valid["expected_recall"],
            valid["activity"], "reranker (expected_recall)", "reranker (activity)")  # fmt: skip
    if "p_buy" in valid and "expected_recall" in valid:
        add("expected recall adds to P(buy) alone", valid["expected_recall"], valid["p_buy"],
            "reranker (expected_recall)", "reranker (p_buy)")  # fmt: skip
    trials = summary["trials"]
    if trials["objective"].nunique() > 1:
        best_of = trials.sort_values("recall", ascending=False).drop_duplicates("objective").set_index("objective")
        objectives = list(best_of.index[:2])
        add(f"{objectives[0]} beats {objectives[1]} (best trial of each)", best_of.loc[objectives[0]].to_dict(),
            best_of.loc[objectives[1]].to_dict(), *(BEST_TRIAL_ROW.format(o) for o in objectives))  # fmt: skip
    hypotheses = summary.get("hypotheses")
    if hypotheses is not None:
        alone = hypotheses[hypotheses.index.str.startswith("source alone: ")]
        if len(alone):
            top = alone["recall"].astype(float).idxmax()
            add(f"the reranker adds to its best single source ({source_label(top.split(': ', 1)[1])})", chosen,
                alone.loc[top].to_dict(), chosen_row, top)  # fmt: skip
        if PLAIN_ROW in hypotheses.index and not math.isnan(float(hypotheses.loc[PLAIN_ROW, "recall"])):
            add(f"the reranker beats a {PLAIN_LABEL}", chosen, hypotheses.loc[PLAIN_ROW].to_dict(), chosen_row,
                PLAIN_ROW)  # fmt: skip
        for name, row in hypotheses[hypotheses.index.str.startswith("source removed: ")].iterrows():
            add(f"{source_label(name.split(': ', 1)[1])}{PER_SOURCE_HYPOTHESIS}", chosen,
                row.to_dict(), chosen_row, name)  # fmt: skip
    return pd.DataFrame(rows).set_index("hypothesis")


def _shared_this(verdicts: pd.DataFrame, caption: str) -> tuple[str, pd.DataFrame]:
    """A verdict table for a slide: where every row compares the same figure (the chosen model), that figure goes
    into the caption instead of a column repeating it (the table fits beside a figure)."""
    if len(verdicts) and verdicts["this"].nunique() == 1:
        return f"{caption}; the chosen model: {verdicts['this'].iloc[0]}", verdicts.drop(columns="this")
    return caption, verdicts


def build_slides(summary: dict, prose_dir: Path | None = None) -> tuple[list[Slide], dict[str, bytes]]:
    """The jury deck of a run summary (main slides, then the appendix) and its figures (name -> PNG)."""
    figures: dict[str, bytes] = {}
    slides: list[Slide] = []
    best, test, params = summary["best"], summary["test_results"], summary["params"]
    pool_users = len(summary["cuts"]) and int(summary["cuts"]["users scored"].iloc[0])
    budget = int(summary["budget"])
    values = {
        "top_users": f"{budget:,}",
        "k": params.get("k"),
        "horizon": summary.get("horizon", 3),
        "candidates": params.get("candidates per source"),
        "pool": f"{pool_users:,}",
        "windows": len(summary.get("windows") or {}) or 1,
    }
    # a log with fewer active users than the budget submits them all: "the best 3,000 of 2,185" reads wrong
    values["submitted"] = (
        f"The best {budget:,} of a pool of {pool_users:,} users (the likeliest buyers among the most active) are "
        "submitted"
        if pool_users > budget
        else f"All {pool_users:,} active users of the pool are submitted (the budget is {budget:,})"
    )
    values["submitted_box"] = f"the best {budget:,} users" if pool_users > budget else f"all {pool_users:,} users"
    valid = validation_table(summary)
    chosen = summary["valid_results"][best["strategy"]]
    baselines = valid[valid.index.str.startswith("baseline")]
    top_baseline = baselines["recall"].astype(float).max()

    # 1. title
    title = Slide(
        "title",
        f"Who buys in the next {values['horizon']} days, and what",
        read_prose("title", prose_dir, values),
        f"Run `{summary['run_id']}` on `{Path(str(params.get('data'))).name}`",
    )
    title.numbers = [
        (f"{chosen['recall']:.3f}", "validation recall"),
        (f"× {chosen['recall'] / top_baseline:.2f}" if top_baseline else "n/a", "the best baseline, validation"),
    ]
    if test:
        title.numbers.append((f"{test['recall']:.3f}", "recall on the held-out truth"))
        if test.get("baseline_recall"):  # runs since the truth file is also scored for the baseline
            title.numbers.append((f"× {test['recall'] / test['baseline_recall']:.2f}", "the baseline, held-out truth"))
    slides.append(title)

    # 2. the task and the metric
    slides.append(Slide("task", "The task and the metric", read_prose("task", prose_dir, values)))

    # 3. the data at a glance
    data = summary["data"]
    figures["funnel"] = funnel_figure(summary["funnel"])
    glance = Slide("data", "The data at a glance", read_prose("data", prose_dir, values))
    glance.numbers = [
        (f"{data['users']:,}", "users"),
        (f"{data['items']:,}", "products"),
        (f"{data['interaction rows (exploded)']:,}", "events (one per product)"),
        (f"{int(chosen['buyers']):,}", f"buyers in the last {values['horizon']} days"),
    ]
    glance.figures.append(("funnel", "events per action, and users at each stage of the funnel"))
    slides.append(glance)

    # 4. the approach
    approach = Slide(
        "approach", "The approach: two stages, and choosing the users", read_prose("approach", prose_dir, values)
    )
    n_sources = len(summary["candidate_recall"]) or len(SOURCE_LABELS)
    approach.diagram = [
        ("Candidates", f"{n_sources} sources in parallel, up to {values['candidates']} products each per user"),
        ("Features", "the user's actions on the product, their purchase rhythm, demand, source ranks"),
        ("Reranker", f"CatBoost, {_count(summary['trials']['trial'].nunique(), 'trial')}; calibrated probabilities"),
        ("Buyer model", "P(buy) of each of the pool's users"),
        ("Submission", f"{values['submitted_box']} × {values['k']} products"),
    ]
    slides.append(approach)

    # 5. results against the baselines
    figures["validation"] = validation_figure(metric_table(valid.head(4), ("recall", "recall_se")))
    results = Slide(
        "results",
        "Results against the baselines",
        read_prose("results", prose_dir, values),
        tables=[("validation: mean over the windows before the log ends", metric_table(valid))],
        figures=[("validation", "validation recall with its 95% interval")],
    )
    if test:
        results.facts = f"On the held-out days after the log (truth file): {truth_sentence(test, bold=True)}."
    slides.append(results)

    # 6. where the score comes from
    selection = Slide("selection", "Where the score comes from", read_prose("selection", prose_dir, values))
    selection.numbers = [
        (f"{chosen['buyers_captured']:.2f}", "of the buyers are among the chosen users"),
        (f"{chosen['recall_selected']:.2f}", "recall of the chosen buyers"),
    ]
    if "ceiling" in chosen and not pd.isna(chosen.get("ceiling")):
        selection.numbers.append((f"{chosen['ceiling']:.2f}", "ceiling: a perfect ranking of the same candidates"))
    if "history_ceiling" in chosen and not pd.isna(chosen.get("history_ceiling")):
        known = chosen["recall_rebought"] + chosen["recall_seen"]
        selection.numbers.append(
            (f"{known:.2f}", f"of the {chosen['recall']:.2f} from products the buyers had met before the window")
        )
        selection.numbers.append((f"{chosen['history_ceiling']:.2f}", "ceiling: their own history ranked perfectly"))
    if summary["curve"] is not None:
        figures["buyer_curve"] = curve_figure(summary["curve"], summary["budget"])
        selection.figures.append(("buyer_curve", "buyers captured as more users are submitted"))
    slides.append(selection)

    # 7. hypotheses with verdicts (each source removed: the figure here, its verdicts in the appendix)
    verdicts = hypothesis_verdicts(summary)
    per_source = verdicts.index.str.endswith(PER_SOURCE_HYPOTHESIS)
    hyp_table = _shared_this(verdicts[~per_source], "mean validation recall ± standard error over the windows")
    hyp = Slide(
        "hypotheses", "Hypotheses and verdicts", read_prose("hypotheses", prose_dir, values), tables=[hyp_table]
    )
    # the sources figure sits beside the verdicts when they fit in four columns; when the rows compare different
    # figures of the model (a "this" column) the table needs the slide's width and the figure goes to the appendix
    source_figure_slide = hyp if "this" not in hyp_table[1].columns else None
    if summary.get("ablation") is False:
        hyp.facts = (
            "The source ablation was skipped in this run: the model was not retrained without each source "
            "(run the flow with `--ablation True` for those rows)."
        )
    elif summary["hypotheses"] is not None and summary["hypotheses"].index.str.startswith("source removed").any():
        figures["sources"] = source_figure(summary["hypotheses"])
        if source_figure_slide is not None:
            hyp.figures.append(("sources", "each source alone, and the model without it"))
    slides.append(hyp)
    # the appendix names each row by its source: "X earns its place (the model without it)" in a narrow column
    # took five lines a row
    removed_verdicts = verdicts[per_source].rename(index=lambda h: h.replace(PER_SOURCE_HYPOTHESIS, ""))
    removed_verdicts.index.name = "source removed"

    # 8. the hyperparameter search
    trials = summary["trials"]
    best_rows = trials.sort_values("recall", ascending=False).drop_duplicates("trial")
    search = pd.DataFrame(
        {
            "trial": [_trial_label(r) for _, r in best_rows.iterrows()],
            "trees kept": best_rows["trees"].astype(int).to_numpy() if "trees" in best_rows else "",
            "users by": best_rows["strategy"].map(strategy_label).to_numpy(),
            "recall": best_rows["recall"].map(lambda v: f"{v:.4f}").to_numpy(),
            "± s.e.": best_rows.get("recall_se", pd.Series(np.nan, index=best_rows.index)).map(_fmt).to_numpy(),
        }
    ).head(8)
    slides.append(
        Slide(
            "search",
            "The hyperparameter search",
            read_prose("search", prose_dir, values),
            search_note(trials["trial"].nunique(), best),
            tables=[("each trial with its best user-selection strategy, best first", search.set_index("trial"))],
        )
    )

    # 9. what the reranker uses
    figures["importance"] = importance_figure(summary["importance"])
    slides.append(
        Slide(
            "importance",
            "What the reranker relies on",
            read_prose("importance", prose_dir, values),
            figures=[("importance", "feature importance of the final reranker")],
        )
    )

    # 10. serving
    mlflow = summary.get("mlflow") or {}
    serving = Slide("serving", "Serving the model", read_prose("serving", prose_dir, values))
    if mlflow:
        serving.facts = (
            f"Registered as `stokman-recommender` version **{mlflow.get('model_version')}** (alias champion), "
            f"MLflow run `{mlflow.get('run_id')}`."
        )
    slides.append(serving)

    # 11. limitations and next steps
    slides.append(Slide("limitations", "Limitations and next steps", read_prose("limitations", prose_dir, values)))

    # appendix
    if len(removed_verdicts):
        slides.append(
            Slide(
                "appendix_sources",
                "Appendix: the model retrained without each source",
                tables=[_shared_this(removed_verdicts, "does each source earn its place? validation recall ± s.e.")],
                figures=[] if source_figure_slide is not None else [("sources", "each source alone, and without it")],
                appendix=True,
            )
        )
    cleaning = pd.Series(summary["cleaning"], name="count", dtype=object)
    nonzero = cleaning[cleaning.astype(int) != 0].to_frame()
    nonzero.index.name = "loader report"
    # two slides: at the real volume the loader's report and six training cuts do not fit one 16:9 frame
    slides.append(
        Slide(
            "appendix_data",
            "Appendix: what the loader cleaned",
            f"{int((cleaning.astype(int) == 0).sum())} other checks found nothing to clean.",
            tables=[("counts (non-zero)", nonzero)],
            appendix=True,
        )
    )
    slides.append(
        Slide(
            "appendix_cuts",
            "Appendix: the time cuts",
            tables=[
                ("time cuts of this run (a training cut scores only its buyers: all it learns from)", summary["cuts"])
            ],
            appendix=True,
        )
    )
    appendix_models = Slide("appendix_models", "Appendix: the pipeline and the candidate sources", appendix=True)
    if summary["graph"]:
        figures["pipeline"] = pipeline_figure(summary["graph"], len(summary["trials"]["trial"].unique()))
        appendix_models.figures.append(("pipeline", "the run's Metaflow steps"))
    if not summary["candidate_recall"].empty:
        figures["candidate_recall"] = candidate_recall_figure(summary["candidate_recall"])
        appendix_models.figures.append(("candidate_recall", "candidate recall per source (validation windows)"))
    slides.append(appendix_models)
    if summary.get("windows"):
        per_window = pd.DataFrame(summary["windows"]).T
        cuts = summary["cuts"]
        windows = metric_table(per_window, (*METRIC_COLUMNS, "ceiling", "recall_new", "history_ceiling"))
        windows.insert(0, "buyers", per_window["buyers"].astype(int).to_numpy())
        starts = [cuts.loc[w, "history before"][:10] for w in per_window.index]
        windows.insert(0, "days", [f"{start} + {values['horizon']}" for start in starts])
        windows.index = per_window.index
        windows.index.name = "window"
        slides.append(
            Slide(
                "appendix_windows",
                "Appendix: the chosen model on each validation window",
                "The figures of the main slides are the means of these rows; the standard error of a mean is the "
                "windows' spread over √n, never below what the buyers of the windows allow.",
                tables=[("validation windows (± s.e. over each window's buyers)", windows)],
                appendix=True,
            )
        )
    shown = ["trial", "objective", "depth", "learning_rate", "iterations", "negatives", "train_cuts", "trees"]
    shown += ["strategy", "recall", "recall_se", "buyers_captured", "recall_selected"]
    codes = trials[[c for c in shown if c in trials.columns]].head(10)
    slides.append(
        Slide(
            "appendix_trials",
            "Appendix: every trial, with its parameters",
            tables=[("trial table (identifiers as in the code and MLflow)", codes.set_index("trial"))],
            appendix=True,
        )
    )
    slides.append(
        Slide(
            "appendix_params",
            "Appendix: the run's parameters",
            tables=[("parameters", pd.Series(params, name="value").map(str).to_frame().rename_axis("parameter"))],
            appendix=True,
        )
    )
    return slides, figures


def _trial_label(row) -> str:
    from recsys.reranker import TrialParams

    fields = {k: row[k] for k in TrialParams.__dataclass_fields__ if k in row}
    try:
        return TrialParams(**{k: v.item() if hasattr(v, "item") else v for k, v in fields.items()}).label
    except (TypeError, ValueError):
        return str(row.get("objective", "trial"))


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
            parts.append(Markdown(f"**{caption}**"))
            shown = display_table(frame)  # text cells: Table.from_dataframe would cut them at 30 characters
            parts.append(Table(data=shown.to_numpy().tolist(), headers=list(shown.columns)))
        for name, caption in slide.figures:
            parts.append(Image(src=figures[name], label=caption))
    return parts


#: Every slide is a 16:9 frame as wide as the window (1280 x 720 on a 1280-pixel screen); sizes are in vw so
#: that the whole deck scales with the window. Content that does not fit is a bug the Chromium check reports.
CSS = """
html { scroll-snap-type: y mandatory; background: #1e293b; }
body { margin: 0; font-family: "DejaVu Sans", system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a; }
.slide { scroll-snap-align: start; width: 100vw; height: 56.25vw; box-sizing: border-box; padding: 2vw 3.2vw 2.6vw;
         background: #fff; overflow: hidden; display: flex; flex-direction: column; gap: 0.9vw; position: relative;
         font-size: 1.45vw; line-height: 1.35; border-bottom: 1px solid #cbd5e1; }
.slide.text-only { font-size: 1.75vw; }
.diagram { display: flex; gap: 2.4vw; margin: 0.4vw 0 0.6vw; }
.diagram .box { flex: 1 1 0; border: 0.15vw solid #2563eb; border-radius: 0.6vw; padding: 0.5vw 0.7vw;
                background: #eff6ff; font-size: 1.05vw; color: #334155; position: relative; }
.diagram .box b { display: block; font-size: 1.35vw; color: #1e3a8a; }
.diagram .box:not(:last-child)::after { content: "\\2192"; position: absolute; right: -2.1vw; top: 30%;
                                        font-size: 1.8vw; color: #2563eb; }
.slide h1 { margin: 0; font-size: 2.3vw; color: #1e3a8a; border-bottom: 0.22vw solid #2563eb; padding-bottom: 0.4vw; }
.slide.appendix h1 { color: #475569; border-color: #94a3b8; font-size: 1.9vw; }
.slide .number { position: absolute; right: 2vw; bottom: 0.9vw; color: #94a3b8; font-size: 0.9vw; }
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
table { border-collapse: collapse; font-size: 1.1vw; margin: 0.2vw 0 0.9vw; }
th, td { border: 1px solid #cbd5e1; padding: 0.15vw 0.6vw; text-align: right; }
th:first-child, td:first-child { text-align: left; }
#hypotheses td:not(:first-child), #appendix_sources td:not(:first-child) { white-space: nowrap; }  /* 0.181 ± 0.014 */
thead th { background: #f1f5f9; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3vw; font-size: 1.05vw; }
figure { margin: 0 0 0.6vw; }
.cols > div.figures:not(:only-child) { flex: 1.35 1 0; }
#hypotheses .cols > div.figures:not(:only-child),
#appendix_sources .cols > div.figures:not(:only-child) { flex: 0.8 1 0; }  /* their verdict tables need the width */
figure img { display: block; width: 100%; max-height: 36vw; object-fit: contain; object-position: left top; }
.figures figure + figure img { max-height: 17vw; }
.cols > div.figures:only-child figure img { max-height: 17vw; }
figcaption { font-size: 0.95vw; color: #475569; }
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
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in shown.to_numpy())
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
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
        images = "".join(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
            f'{base64.b64encode(figures[name]).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            for name, caption in slide.figures
        )
        diagram = "".join(
            f'<div class="box"><b>{html.escape(head)}</b>{html.escape(body)}</div>' for head, body in slide.diagram
        )
        diagram = f'<div class="diagram">{diagram}</div>' if diagram else ""
        left = f"<div>{numbers}{text}{tables}</div>" if numbers or text or tables else ""
        right = f'<div class="figures">{images}</div>' if images else ""
        classes = "slide" + (" appendix" if slide.appendix else "") + (" title" if slide.key == "title" else "")
        classes += " text-only" if not (slide.figures or slide.tables or slide.appendix) else ""
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


def trial_console_table(trials: pd.DataFrame, rows: int = 12) -> str:
    """The trial table (:func:`recsys.experiment.trial_table`, best first) for a terminal: each trial's recipe,
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


def console_summary(
    summary: dict,
    *,
    output_path: str,
    n_users: int,
    k: int,
    model_name: str,
    data_dir: str,
    flow_file: str,
    python: str = ".venv/bin/python",
) -> str:
    """What the run prints at its end: the validation result against the baselines, the submission and, last,
    what to do next (commands that work whoever runs them: the run is named by its id)."""
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
        lines += [
            "",
            console_table(hypotheses[[c for c in hypotheses.columns if c in (*DIAG_COLUMNS, *COUNT_COLUMNS)]]),
        ]
        verdicts = hypothesis_verdicts(summary)
        paired = "difference (paired)" in verdicts
        lines += ["", f"Verdicts ({'the difference buyer by buyer' if paired else 'this vs against'} ± its standard "
                      f"error, over the validation windows):"]  # fmt: skip
        for hypothesis, row in verdicts.iterrows():
            difference = row["difference (paired)"] if paired and row["difference (paired)"] else "unpaired"
            lines.append(f"  {row['verdict']:<25} {difference:<16} {hypothesis}")
    lines += ["", f"Submission: {output_path} ({n_users:,} users x {k} products)"]
    test = summary.get("test_results") or {}
    if test:
        lines.append(f"Against the truth file: {truth_sentence(test)}")
    mlflow = summary.get("mlflow") or {}
    if mlflow:
        lines.append(f"MLflow: run {mlflow['run_id']}, model {model_name} v{mlflow['model_version']} @champion")
    if summary.get("ablation") is False:
        lines.append("The source ablation was skipped (run with --ablation True for the 'source removed' rows).")
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
