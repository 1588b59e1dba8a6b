"""The jury deck: one :class:`Slide` per topic, built from a run summary (main slides, then the appendix).

The numbers and figures come from the summary; the prose of each slide is versioned markdown in
``docs/presentation/<slide>.md`` (:func:`read_prose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.report.figures import (
    candidate_recall_figure,
    curve_figure,
    funnel_figure,
    importance_figure,
    pipeline_figure,
    source_figure,
    validation_figure,
)
from recsys.report.summaries import (
    METRIC_COLUMNS,
    PER_SOURCE_HYPOTHESIS,
    SOURCE_LABELS,
    _fmt,
    feature_label,
    hypothesis_verdicts,
    metric_table,
    search_note,
    source_label,
    strategy_label,
    truth_sentence,
    validation_table,
)
from recsys.rows import BASELINE, REMOVED, of_kind

PROSE_DIR = Path(__file__).resolve().parents[2] / "docs" / "presentation"


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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _shared_this(verdicts: pd.DataFrame, caption: str) -> tuple[str, pd.DataFrame]:
    """A verdict table for a slide: where every row compares the same figure (the chosen model), that figure goes
    into the caption instead of a column repeating it (the table fits beside a figure)."""
    if len(verdicts) and verdicts["this"].nunique() == 1:
        return f"{caption}; the chosen model: {verdicts['this'].iloc[0]}", verdicts.drop(columns="this")
    return caption, verdicts


def _trial_label(row) -> str:
    from recsys.reranker import TrialParams

    fields = {k: row[k] for k in TrialParams.__dataclass_fields__ if k in row}
    try:
        return TrialParams(**{k: v.item() if hasattr(v, "item") else v for k, v in fields.items()}).label
    except (TypeError, ValueError):
        return str(row.get("objective", "trial"))


@dataclass
class Deck:
    """What the slide builders share: the run summary, the values filled into the prose, the validation table,
    the chosen model's validation result, and the figures drawn so far (name -> PNG)."""

    summary: dict
    prose_dir: Path | None
    values: dict
    valid: pd.DataFrame
    chosen: dict
    figures: dict[str, bytes] = field(default_factory=dict)

    def prose(self, key: str) -> str:
        return read_prose(key, self.prose_dir, self.values)


def _prose_values(summary: dict) -> dict:
    """The run's values that the prose names: ``{top_users}``, ``{k}``, ``{horizon}``, ``{submitted}``..."""
    params = summary["params"]
    pool_users = len(summary["cuts"]) and int(summary["cuts"]["users scored"].iloc[0])
    budget = int(summary["budget"])
    values = {
        "top_users": f"{budget:,}",
        "k": params.get("k"),
        "horizon": summary.get("horizon", 3),
        "candidates": params.get("candidates per source"),
        "pool": f"{pool_users:,}",
        "windows": len(summary.get("windows") or {}) or 1,
        "valid_se": f"{summary['valid_results'][summary['best']['strategy']].get('recall_se', float('nan')):.3f}",
    }
    # a log with fewer active users than the budget submits them all: "the best 3,000 of 2,185" reads wrong
    values["submitted"] = (
        f"The best {budget:,} of a pool of {pool_users:,} users (the likeliest buyers among the most active) are "
        "submitted"
        if pool_users > budget
        else f"All {pool_users:,} active users of the pool are submitted (the budget is {budget:,})"
    )
    values["submitted_box"] = f"the best {budget:,} users" if pool_users > budget else f"all {pool_users:,} users"
    values.update(_leaders(summary))
    return values


def _leaders(summary: dict) -> dict:
    """What the run's own charts put first, for the prose: ``{top_features}`` (the reranker's three most important
    features) and ``{top_sources}`` (the two sources finding most of the validation buyers' purchases)."""
    importance, recall = summary.get("importance"), summary.get("candidate_recall")
    features = [] if importance is None else [feature_label(str(n)) for n in importance.index[:3]]
    sources = [] if recall is None or recall.empty else [source_label(str(n)) for n in recall.index[:2]]
    return {"top_features": _listed(features) or "(no importances)", "top_sources": _listed(sources) or "(none)"}


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1] if words else ""


