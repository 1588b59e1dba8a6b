"""The numbers of the report: a run read into a small summary dict, the labels a person reads, and the tables,
comparisons and verdicts computed from the summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from recsys.metrics import paired_difference
from recsys.rows import ALONE, BASELINE, BEST_TRIAL, PLAIN, REMOVED, RERANKER, RowKey, keys, of_kind
from recsys.rows import table as row_table
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.split import CutKind, cut_kind

#: Points kept on each buyer-selection curve (the curve of a 12,000-user pool needs no more to be drawn).
CURVE_POINTS = 200

# ----------------------------------------------------------------------------------------------- the run summary


def buyer_curve(scores: pd.DataFrame, n_buyers: int, strategies, budget: int | None = None) -> pd.DataFrame:
    """Share of all the period's buyers among the first N users of each strategy's ranking, for N up to the pool.

    ``scores`` is :func:`recsys.validation.selection_scores` (a ``bought`` flag and one score column per strategy);
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


def run_params(run) -> dict:
    """The run's parameters as the report's appendix lists them (an automatic pool size as the users it means;
    ``run``: a :class:`recsys.records.Run`)."""
    p = run.params
    return {
        "data": run.start.resolved_data_dir,
        "top users": p.top_users,
        "k": p.k,
        "seed": p.seed,
        "training cuts (daily)": run.start.n_train_cuts,  # --train-cuts, or fewer on a short log
        "buyer-model cuts (daily, at most)": p.buyer_cuts,
        "validation windows": p.valid_windows,
        "trials": p.trials_n,
        "pool size": pool_size_label(p.pool_size, p.top_users),
        "candidates per source": p.candidates,
        "identity stitching": p.stitch_identities,
        "grid": p.grid,
    }


def pool_size_label(size: int, top: int):
    """The run's ``--pool-size`` as the report shows it: 0 (automatic) as the users it means."""
    from recsys.settings import POOL_FACTOR

    if size != 0:
        return size
    return f"{POOL_FACTOR * int(top):,} (automatic: {POOL_FACTOR} × top users)"


def verdict_inputs(run, hypotheses: pd.DataFrame | None = None) -> dict:
    """The part of a run's summary that :func:`hypothesis_verdicts` reads, from its records (``run`` as in
    :func:`summarize`; ``hypotheses``: the hypothesis table, where it is not an artifact yet)."""
    chosen, weighed = run.chosen, run.weighed
    return {
        "hypotheses": weighed.hypotheses if hypotheses is None else hypotheses,
        # the recall of each buyer behind the hypotheses' rows (None: a run from before paired verdicts)
        "buyer_recalls": weighed.buyer_recalls,
        "trials": chosen.trial_table,
        "best": {"strategy": chosen.best_strategy},
        "valid_results": chosen.valid_results,
        "baselines": weighed.baseline_results,
    }


def data_facts(ds) -> dict:
    """What the report says about the data (its size, the loader's cleaning counts, the action funnel), taken
    from the log once, at the start, so that the report never loads the log."""
    return {
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
    }


