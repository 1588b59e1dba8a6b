"""The pieces a two-stage model is trained from, one function each: the run's cuts, the buyer models, the users
scored at each cut, a branch's sources and candidates, a shard's feature table, the reranker.

The flow calls them step by step (in parallel tasks, shard by shard) and :meth:`recsys.model.TwoStageModel.fit`
calls the same functions in one process: there is one training path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from recsys import buyers
from recsys.baselines import user_activity_scores
from recsys.buyers import BuyerInputs, BuyerModel, buyer_inputs
from recsys.candidates import CandidateSource, branches, candidates_of, make_source
from recsys.features import FeatureRecipe, add_labels
from recsys.metrics import candidate_recall
from recsys.reranker import Reranker, TrialParams, learnable_rows
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.shards import Shard, concat_tables, final_sources_artifact, for_users, shards_of
from recsys.shards import plan as plan_shards
from recsys.split import (
    FINAL,
    MIN_HISTORY_DAYS,
    Cut,
    CutKind,
    cut_kind,
    cut_names,
    daily_cuts,
    fit_cuts,
    labelled_names,
    model_history,
    target,
)

log = logging.getLogger("recsys.training")

#: The candidate recall@N reported for every source and labelled cut.
RECALL_AT = (25, 50)


def run_cuts(ds, settings: RunSettings) -> tuple[dict[str, Cut], str]:
    """The run's cuts (:func:`recsys.split.fit_cuts`) and a note, empty unless a short log holds fewer training
    cuts than ``settings.train_cuts``."""
    return fit_cuts(ds.interactions, settings.train_cuts, settings.valid_windows)


def has_target(ds, cut: Cut) -> bool:
    """Whether the cut's whole target window lies inside the log."""
    return cut.target_end <= ds.end


def history_rows(ds, cuts: dict[str, Cut]) -> dict[str, int]:
    """Events before each cut: what fitting a source on the cut's history costs, roughly."""
    ts = ds.interactions[C.TS]
    ts = ts.to_numpy() if ts.is_monotonic_increasing else np.sort(ts.to_numpy())
    return {name: int(np.searchsorted(ts, np.datetime64(cut.at), side="left")) for name, cut in cuts.items()}


