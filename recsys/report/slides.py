"""The jury deck: one :class:`Slide` per topic, built from a run summary (main slides, then the appendix).

The numbers and figures come from the summary; the prose of each slide is versioned markdown in
``recsys/report/prose/<slide>.md`` (:func:`read_prose`).
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
    trials_figure,
    validation_figure,
    windows_figure,
)
from recsys.report.summaries import (
    METRIC_COLUMNS,
    PER_SOURCE_HYPOTHESIS,
    SOURCE_LABELS,
    feature_label,
    hypothesis_verdicts,
    metric_table,
    row_label,
    search_note,
    source_label,
    strategy_label,
    truth_sentence,
    validation_table,
)
from recsys.rows import BASELINE, REMOVED, RERANKER, RowKey, of_kind

PROSE_DIR = Path(__file__).with_name("prose")  # package data: it travels in the flow's code package


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
    wide: bool = False  # the text above, the figures below across the slide (instead of side by side)


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
    values.update(_data_values(summary))
    values.update(_model_values(summary))
    values.update(_limits(summary))
    return values


#: Each action of the log, as the task and data slides name it.
ACTION_WORDS = {
    "view": "views",
    "like": "likes",
    "add_basket": "basket adds",
    "del_basket": "basket removals",
    "clear_basket": "basket clearings",
    "order": "orders",
    "list_basket": "basket views",
    "visit": "visits",
    "visit_category": "category visits",
    "search": "searches",
}


def _share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


def _data_values(summary: dict) -> dict:
    """What the task and data slides say of the log: ``{span}``, ``{actions}`` (most frequent first),
    ``{event_mix}``, ``{catalog}``, ``{users}`` and ``{buyers}`` (per validation window)."""
    data, rows = summary["data"], summary["funnel"]["rows"].sort_values(ascending=False)
    chosen = summary["valid_results"][summary["best"]["strategy"]]
    days = (pd.Timestamp(data["log end (final cut)"]) - pd.Timestamp(data["first event"])).days
    words = [ACTION_WORDS.get(str(a), str(a).replace("_", " ")) for a in rows.index]
    shares = rows / max(int(rows.sum()), 1)
    if len(rows) == 1:
        mix = f"Every event of the log is one of its {words[0]}."
    else:
        top, orders = _share(float(shares.iloc[0])), _share(float(shares.get("order", 0.0)))
        mix = f"{words[0].capitalize()} are the most frequent events ({top}); orders {orders}."
    return {
        "span": _count(days, "day"),
        "actions": _listed(words) if len(words) > 1 else f"{words[0]} only",
        "event_mix": mix,
        "catalog": f"{data['items in the catalog']:,} products, {data['items with a title embedding']:,} with a "
        "title embedding",
        "users": f"{data['users']:,}",
        "buyers": f"{int(chosen['buyers']):,}",
    }


def _model_values(summary: dict) -> dict:
    """What the approach, importance, selection and serving slides say of the model: its sources, the buyer
    model's cuts, the importance's leader, the part of the score from the buyers' history and the server's
    limits."""
    from recsys.server import MAX_REQUEST_BYTES
    from recsys.serving import MAX_ID_LENGTH, MAX_USERS_PER_REQUEST

    sources = list(summary["candidate_recall"].index) or list(SOURCE_LABELS)
    importance = summary["importance"].astype(float)
    chosen = summary["valid_results"][summary["best"]["strategy"]]
    history = ""
    if not pd.isna(chosen.get("history_ceiling", np.nan)):
        known = chosen["recall_rebought"] + chosen["recall_seen"]
        history = (
            f"Of the recall of {chosen['recall']:.3f}, {known:.3f} comes from products the buyers had already "
            "ordered, viewed or put in a basket; the history ceiling is what perfect lists of their own history "
            "would reach: beyond it, only products new to them count."
        )
    return {
        "n_sources": len(sources),
        "source_list": _listed([source_label(str(s)) for s in sources]),
        "buyer_cuts": summary["params"].get("buyer-model cuts (daily, at most)"),
        "top_share": _share(float(importance.iloc[0] / importance.sum())) if importance.sum() > 0 else "n/a",
        "n_importance": len(importance),
        "history_sentence": history,
        "max_id_length": f"{MAX_ID_LENGTH:,}",
        "max_users": f"{MAX_USERS_PER_REQUEST:,}",
        "max_body": f"{MAX_REQUEST_BYTES / 1e6:g} MB",
    }


def _limits(summary: dict) -> dict:
    """The limitations slide's figures: the trials' spread beside the standard error, the candidates' ceiling
    and what the run searched."""
    trials = summary["trials"]
    best = trials.groupby("trial")["recall"].max()
    chosen = summary["valid_results"][summary["best"]["strategy"]]
    ceiling = chosen.get("ceiling", np.nan)
    values = {
        "trial_spread": f", against {best.max() - best.min():.3f} between its best and its worst trial"
        if len(best) > 1
        else "",
        "ceiling_sentence": f"a perfect ranking of the same candidates would reach {ceiling:.3f}, against the chosen "
        f"model's {chosen['recall']:.3f}."
        if not pd.isna(ceiling)
        else "this run did not measure what a perfect ranking of its candidates would reach.",
    }
    if len(best) > 1:
        values["search_limit"] = (
            f"**{len(best)} trials**: the chosen one was picked on the windows it is scored on, so its validation "
            "figure flatters it a little; the held-out truth, when there is one, does not."
        )
    else:
        values["search_limit"] = (
            "**No search**: this run trained the known-good trial alone; a search of several trials may fit another "
            "shop better, at the cost of training each of them."
        )
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


def _task_slide(deck: Deck) -> Slide:
    values = deck.values
    task = Slide("task", "The task and the metric", deck.prose("task"))
    task.numbers = [
        (values["top_users"], "users at most"),
        (str(values["k"]), "products each"),
        (str(values["horizon"]), "days after the log"),
        (values["buyers"], f"buyers in a {values['horizon']}-day window of this log"),
    ]
    return task


def _data_slide(deck: Deck) -> Slide:
    data = deck.summary["data"]
    windows = deck.summary.get("windows") or {}
    buyers = pd.Series({w: r["buyers"] for w, r in windows.items()}, dtype=float)
    buyers.index = [f"{start} + {deck.values['horizon']} d" for start in _window_starts(deck, buyers.index)]
    deck.figures["funnel"] = funnel_figure(deck.summary["funnel"], buyers)
    glance = Slide("data", "The data at a glance", deck.prose("data"))
    glance.numbers = [
        (f"{data['users']:,}", "users"),
        (f"{data['items']:,}", "products"),
        (f"{data['interaction rows (exploded)']:,}", "events (one per product)"),
        (f"{int(deck.chosen['buyers']):,}", f"buyers in a {deck.values['horizon']}-day window (validation mean)"),
    ]
    caption = "events per action, and users at each stage of the funnel"
    glance.figures.append(("funnel", caption if len(deck.summary["funnel"]) > 1 else "buyers per validation window"))
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
    chosen = row_label(RowKey(RERANKER, deck.summary["best"]["strategy"]))
    shown = metric_table(deck.valid.head(4), ("recall", "recall_se"), headers=False)  # the figure reads recall_se
    deck.figures["validation"] = validation_figure(shown, chosen)
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
            "(the flow's ablation option adds those rows)."
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
    """The search in numbers (the chosen trial's parameters) and a chart of every trial under every user-selection
    strategy (the appendix has the trial table)."""
    trials = deck.summary["trials"]
    slide = Slide(
        "search",
        "The hyperparameter search",
        deck.prose("search"),
        search_note(trials["trial"].nunique(), deck.summary["best"]),
    )
    ranked = trials.sort_values("recall", ascending=False)
    shown = ranked.head(6)
    labels = [f"trial {int(r['trial'])}, users by {strategy_label(r['strategy'])}" for _, r in shown.iterrows()]
    deck.figures["trials"] = trials_figure(shown.assign(label=labels))
    slide.figures.append(("trials", "each trial under each way of choosing the users, best first"))
    chosen = ranked.iloc[0]
    n_trials = trials["trial"].nunique()
    slide.numbers = [(str(n_trials), "trial trained" if n_trials == 1 else "trials trained")]
    slide.numbers += [(f"{chosen[c]:g}", what) for c, what in SEARCH_NUMBERS if c in chosen and pd.notna(chosen[c])]
    return slide


#: The chosen trial's parameters shown as the search slide's numbers.
SEARCH_NUMBERS = (
    ("depth", "depth of the chosen trial's trees"),
    ("learning_rate", "its learning rate"),
    ("trees", "trees it kept (early stopping)"),
    ("train_cuts", "daily windows it learnt from"),
)


def _importance_slide(deck: Deck) -> Slide:
    deck.figures["importance"] = importance_figure(deck.summary["importance"])
    return Slide(
        "importance",
        "What the reranker relies on",
        deck.prose("importance"),
        figures=[("importance", "feature importance of the final reranker")],
        wide=True,
    )


def _serving_slide(deck: Deck) -> Slide:
    mlflow = deck.summary.get("mlflow") or {}
    serving = Slide("serving", "Serving the model", deck.prose("serving"))
    if mlflow:
        aliases = mlflow.get("aliases", ["champion"])  # runs before the champion gate always took it
        held = ", ".join(f"@{a}" for a in aliases) if aliases else "no champion alias: the current champions stay"
        serving.facts = f"This run's model is version **{mlflow.get('model_version')}** ({held})"
        serving.facts += f": {_in_words(mlflow['decision'])}." if mlflow.get("decision") else "."
        serving.numbers = [
            (str(mlflow.get("model_version")), "version of the registered model from this run"),
            (f"{deck.chosen['recall']:.3f}", "its validation recall, tagged on the model"),
            (str(len(aliases)), "champion aliases it holds" if len(aliases) != 1 else "champion alias it holds"),
        ]
    return serving


#: The promotion modes as the main slides say them (command-line flags belong in the appendix).
FLAG_WORDS = {"--promote never": "promotion turned off", "--promote always": "promotion forced"}


def _in_words(text: str) -> str:
    for flag, words in FLAG_WORDS.items():
        text = text.replace(f"rerun with {flag}", f"rerun with {words}").replace(flag, words)
    return text


def _window_starts(deck: Deck, windows) -> list[str]:
    """The first day of each validation window (its cut), for a reader."""
    cuts = deck.summary["cuts"]
    return [str(cuts.loc[w, "history before"])[:10] if w in cuts.index else str(w) for w in windows]


def _limitations_slide(deck: Deck) -> Slide:
    values = deck.values
    slide = Slide("limitations", "Limitations and next steps", deck.prose("limitations"))
    if deck.summary.get("windows"):
        per_window = pd.DataFrame(deck.summary["windows"]).T
        per_window.index = [f"{start} + {values['horizon']} d" for start in _window_starts(deck, per_window.index)]
        deck.figures["windows"] = windows_figure(per_window.reindex(columns=["recall", "recall_se", "ceiling"]))
        slide.figures.append(("windows", "the chosen model on each validation window, and the ceiling"))
    return slide


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


def _appendix_models_slides(deck: Deck) -> list[Slide]:
    """The run's Metaflow steps across a slide, and the candidate recall of each source (its table and chart)."""
    summary, slides = deck.summary, []
    if summary["graph"]:
        deck.figures["pipeline"] = pipeline_figure(summary["graph"])
        slides.append(
            Slide(
                "appendix_pipeline",
                "Appendix: the run's steps",
                "The Metaflow steps of this run, read along the arrows; the steps in one box run side by side and a "
                "blue box runs as several tasks at once (one per table shard or per trial).",
                figures=[("pipeline", "the run's Metaflow steps")],
                appendix=True,
                wide=True,
            )
        )
    recall = summary["candidate_recall"]
    if not recall.empty:
        deck.figures["candidate_recall"] = candidate_recall_figure(recall)
        table = recall.rename(index=source_label, columns=lambda c: c.replace("recall_at_", "first "))
        slides.append(
            Slide(
                "appendix_models",
                "Appendix: the candidate sources",
                tables=[("share of the validation buyers' purchases among each source's candidates", table)],
                figures=[("candidate_recall", "candidate recall per source (validation windows)")],
                appendix=True,
            )
        )
    return slides


def _appendix_windows_slides(deck: Deck) -> list[Slide]:
    """The chosen model on each validation window (none for a run without per-window results)."""
    if not deck.summary.get("windows"):
        return []
    per_window = pd.DataFrame(deck.summary["windows"]).T
    windows = metric_table(per_window, (*METRIC_COLUMNS, "ceiling", "recall_new", "history_ceiling"))
    windows.insert(0, "buyers", per_window["buyers"].astype(int).to_numpy())
    starts = _window_starts(deck, per_window.index)
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
        _task_slide(deck),
        _data_slide(deck),
        _approach_slide(deck),
        _results_slide(deck),
        _selection_slide(deck),
    ]
    hypotheses, appendix_sources = _hypotheses_slides(deck)
    slides += [hypotheses, _search_slide(deck), _importance_slide(deck), _serving_slide(deck)]
    slides.append(_limitations_slide(deck))
    slides += [*appendix_sources, *_appendix_data_slides(deck), *_appendix_models_slides(deck)]
    slides += [*_appendix_windows_slides(deck), _appendix_trials_slide(deck), _appendix_params_slide(deck)]
    return slides, deck.figures