def summarize(run, run_id: str = "", graph: dict | None = None) -> dict:
    """The small summary of a run that the report shows, from its records (``run``: a :class:`recsys.records.Run`,
    :func:`recsys.records.read` of the end step's ``self`` or of a client task's ``data``). ``graph`` is Metaflow's
    ``_graph_info`` (the pipeline diagram)."""
    chosen, final = run.chosen, run.final
    strategy, valid, top = chosen.best_strategy, chosen.valid_results, int(run.params.top_users)
    summary = {
        "run_id": str(run_id),
        "params": run_params(run),
        **run.start.data_facts,
        "cuts": pd.DataFrame(
            [
                {
                    "cut": name,
                    "history before": str(cut.at),
                    "target until": str(cut.target_end),
                    "users scored": len(run.candidates.pools[name]),
                }
                for name, cut in run.start.cuts.items()
            ]
        ).set_index("cut"),
        "graph": {
            name: {"next": list(info.get("next", [])), "type": info.get("type", ""), "doc": info.get("doc") or ""}
            for name, info in ((graph or {}).get("steps") or {}).items()
        },
        "candidate_recall": candidate_recall_table(run.candidates.source_metrics),
        **verdict_inputs(run),
        "best": {"trial": chosen.best_params.label, "strategy": strategy, "valid recall": float(chosen.valid_recall)},
        "importance": final.feature_importance.head(30),
        "test_results": dict(final.test_results or {}),
        "mlflow": run.tracked.mlflow if run.tracked else None,
        "tracking_uri": run.start.mlflow_uri,
        "budget": top,
        "curve": None,
        # None: an older run; False: the flow ran with --ablation False and has no "source removed" rows
        "ablation": run.params.ablation,
        "horizon": next(iter(run.start.cuts.values())).horizon_days,
    }
    by_window = chosen.valid_by_window or {}
    summary["windows"] = {w: r[strategy] for w, r in by_window.items()}  # the chosen model on each window
    scores = chosen.selection_scores
    if scores is not None and "bought" in scores:
        strategies = [c for c in scores.columns if c != "bought"]
        newest = next(iter(summary["windows"].values()), valid[strategy])  # the curve is the newest window's
        summary["curve"] = buyer_curve(scores, int(newest["buyers"]), strategies, top)
    return summary


def candidate_recall_table(source_metrics: dict[str, float], kind: CutKind = CutKind.VALID) -> pd.DataFrame:
    """Source x recall@N, averaged over the cuts of one kind (the validation windows ``valid``, ``valid2``, ...),
    from the branches' ``source.cut.recall_at_N`` metrics."""
    rows: dict[str, dict[str, list[float]]] = {}
    for key, value in source_metrics.items():
        source, where, metric = key.split(".")
        if cut_kind(where) is kind:
            rows.setdefault(source, {}).setdefault(metric, []).append(value)
    frame = pd.DataFrame({s: {m: float(np.mean(v)) for m, v in r.items()} for s, r in rows.items()}).T
    if frame.empty:
        return frame
    frame = frame[sorted(frame.columns, key=lambda c: int(c.rsplit("_", 1)[-1]))]
    frame.index.name = "source"
    return frame.sort_values(frame.columns[-1], ascending=False)


# --------------------------------------------------------------------------------------------- labels and tables

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


def row_label(key: RowKey) -> str:
    """A hypothesis or validation row (:class:`~recsys.rows.RowKey`) as a person reads it."""
    if key.kind == RERANKER:
        return f"reranker, users by {strategy_label(key.subject)}"
    if key.kind == BASELINE:
        return BASELINE_LABELS.get(key.subject, key.subject)
    if key.kind == ALONE:
        return f"only {source_label(key.subject)}"
    if key.kind == REMOVED:
        return f"all but {source_label(key.subject)}"
    if key.kind == PLAIN:
        return PLAIN_LABEL
    return key.name


METRIC_COLUMNS = ("recall", "recall_se", "buyers_captured", "recall_selected")


def metric_table(frame: pd.DataFrame, columns=METRIC_COLUMNS, headers: bool = True):
    """Rows with readable names, the given diagnostics with readable headers (``headers``; False: the columns keep
    their names, for a figure that reads them)."""
    cols = [c for c in columns if c in frame]
    out = frame[cols].rename(columns=METRIC_LABELS) if headers else frame[cols].copy()
    out.index = pd.Index(
        [name if key is None else row_label(key) for name, key in zip(frame.index, keys(frame), strict=True)], name=""
    )
    return out


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


# -------------------------------------------------------------------------------------- comparisons and verdicts


def validation_table(summary: dict) -> pd.DataFrame:
    """The reranker under each selection strategy next to the baselines (validation), best first."""
    rows = {RowKey(RERANKER, s): r for s, r in summary["valid_results"].items()}
    rows.update({RowKey(BASELINE, n): r for n, r in summary["baselines"].items()})
    frame = row_table(rows, "validation")
    for column in ("recall_se", "ceiling"):
        if column not in frame:
            frame[column] = np.nan
    return frame.sort_values("recall", ascending=False)