# ---------------------------------------------------------------------------------------------------- main slides


def _title_slide(deck: Deck) -> Slide:
    summary, chosen, test = deck.summary, deck.chosen, deck.summary["test_results"]
    baselines = of_kind(deck.valid, BASELINE)
    top_baseline = baselines["recall"].astype(float).max()
    title = Slide(
        "title",
        f"Who buys in the next {deck.values['horizon']} days, and what",
        deck.prose("title"),
        f"On `{Path(str(summary['params'].get('data'))).name}`",  # the run's ids are in the appendix
    )
    title.numbers = [
        (f"{chosen['recall']:.3f}", "validation recall"),
        (f"{chosen['recall'] / top_baseline:.2f} ×" if top_baseline else "n/a", "the best baseline's (validation)"),
    ]
    if test:
        title.numbers.append((f"{test['recall']:.3f}", "recall on the held-out truth"))
        if test.get("baseline_recall"):  # runs since the truth file is also scored for the baseline
            ratio = test["recall"] / test["baseline_recall"]
            title.numbers.append((f"{ratio:.2f} ×", "the baseline's (held-out truth)"))
    return title


def _data_slide(deck: Deck) -> Slide:
    data = deck.summary["data"]
    deck.figures["funnel"] = funnel_figure(deck.summary["funnel"])
    glance = Slide("data", "The data at a glance", deck.prose("data"))
    glance.numbers = [
        (f"{data['users']:,}", "users"),
        (f"{data['items']:,}", "products"),
        (f"{data['interaction rows (exploded)']:,}", "events (one per product)"),
        (f"{int(deck.chosen['buyers']):,}", f"buyers in the last {deck.values['horizon']} days"),
    ]
    glance.figures.append(("funnel", "events per action, and users at each stage of the funnel"))
    return glance


def _approach_slide(deck: Deck) -> Slide:
    summary, values = deck.summary, deck.values
    approach = Slide("approach", "The approach: two stages, and choosing the users", deck.prose("approach"))
    n_sources = len(summary["candidate_recall"]) or len(SOURCE_LABELS)
    approach.diagram = [
        ("Candidates", f"{n_sources} sources in parallel, up to {values['candidates']} products each per user"),
        ("Features", "the user's actions on the product, their purchase rhythm, demand, source ranks"),
        ("Reranker", f"CatBoost, {_count(summary['trials']['trial'].nunique(), 'trial')}; calibrated probabilities"),
        ("Buyer model", "P(buy) of each of the pool's users"),
        ("Submission", f"{values['submitted_box']} × {values['k']} products"),
    ]
    return approach


def _results_slide(deck: Deck) -> Slide:
    test = deck.summary["test_results"]
    deck.figures["validation"] = validation_figure(metric_table(deck.valid.head(4), ("recall", "recall_se")))
    results = Slide(
        "results",
        "Results against the baselines",
        deck.prose("results"),
        tables=[("validation: mean over the windows before the log ends", metric_table(deck.valid))],
        figures=[("validation", "validation recall with its 95% interval")],
    )
    if test:
        results.facts = f"On the held-out days after the log (truth file): {truth_sentence(test, bold=True)}."
    return results


def _selection_slide(deck: Deck) -> Slide:
    summary, chosen = deck.summary, deck.chosen
    selection = Slide("selection", "Where the score comes from", deck.prose("selection"))
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
        deck.figures["buyer_curve"] = curve_figure(summary["curve"], summary["budget"])
        selection.figures.append(("buyer_curve", "buyers captured as more users are submitted"))
    return selection


