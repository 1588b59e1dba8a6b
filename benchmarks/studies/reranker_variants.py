"""Would the reranker rank better fitted differently or with one more feature? Item recall of the pool's buyers.

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.reranker_variants --seeds 0 1

The run's chosen trial is refitted on the run's own training rows (as the flow does) under each seed, as is and
with each variant, and scored on the run's validation tables: the recall of each buyer of the pool (the 25
best-ranked candidates against everything they bought), i.e. the item lists alone, the users being given.
Printed per variant and seed: the mean ± s.e. over the buyers of all windows and the paired difference per buyer
against the first seed as is ± its standard error (the second seed as is shows the seed-to-seed noise).

Variants:
- ``group-weight``: each ranking group (a user of a training cut) weighted by 1 / the items they bought in the
  cut's target window, so that a buyer of 40 items counts as much as a buyer of 2, as in the metric;
- ``bag=N``: N models under different seeds, their raw scores z-scored and averaged (a bagged reranker);
- ``objective=NAME``: another CatBoost loss for the same trial (e.g. ``objective=QuerySoftMax``,
  ``objective=PairLogit``, ``objective=YetiRankPairwise``);
- ``eval=METRIC``: early stopping watches this CatBoost metric on the held-out groups instead of the loss's
  default (e.g. ``eval=NDCG:top=25``, ``eval=RecallAt:top=25``);
- ``od-wait=N``: boosting stops after N rounds without improvement instead of ``EARLY_STOP_ROUNDS``;
- ``trees=N``: no early stopping: exactly N trees on every training group, none held out;
- ``cb:NAME=VALUE``: any other CatBoost parameter for the same trial (e.g. ``cb:border_count=64``: fewer
  histogram bins, a faster fit);
- ``pair-gap``: the user's own re-buy gap for the item (median days between their distinct purchase days of it),
  the days since they last bought it over that gap (and over the mean gap), and the share of the user's order
  days that hold the item; computed from each cut's history, like every feature;
- ``user-repeat``: the user's repeat share, of their distinct (item, order day) purchases the share whose item
  they had bought on an earlier day (repeat-or-explore, a next-basket classic), from each cut's history;
- ``category-cycle``: the user's purchase cycle in the candidate's category: on how many distinct days they
  ordered in it, that over their order days, days since their last order in it, and that over their median gap
  between order days in it (a household that buys some yoghurt every week, a new flavour each time, re-buys the
  category, not the item); from each cut's history.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd

from benchmarks.runs import add_run_id, open_run
from benchmarks.studies.reranker_training import chosen_trial_data, item_recall
from recsys.features import _days, pair_key, purchase_gaps
from recsys.reranker import Reranker, group_ids, stack
from recsys.schema import DEFAULT_K, Action
from recsys.schema import Columns as C
from recsys.split import model_history, target

VARIANTS = ("group-weight", "pair-gap", "user-repeat", "category-cycle")


def with_pair_gap(table: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the user's own re-buy gap for each candidate item and how due the item is against it."""
    orders = history[history[C.ACTION] == int(Action.ORDER)]
    keys, gaps = purchase_gaps(pair_key(orders[C.USER].to_numpy(), orders[C.ITEM].to_numpy()), _days(orders[C.TS]))
    by_pair = pd.Series(gaps, index=keys).groupby(level=0)
    rows = pair_key(table[C.USER].to_numpy(), table[C.ITEM].to_numpy())
    median = by_pair.median().reindex(rows).to_numpy(np.float32)
    mean = by_pair.mean().reindex(rows).to_numpy(np.float32)
    since = table["ui_days_since_order"].to_numpy(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return table.assign(
            ui_rebuy_gap=median,
            ui_rebuy_due_pair=since / median,
            ui_rebuy_due_pair_mean=since / mean,
            ui_order_day_share=(table["ui_order_days"] / table["u_order_days"]).to_numpy(np.float32),
        )


def with_user_repeat(table: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the user's repeat share: of their distinct (item, order day) purchases, the share whose item
    they had bought on an earlier day (NaN with fewer than two order days): how much of what they buy is a re-buy."""
    orders = history[history[C.ACTION] == int(Action.ORDER)]
    triples = orders[[C.USER, C.ITEM]].assign(day=_days(orders[C.TS])).drop_duplicates()
    per_user = triples.groupby(C.USER).agg(n=(C.ITEM, "size"), items=(C.ITEM, "nunique"), days=("day", "nunique"))
    share = ((per_user["n"] - per_user["items"]) / per_user["n"]).where(per_user["days"] >= 2)
    return table.assign(u_repeat_share=share.reindex(table[C.USER].to_numpy()).to_numpy(np.float32))


def with_category_cycle(table: pd.DataFrame, history: pd.DataFrame, category: np.ndarray, now) -> pd.DataFrame:
    """``table`` with the user's purchase cycle in each candidate's category (``category``: the category code of
    every item code; unknown categories, -1, get NaN): distinct order days in it, their share of the user's order
    days, days since the last one (to the cut ``now``, a midnight) and that over the median gap between them."""
    orders = history[history[C.ACTION] == int(Action.ORDER)]
    cat = category[orders[C.ITEM].to_numpy()].astype(np.int64) + 1  # keys stay >= 0
    keys = pair_key(orders[C.USER].to_numpy(), cat)
    days = _days(orders[C.TS])
    per_key = pd.DataFrame({"key": keys, "day": days}).drop_duplicates().groupby("key")["day"]
    n_days, last_day = per_key.size(), per_key.max()
    gap_keys, gaps = purchase_gaps(keys, days)
    median_gap = pd.Series(gaps, index=gap_keys, dtype=np.float64).groupby(level=0).median()
    row_cat = category[table[C.ITEM].to_numpy()].astype(np.int64)
    rows = pair_key(table[C.USER].to_numpy(), row_cat + 1)
    known = row_cat >= 0
    today = _days(pd.Series([pd.Timestamp(now)])).item()
    order_days = n_days.reindex(rows).to_numpy(np.float32)
    since = (today - last_day.reindex(rows).to_numpy(np.float64)).astype(np.float32)
    gap = median_gap.reindex(rows).to_numpy(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return table.assign(
            uc_order_days=np.where(known, np.nan_to_num(order_days), np.nan).astype(np.float32),
            uc_day_share=np.where(known, np.nan_to_num(order_days) / table["u_order_days"].to_numpy(), np.nan).astype(
                np.float32
            ),
            uc_days_since_order=np.where(known, since, np.nan).astype(np.float32),
            uc_due=np.where(known, since / gap, np.nan).astype(np.float32),
        )


@contextmanager
def group_weights(weight_of_group: pd.Series):
    """While inside, every CatBoost ``Pool`` with group ids gets ``weight_of_group[group id]`` as group weights
    (the reranker builds its pools inside :meth:`Reranker.fit`)."""
    import catboost

    original = catboost.Pool

    def weighted(*args, group_id=None, **kwargs):
        if group_id is not None:
            kwargs["group_weight"] = weight_of_group.reindex(np.asarray(group_id)).to_numpy()
        return original(*args, group_id=group_id, **kwargs)

    catboost.Pool = weighted
    try:
        yield
    finally:
        catboost.Pool = original


@contextmanager
def catboost_params(**extra):
    """While inside, every ``CatBoost`` model the reranker builds gets ``extra`` parameters too (e.g. the metric
    that early stopping watches)."""
    import catboost

    original = catboost.CatBoost

    def patched(params=None, *args, **kwargs):
        return original({**(params or {}), **extra}, *args, **kwargs)

    catboost.CatBoost = patched
    try:
        yield
    finally:
        catboost.CatBoost = original


@contextmanager
def early_stop_rounds(rounds: int):
    """While inside, boosting stops after ``rounds`` rounds without improvement on the held-out groups."""
    import recsys.reranker

    original = recsys.reranker.EARLY_STOP_ROUNDS
    recsys.reranker.EARLY_STOP_ROUNDS = rounds
    try:
        yield
    finally:
        recsys.reranker.EARLY_STOP_ROUNDS = original


def bagged_raw(models: list[Reranker], table: pd.DataFrame) -> np.ndarray:
    """One model's raw scores, or the mean of several models' z-scored raw scores."""
    if len(models) == 1:
        return models[0].raw(table)
    return np.mean([(r - r.mean()) / (r.std() or 1.0) for r in (m.raw(table) for m in models)], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        help=f"of {VARIANTS}, bag=N, objective=NAME, eval=METRIC, od-wait=N, trees=N, cb:NAME=VALUE",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    data, params, names, rows, windows = chosen_trial_data(open_run(args.run_id))

    def score(label: str, parts: list[pd.DataFrame], wins: dict, weights: pd.Series | None = None, trial=None,
              bag: int = 1, trees: int | None = None):  # fmt: skip
        for seed in args.seeds:
            started = time.perf_counter()
            models = []
            for member in range(bag):  # bag > 1: the z-scored raw scores of models under seeds seed, seed + 100...
                reranker = Reranker(trial or params, seed=seed + 100 * member)
                if weights is None:
                    models.append(reranker.fit(parts, learnable=True, trees=trees))
                else:
                    with group_weights(weights):
                        models.append(reranker.fit(parts, learnable=True, trees=trees))

            got = np.concatenate(
                [item_recall(t, bagged_raw(models, t), n, DEFAULT_K).to_numpy() for t, n in wins.values()]
            )
            base = results.setdefault("base", got)
            diff = got - base
            grown = "+".join(str(m.best_iteration_ + 1) for m in models)
            print(f"| {label} | {seed} | {got.mean():.4f} ± {got.std(ddof=1) / np.sqrt(len(got)):.4f} | "
                  f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} | {grown} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)  # fmt: skip

    results: dict[str, np.ndarray] = {}
    print("\n| variant | seed | item recall ± s.e. | minus as is, first seed (paired) | trees | fit s |")
    print("|---|---|---|---|---|---|")
    score("as is", rows, windows)
    if "group-weight" in args.variants:
        stacked = stack(rows) if len(rows) > 1 else rows[0]
        n_bought = []
        for i, name in enumerate(names):
            bought = target(data.ds.interactions, data.cuts[name]).groupby(C.USER)[C.ITEM].nunique()
            part = stacked if len(rows) == 1 else stacked[stacked[C.CUT_ID] == i]
            n_bought.append(pd.Series(bought.reindex(part[C.USER]).to_numpy(), index=group_ids(part)))
        weight = 1.0 / pd.concat(n_bought).groupby(level=0).first().clip(lower=1)
        score("group-weight", rows, windows, weight / weight.mean())
    if "pair-gap" in args.variants:
        gap_rows = [with_pair_gap(r, model_history(data.ds, data.cuts[n])) for r, n in zip(rows, names, strict=True)]
        gap_windows = {w: (with_pair_gap(t, model_history(data.ds, data.cuts[w])), n) for w, (t, n) in windows.items()}
        score("pair-gap", gap_rows, gap_windows)
    if "user-repeat" in args.variants:
        rep_rows = [with_user_repeat(r, model_history(data.ds, data.cuts[n])) for r, n in zip(rows, names, strict=True)]
        rep_windows = {
            w: (with_user_repeat(t, model_history(data.ds, data.cuts[w])), n) for w, (t, n) in windows.items()
        }
        score("user-repeat", rep_rows, rep_windows)
    if "category-cycle" in args.variants:
        category = data.ds.items[C.CATEGORY].to_numpy()

        def cycle(table: pd.DataFrame, cut_name: str) -> pd.DataFrame:
            cut = data.cuts[cut_name]
            return with_category_cycle(table, model_history(data.ds, cut), category, cut.at)

        cat_rows = [cycle(r, n) for r, n in zip(rows, names, strict=True)]
        cat_windows = {w: (cycle(t, w), n) for w, (t, n) in windows.items()}
        score("category-cycle", cat_rows, cat_windows)
    for variant in args.variants:
        if variant.startswith("bag="):
            score(variant, rows, windows, bag=int(variant.split("=", 1)[1]))
        if variant.startswith("eval="):
            with catboost_params(eval_metric=variant.split("=", 1)[1]):
                score(variant, rows, windows)
        if variant.startswith("trees="):
            score(variant, rows, windows, trees=int(variant.split("=", 1)[1]))
        if variant.startswith("cb:"):
            name, value = variant[3:].split("=", 1)
            with catboost_params(**{name: json.loads(value) if value[:1].isdigit() else value}):
                score(variant, rows, windows)
        if variant.startswith("od-wait="):
            with early_stop_rounds(int(variant.split("=", 1)[1])):
                score(variant, rows, windows)
        if variant.startswith("objective="):
            trial = type(params)(**params.as_dict())
            object.__setattr__(trial, "objective", variant.split("=", 1)[1])  # any CatBoost loss, unvalidated
            score(variant, rows, windows, trial=trial)


if __name__ == "__main__":
    main()