def compare(a: dict, b: dict, paired: tuple[float, float] | None = None) -> str:
    """``higher`` / ``lower`` when the difference of the two recalls exceeds twice its standard error (a
    two-sided z-test at about 95%), else ``no measurable difference``.

    ``paired``: the difference and its standard error computed buyer by buyer over the same windows
    (:func:`recsys.metrics.paired_difference`), the right error for two rows scored on the same buyers. Without
    it the error is sqrt(se_a² + se_b²), which ignores that the two figures share their hard and easy buyers:
    conservative, never optimistic (3-8 times the paired error on the dev cases, docs/results.md "Hypotheses")."""
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


def search_note(n_trials: int, best: dict) -> str:
    """What the run searched and chose, in a sentence (one trial: the known-good one alone, no search)."""
    chosen = f"**{best['trial']}**, users by {strategy_label(best['strategy'])}"
    if n_trials == 1:
        return f"This run trained one trial, the known-good configuration, and searched nothing: {chosen}."
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


def _reranker_rows(*strategies: str) -> list[str]:
    return [RowKey(RERANKER, s).name for s in strategies]


def hypothesis_verdicts(summary: dict) -> pd.DataFrame:
    """The run's hypotheses, each as ``what is compared``, the two recalls ± s.e., the difference buyer by buyer
    ± its standard error (runs that stored the recall per buyer) and a verdict from that difference's interval
    (from the two figures' intervals otherwise: :func:`compare`)."""
    valid, best = summary["valid_results"], summary["best"]
    chosen = valid[best["strategy"]]
    chosen_row = RowKey(RERANKER, best["strategy"]).name
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
        chosen_row, RowKey(BASELINE, top_baseline).name)  # fmt: skip
    if "activity" in valid and "expected_recall" in valid:
        add("users by P(buy) × expected recall beat users by recent activity", valid["expected_recall"],
            valid["activity"], *_reranker_rows("expected_recall", "activity"))  # fmt: skip
    if "p_buy" in valid and "expected_recall" in valid:
        add("expected recall adds to P(buy) alone", valid["expected_recall"], valid["p_buy"],
            *_reranker_rows("expected_recall", "p_buy"))  # fmt: skip
    trials = summary["trials"]
    if trials["objective"].nunique() > 1:
        best_of = trials.sort_values("recall", ascending=False).drop_duplicates("objective").set_index("objective")
        objectives = list(best_of.index[:2])
        add(f"{objectives[0]} beats {objectives[1]} (best trial of each)", best_of.loc[objectives[0]].to_dict(),
            best_of.loc[objectives[1]].to_dict(), *(RowKey(BEST_TRIAL, o).name for o in objectives))  # fmt: skip
    hypotheses = summary.get("hypotheses")
    if hypotheses is not None:
        alone = of_kind(hypotheses, ALONE)
        if len(alone):
            top = alone["recall"].astype(float).idxmax()
            add(f"the reranker adds to its best single source ({source_label(top)})", chosen,
                alone.loc[top].to_dict(), chosen_row, RowKey(ALONE, top).name)  # fmt: skip
        plain = of_kind(hypotheses, PLAIN)
        if len(plain) and not math.isnan(float(plain["recall"].iloc[0])):
            add(f"the reranker beats a {PLAIN_LABEL}", chosen, plain.iloc[0].to_dict(), chosen_row,
                RowKey(PLAIN).name)  # fmt: skip
        for source, row in of_kind(hypotheses, REMOVED).iterrows():
            add(f"{source_label(source)}{PER_SOURCE_HYPOTHESIS}", chosen, row.to_dict(), chosen_row,
                RowKey(REMOVED, source).name)  # fmt: skip
    return pd.DataFrame(rows).set_index("hypothesis")