def fit_groups(sizes: dict[str, int], rows: int) -> list[list[str]]:
    """The cuts (``sizes``: their history rows, :func:`history_rows`) split into as few groups as hold about
    ``rows`` rows each, never more groups than cuts: one candidate task per group and branch. The largest cuts
    are placed first, each in the lightest group (the first of equals), so that the groups weigh about the same;
    each group lists its cuts in the run's order. The candidates do not depend on the grouping (every cut's
    sources are fitted on their own)."""
    if rows < 1:
        raise ValueError(f"rows per fit task must be at least 1, got {rows}")
    count = min(len(sizes), max(1, -(-sum(sizes.values()) // rows)))
    loads, members = [0] * count, [[] for _ in range(count)]
    for name in sorted(sizes, key=lambda n: -sizes[n]):  # stable: equal sizes keep the run's order
        lightest = loads.index(min(loads))
        loads[lightest] += sizes[name]
        members[lightest].append(name)
    order = {name: i for i, name in enumerate(sizes)}
    groups = [sorted(m, key=order.__getitem__) for m in members if m]
    return sorted(groups, key=lambda g: order[g[0]])


def fit_sources(names, history: pd.DataFrame, items: pd.DataFrame, vectors, seed: int = 0) -> dict:
    """Sources of the registry, by name, fitted on one cut's history."""
    return {name: make_source(name, seed).fit(history, items, vectors) for name in names}


def learning_pool(ds, cut: Cut, pool: np.ndarray) -> np.ndarray:
    """The users of ``pool`` who ordered in the cut's target window (sorted): all a training cut needs candidates
    and features for, since the reranker learns only from users with a bought candidate. Which users get rows
    reads the target; what any row holds does not (candidates and features come from the history alone), so the
    learnable rows are those of the whole pool (tested), for a fraction of the candidate work."""
    if cut.target_end > ds.end:
        raise ValueError(f"{cut}: a learning-only cut needs its target window inside the log")
    return np.intersect1d(pool, target(ds.interactions, cut)[C.USER].unique())


def pool_inputs(ds, cut: Cut, hist: pd.DataFrame, pool: np.ndarray) -> BuyerInputs:
    """The buyer model's inputs for a cut's user ``pool`` (``hist``: the cut's history), labelled with who bought
    when the target window is in the log."""
    labels = buyers.buyer_labels(ds.interactions, cut, pool) if has_target(ds, cut) else None
    return buyer_inputs(hist, cut.at, pool, user_activity_scores(hist), labels)


def labelled_buyer_inputs(ds, cut: Cut, pool_size: int) -> BuyerInputs:
    """The buyer model's inputs at a cut whose target window is in the log: its user pool (the most active
    ``pool_size`` users), their features from its history, and who bought in the window."""
    hist = model_history(ds, cut)
    return pool_inputs(ds, cut, hist, buyers.user_pool(hist, pool_size))


@dataclass
class BuyerModels:
    """The run's two buyer models (``valid``: learnt before the validation windows, ``final``: up to the end of
    the log) and, per model, how many daily cuts, users and buyers it learnt from."""

    models: dict[str, BuyerModel]
    facts: dict[str, dict[str, int]]

    def lines(self) -> list[str]:
        """One progress line per model."""
        return [
            f"buyer model ({which}): {f['cuts']} daily cuts, {f['buyers']:,} buyers among {f['users']:,} pool users"
            for which, f in self.facts.items()
        ]


def buyer_cuts(ds, cuts: dict[str, Cut], settings: RunSettings) -> dict[str, list[Cut]]:
    """The daily cuts (:func:`recsys.split.daily_cuts`) each buyer model learns from: up to ``settings.buyer_cuts``
    whose targets end by the oldest validation window (``valid``) or by the final cut (``final``)."""
    ends = {CutKind.VALID: min(cuts[n].at for n in cut_names(cuts, CutKind.VALID)), CutKind.FINAL: cuts[FINAL].at}
    log_start = ds.interactions[C.TS].min()
    out = {}
    for which, end in ends.items():
        out[which] = list(daily_cuts(end, settings.buyer_cuts, log_start).values())
        if not out[which]:  # check_log_covers_cuts refuses such a log first; a direct call gets a clear message too
            raise ValueError(
                f"no daily cut for the {which} buyer model: its targets must end by {end:%Y-%m-%d} and each cut "
                f"needs {MIN_HISTORY_DAYS} days of log before it (the log starts {log_start:%Y-%m-%d %H:%M})"
            )
    return out


def buyer_plan(ds, daily: dict[str, list[Cut]], rows: int) -> list[list[Cut]]:
    """The daily cuts of both buyer models (:func:`buyer_cuts`; a cut both use once) in groups of about ``rows``
    history rows (:func:`fit_groups`): one task per group computes its cuts' inputs."""
    distinct = {f"{cut.at:%Y-%m-%d %H:%M}": cut for cuts in daily.values() for cut in cuts}
    groups = fit_groups(history_rows(ds, distinct), rows)
    return [[distinct[key] for key in group] for group in groups]


def daily_inputs(ds, daily: list[Cut], pool: int) -> dict[pd.Timestamp, BuyerInputs]:
    """The buyer model's labelled inputs at each of some daily cuts (:func:`labelled_buyer_inputs`), by cut time."""
    return {cut.at: labelled_buyer_inputs(ds, cut, pool) for cut in daily}


def daily_line(daily: list[Cut]) -> str:
    """A progress line for a group of daily cuts."""
    days = sorted(f"{cut.at:%Y-%m-%d}" for cut in daily)
    return f"buyer inputs at {len(days)} daily cut{'s' * (len(days) > 1)}: {', '.join(days)}"


def learn_buyer_models(daily: dict[str, list[Cut]], inputs: dict[pd.Timestamp, BuyerInputs], seed: int) -> BuyerModels:
    """The run's buyer models (:class:`BuyerModels`), each learnt from the inputs (:func:`daily_inputs`) of its
    daily cuts (:func:`buyer_cuts`), newest first."""
    models, facts = {}, {}
    for which, cuts in daily.items():
        used = [inputs[cut.at] for cut in cuts]
        models[which] = BuyerModel(seed).fit(used)
        facts[which] = {
            "cuts": len(used),
            "users": sum(len(i.users) for i in used),
            "buyers": sum(int(i.labels.sum()) for i in used),
        }
    return BuyerModels(models, facts)


def fit_buyer_models(ds, cuts: dict[str, Cut], settings: RunSettings) -> BuyerModels:
    """The run's buyer models in one process: :func:`buyer_cuts`, their inputs (a cut both models use computed
    once) and :func:`learn_buyer_models`, what the flow runs as a fan-out over :func:`buyer_plan`'s groups."""
    daily = buyer_cuts(ds, cuts, settings)
    distinct = list({cut.at: cut for group in daily.values() for cut in group}.values())
    return learn_buyer_models(daily, daily_inputs(ds, distinct, settings.pool), settings.seed)


def user_pools(ds, cuts: dict[str, Cut], size: int, models: dict[str, BuyerModel] | None = None) -> dict:
    """The users scored at each cut. At a validation window or the final cut, with the run's buyer ``models``,
    the ``size`` users of highest P(buy) among ``buyers.SCREEN_FACTOR * size`` of the most active
    (:func:`recsys.buyers.screened_pool`), each window by the ``valid`` model, the final cut by the ``final`` one;
    without models, the ``size`` most active (:func:`recsys.buyers.user_pool`). At a training cut, the ``size``
    most active who bought in its target window (:func:`learning_pool`)."""
    pools = {}
    for name, cut in cuts.items():
        hist = model_history(ds, cut)
        if cut_kind(name) is CutKind.TRAIN:
            pools[name] = learning_pool(ds, cut, buyers.user_pool(hist, size))
        elif models is not None:
            model = models[CutKind.FINAL if name == FINAL else CutKind.VALID]
            pools[name] = buyers.screened_pool(hist, cut.at, model, size)
        else:
            pools[name] = buyers.user_pool(hist, size)
    return pools


def pool_lines(cuts: dict[str, Cut], pools: dict[str, np.ndarray], size: int) -> list[str]:
    """One progress line per cut: how many users it scores, and how they were chosen."""
    lines = []
    for name, cut in cuts.items():
        if cut_kind(name) is CutKind.TRAIN:
            whom = "buyers scored (only they are learnt from)"
        elif len(pools[name]) < size:
            whom = "users scored (every active user)"
        else:
            whom = f"users scored (by P(buy) among up to {buyers.SCREEN_FACTOR * size:,} of the most active)"
        lines.append(f"{cut}: {len(pools[name]):,} {whom}")
    return lines


@dataclass
class BranchResult:
    """A branch's sources run on every cut: ``candidates[source][cut]``, candidate recall@N on the labelled cuts
    (``metrics``), and the sources fitted on the ``final`` cut (the state the served model needs)."""

    candidates: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    final_sources: dict[str, CandidateSource] = field(default_factory=dict)

    def by_cut(self) -> dict[str, dict[str, pd.DataFrame]]:
        """The candidates as ``{cut: {source: candidates}}``."""
        return by_source(self.candidates)

    def artifacts(self, branch: str) -> dict:
        """The branch task's artifacts: its candidates and metrics (``branch``, what the join reads) and, when it
        fitted the final cut, its final sources under their own name (:func:`recsys.shards.final_sources_artifact`,
        passed on unread)."""
        out = {"branch": replace(self, final_sources={})}
        if self.final_sources:  # only the task fitting the final cut: the join takes it from there, unread
            out[final_sources_artifact(branch)] = self.final_sources
        return out


def branch_candidates(branch: str, ds, cuts: dict[str, Cut], pools: dict, settings: RunSettings) -> BranchResult:
    """Fit the branch's sources (``recsys.candidates.branches()``) on every cut and propose
    ``settings.candidates`` (times the source's depth) per pool user. Recall is over every buyer of the cut's
    target window (buyers outside the pool count as 0)."""
    out = BranchResult()
    for cut_name, cut in cuts.items():
        hist = model_history(ds, cut)
        for name in branches()[branch]:
            started = time.perf_counter()
            source = fit_sources([name], hist, ds.items, ds.vectors, settings.seed)[name]
            cands = source.recommend(pools[cut_name], candidates_of(name, settings.candidates))
            out.candidates.setdefault(name, {})[cut_name] = cands
            if cut_name == FINAL:
                out.final_sources[name] = source
            log.info("%s on %s: %s candidates in %.1fs", name, cut, f"{len(cands):,}", time.perf_counter() - started)
            if has_target(ds, cut):
                for at, value in candidate_recall(cands, target(ds.interactions, cut), RECALL_AT).items():
                    out.metrics[f"{name}.{cut_name}.recall_at_{at}"] = value
    return out


def join_branches(results: list[BranchResult]) -> BranchResult:
    """Every branch's result as one, sources in sorted order (branches finish in any order)."""
    joined = BranchResult()
    for r in sorted(results, key=lambda r: sorted(r.candidates)):
        joined.candidates.update(r.candidates)
        joined.metrics.update(r.metrics)
        joined.final_sources.update(r.final_sources)
    joined.candidates = dict(sorted(joined.candidates.items()))
    joined.final_sources = dict(sorted(joined.final_sources.items()))
    return joined


def join_metrics(parts: list[dict[str, float]], cuts: dict[str, Cut]) -> dict[str, float]:
    """The candidate recalls of every (branch, group of cuts) task as one dict, in the order of one task per branch
    fitting every cut (:func:`join_branches`: branches by their sorted sources, then cuts in the run's order, then
    the branch's sources): the means over cuts are summed in that order whatever the grouping."""
    owner = {s: sorted(names) for names in branches().values() for s in names}
    position = {s: i for names in branches().values() for i, s in enumerate(names)}
    cut_index = {name: i for i, name in enumerate(cuts)}

    def order(key: str):
        source, cut, metric = key.split(".")
        return owner[source], cut_index[cut], position[source], int(metric.rsplit("_", 1)[1])

    merged = {k: v for part in parts for k, v in part.items()}
    return {k: merged[k] for k in sorted(merged, key=order)}


def join_cuts(parts: list[dict], cuts: dict[str, Cut]) -> dict:
    """Per-cut values computed by several tasks (each for some of ``cuts``) as one dict in the run's cut order."""
    merged = {name: value for part in parts for name, value in part.items()}
    return {name: merged[name] for name in cuts if name in merged}


def by_source(by_cut: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict[str, pd.DataFrame]]:
    """``{cut: {source: candidates}}`` as ``{source: {cut: candidates}}`` (and back: the same shape swap)."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for cut, found in by_cut.items():
        for source, frame in found.items():
            out.setdefault(source, {})[cut] = frame
    return out


@dataclass
class ShardData:
    """What one shard of a cut contributes: its feature table (labelled when the target window is in the log),
    the learnable rows of a labelled table, and the buyer model's inputs for its users (None at a training cut,
    whose table is only learnt from: the buyer model learns from its own daily cuts)."""

    table: pd.DataFrame
    rows: pd.DataFrame | None
    inputs: BuyerInputs | None


def shard_data(ds, cut: Cut, users: np.ndarray, candidates: dict[str, pd.DataFrame], learn_only=False) -> ShardData:
    """Features, labels and buyer inputs of some users of one cut (everything from the cut's history);
    ``candidates``: each source's candidates at the cut, for these users or more.

    ``learn_only`` (a training cut): the table holds only the users who bought in the target window (the reranker
    learns only from users with a bought candidate, so its rows are those of the whole pool's table), and no
    buyer inputs are computed."""
    hist = model_history(ds, cut)
    if learn_only:
        users = learning_pool(ds, cut, users)
    recipe = FeatureRecipe.fit(hist, ds.items, ds.vectors, cut.at, users)
    table = recipe.table(hist, for_users(candidates, users))
    labelled = has_target(ds, cut)
    if labelled:
        table = add_labels(table, target(ds.interactions, cut))
    inputs = None if learn_only else pool_inputs(ds, cut, hist, users)
    return ShardData(table, learnable_rows(table) if labelled else None, inputs)


def fit_reranker(params: TrialParams, rows: list[pd.DataFrame], seed: int = 0, progress=False, trees=None) -> Reranker:
    """A reranker fitted on the learnable rows of the newest ``params.train_cuts`` cuts of ``rows`` (newest
    first; ``progress``: a line every ~20 s while it trains; ``trees``: exactly that many, none held out)."""
    return Reranker(params, seed).fit(rows, learnable=True, progress=params.label if progress else None, trees=trees)


def final_cuts(cuts: dict[str, Cut], params: TrialParams) -> list[str]:
    """The labelled cuts the run's model learns from (newest first: the validation windows, then the training
    cuts), as many as the chosen trial learnt from: the one rule for the flow's ``final`` step and
    :meth:`recsys.model.TwoStageModel.fit`."""
    return labelled_names(cuts)[: params.train_cuts]


def cut_rows(ds, cuts: dict[str, Cut], pools: dict, candidates: dict, settings: RunSettings) -> dict:
    """Each cut's learnable rows, built shard by shard as the flow builds them (``candidates[source][cut]``)."""
    plan = plan_shards({n: pools[n] for n in cuts}, settings.shard_size)
    return {
        name: learnable_cut_rows(ds, cut, shards_of(plan, name), pools[name], candidates) for name, cut in cuts.items()
    }


def learnable_cut_rows(ds, cut: Cut, shards: list[Shard], pool: np.ndarray, candidates: dict) -> pd.DataFrame:
    """One cut's learnable rows, its ``shards`` one at a time, end to end."""
    at_cut = {s: c[shards[0].cut] for s, c in candidates.items()}
    learn_only = cut_kind(shards[0].cut) is CutKind.TRAIN
    return concat_tables([shard_data(ds, cut, s.users(pool), at_cut, learn_only).rows for s in shards])