def _hypotheses_slides(deck: Deck) -> tuple[Slide, list[Slide]]:
    """The hypotheses with their verdicts, and the appendix slide of the verdicts on each source removed (the
    sources figure goes to the main slide when it fits beside the verdicts, to the appendix otherwise)."""
    summary = deck.summary
    verdicts = hypothesis_verdicts(summary)
    per_source = verdicts.index.str.endswith(PER_SOURCE_HYPOTHESIS)
    hyp_table = _shared_this(verdicts[~per_source], "mean validation recall ± standard error over the windows")
    hyp = Slide("hypotheses", "Hypotheses and verdicts", deck.prose("hypotheses"), tables=[hyp_table])
    # the sources figure sits beside the verdicts when they fit in four columns; when the rows compare different
    # figures of the model (a "this" column) the table needs the slide's width and the figure goes to the appendix
    source_figure_slide = hyp if "this" not in hyp_table[1].columns else None
    if summary.get("ablation") is False:
        hyp.facts = (
            "The source ablation was skipped in this run: the model was not retrained without each source "
            "(run the flow with `--ablation True` for those rows)."
        )
    elif summary["hypotheses"] is not None and len(of_kind(summary["hypotheses"], REMOVED)):
        deck.figures["sources"] = source_figure(summary["hypotheses"])
        if source_figure_slide is not None:
            hyp.figures.append(("sources", "each source alone, and the model without it"))
    # the appendix names each row by its source: "X earns its place (the model without it)" in a narrow column
    # took five lines a row
    removed_verdicts = verdicts[per_source].rename(index=lambda h: h.replace(PER_SOURCE_HYPOTHESIS, ""))
    removed_verdicts.index.name = "source removed"
    if not len(removed_verdicts):
        return hyp, []
    appendix = Slide(
        "appendix_sources",
        "Appendix: the model retrained without each source",
        tables=[_shared_this(removed_verdicts, "does each source earn its place? validation recall ± s.e.")],
        figures=[] if source_figure_slide is not None else [("sources", "each source alone, and without it")],
        appendix=True,
    )
    return hyp, [appendix]


def _search_slide(deck: Deck) -> Slide:
    trials = deck.summary["trials"]
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
    return Slide(
        "search",
        "The hyperparameter search",
        deck.prose("search"),
        search_note(trials["trial"].nunique(), deck.summary["best"]),
        tables=[("each trial with its best user-selection strategy, best first", search.set_index("trial"))],
    )


def _importance_slide(deck: Deck) -> Slide:
    deck.figures["importance"] = importance_figure(deck.summary["importance"])
    return Slide(
        "importance",
        "What the reranker relies on",
        deck.prose("importance"),
        figures=[("importance", "feature importance of the final reranker")],
    )


def _serving_slide(deck: Deck) -> Slide:
    mlflow = deck.summary.get("mlflow") or {}
    serving = Slide("serving", "Serving the model", deck.prose("serving"))
    if mlflow:
        aliases = mlflow.get("aliases", ["champion"])  # runs before the champion gate always took it
        held = ", ".join(f"@{a}" for a in aliases) if aliases else "no champion alias: the current champions stay"
        serving.facts = f"This run's model is version **{mlflow.get('model_version')}** ({held})"
        serving.facts += f": {mlflow['decision']}." if mlflow.get("decision") else "."
    return serving


# -------------------------------------------------------------------------------------------------------- appendix


def _appendix_data_slides(deck: Deck) -> list[Slide]:
    """The loader's report and the time cuts: two slides, as at the real volume they do not fit one 16:9 frame."""
    cleaning = pd.Series(deck.summary["cleaning"], name="count", dtype=object)
    nonzero = cleaning[cleaning.astype(int) != 0].to_frame()
    nonzero.index.name = "loader report"
    data = Slide(
        "appendix_data",
        "Appendix: what the loader cleaned",
        f"{int((cleaning.astype(int) == 0).sum())} other checks found nothing to clean.",
        tables=[("counts (non-zero)", nonzero)],
        appendix=True,
    )
    cuts = Slide(
        "appendix_cuts",
        "Appendix: the time cuts",
        tables=[
            ("time cuts of this run (a training cut scores only its buyers: all it learns from)", deck.summary["cuts"])
        ],
        appendix=True,
    )
    return [data, cuts]


def _appendix_models_slide(deck: Deck) -> Slide:
    summary = deck.summary
    appendix_models = Slide("appendix_models", "Appendix: the pipeline and the candidate sources", appendix=True)
    if summary["graph"]:
        deck.figures["pipeline"] = pipeline_figure(summary["graph"], len(summary["trials"]["trial"].unique()))
        appendix_models.figures.append(("pipeline", "the run's Metaflow steps"))
    if not summary["candidate_recall"].empty:
        deck.figures["candidate_recall"] = candidate_recall_figure(summary["candidate_recall"])
        appendix_models.figures.append(("candidate_recall", "candidate recall per source (validation windows)"))
    return appendix_models


def _appendix_windows_slides(deck: Deck) -> list[Slide]:
    """The chosen model on each validation window (none for a run without per-window results)."""
    if not deck.summary.get("windows"):
        return []
    per_window = pd.DataFrame(deck.summary["windows"]).T
    cuts = deck.summary["cuts"]
    windows = metric_table(per_window, (*METRIC_COLUMNS, "ceiling", "recall_new", "history_ceiling"))
    windows.insert(0, "buyers", per_window["buyers"].astype(int).to_numpy())
    starts = [cuts.loc[w, "history before"][:10] for w in per_window.index]
    windows.insert(0, "days", [f"{start} + {deck.values['horizon']}" for start in starts])
    windows.index = per_window.index
    windows.index.name = "window"
    slide = Slide(
        "appendix_windows",
        "Appendix: the chosen model on each validation window",
        "The figures of the main slides are the means of these rows; the standard error of a mean is the "
        "windows' spread over √n, never below what the buyers of the windows allow.",
        tables=[("validation windows (± s.e. over each window's buyers)", windows)],
        appendix=True,
    )
    return [slide]


def _appendix_trials_slide(deck: Deck) -> Slide:
    trials = deck.summary["trials"]
    shown = ["trial", "objective", "depth", "learning_rate", "iterations", "negatives", "train_cuts", "trees"]
    shown += ["strategy", "recall", "recall_se", "buyers_captured", "recall_selected"]
    codes = trials[[c for c in shown if c in trials.columns]].head(10)
    return Slide(
        "appendix_trials",
        "Appendix: every trial, with its parameters",
        tables=[("trial table (identifiers as in the code and MLflow)", codes.set_index("trial"))],
        appendix=True,
    )


def _appendix_params_slide(deck: Deck) -> Slide:
    params = deck.summary["params"]
    return Slide(
        "appendix_params",
        "Appendix: the run's parameters",
        tables=[("parameters", pd.Series(params, name="value").map(str).to_frame().rename_axis("parameter"))],
        appendix=True,
    )


# ------------------------------------------------------------------------------------------------------- the deck


def build_slides(summary: dict, prose_dir: Path | None = None) -> tuple[list[Slide], dict[str, bytes]]:
    """The jury deck of a run summary (main slides, then the appendix) and its figures (name -> PNG)."""
    valid = validation_table(summary)
    chosen = summary["valid_results"][summary["best"]["strategy"]]
    deck = Deck(summary, prose_dir, _prose_values(summary), valid, chosen)
    slides = [
        _title_slide(deck),
        Slide("task", "The task and the metric", deck.prose("task")),
        _data_slide(deck),
        _approach_slide(deck),
        _results_slide(deck),
        _selection_slide(deck),
    ]
    hypotheses, appendix_sources = _hypotheses_slides(deck)
    slides += [hypotheses, _search_slide(deck), _importance_slide(deck), _serving_slide(deck)]
    slides.append(Slide("limitations", "Limitations and next steps", deck.prose("limitations")))
    slides += [*appendix_sources, *_appendix_data_slides(deck), _appendix_models_slide(deck)]
    slides += [*_appendix_windows_slides(deck), _appendix_trials_slide(deck), _appendix_params_slide(deck)]
    return slides, deck.figures
