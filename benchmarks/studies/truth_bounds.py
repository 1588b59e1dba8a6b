"""How far could the truth-file recall go with the run's item lists, or with perfect ones? Bounds per dev case.

    # from the repository root, on the folder of a finished run on data that ships truth/truth.parquet
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.truth_bounds --json bounds.json
    # after one such call per window (e.g. in each run folder of benchmarks/backtest.py): mean ± s.e. over them
    python -m benchmarks.studies.truth_bounds --mean bounds.json

The run's final two-stage model (its ``final`` step's ``model_parts`` with the branches' final sources) ranks every
user of the final pool; each truth buyer's recall of their list is then summed over a choice of ``top_users`` users
and divided by all the buyers of the truth file (a buyer left out, or never seen in the log, scores 0),
exactly as the metric does:

- ``the run's submission``: the users the run chose (reproduces the run's truth-file recall);
- ``the baseline's users, the run's lists``: the users the baseline chose, each with the run's list (what the
  run's item lists are worth without its buyer model);
- ``oracle users, the run's lists``: the ``top_users`` users whose lists score best against the truth, i.e. a
  perfect buyer model with the same item lists (the most that choosing users can add);
- ``oracle users, perfect lists``: the pool's buyers chosen (at most ``top_users``) and given everything they
  bought (at most k items each): the ceiling of any submission drawn from the run's pool (buyers never seen in
  the log, and on large logs those outside the pool, score 0 whatever is submitted);
- next to them the history + popularity baseline on the same truth and 1.5 x it (issue 12's target), and for
  each choice of users the share of the truth buyers it submits.

A second table splits the recall of the run's submission and of the baseline by how well the buyers knew what
they bought (``recsys.metrics.familiarity_diagnostics``): items they had ordered before, items they had only
viewed, liked or put in a basket, and items new to them; next to them the ceilings of the submitted buyers'
lists made of their own past orders, and of their whole history, ranked perfectly. Where most of the recall is
re-bought items and the re-buy ceiling is low, better ranking of the user's own items has little left to win.
A third table sorts the (buyer, item) pairs the submitted buyers had ordered before by on how many distinct days
they had: how many of each kind they bought again in the truth window, how many the run listed, and both; then
what the run's lists would score with each buyer's past orders of 5 days or more put first (paired per buyer).

``--json`` appends every figure of the run to a list in that file; ``--mean`` prints, for each figure, its mean
over the list's runs ± the spread over sqrt(n) (the windows' error, as in ``benchmarks/backtest.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.runs import add_run_id, open_run
from benchmarks.studies.repeat_rankers import order_day_ranking
from recsys.baselines import history_popularity_baseline
from recsys.evaluation import score_against_truth
from recsys.metrics import FAMILIARITY_KEYS, familiarity_diagnostics, user_recalls
from recsys.pipeline import served_model
from recsys.schema import NO_ITEM, Action
from recsys.schema import Columns as C
from recsys.shards import ArtifactReader

SPLIT_COLUMNS = ("recall", "re-bought items", "only seen before", "new to the buyer", "ceiling: their past orders",
                 "ceiling: their history")  # fmt: skip


def print_mean(path: str) -> None:
    """Mean ± s.e. over the runs appended to ``path`` of every figure they share."""
    runs = json.loads(Path(path).read_text())
    print(f"{len(runs)} runs: " + ", ".join(r["data"] for r in runs) + "\n\n| figure | mean ± s.e. |\n|---|---|")
    for name in runs[0]["figures"]:
        values = np.array([r["figures"][name] for r in runs if name in r["figures"]])
        se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        print(f"| {name} | {values.mean():.4f} ± {se:.4f} |")


ORDER_DAY_BINS = (1, 2, 3, 5, 9)  # lower edges: once, twice, 3-4, 5-8, 9 or more distinct days
FREQUENT_DAYS = 5  # a what-if: the past orders of at least this many days put first in the run's lists


def order_days(ds, users: np.ndarray) -> pd.Series:
    """On how many distinct days each of ``users`` (codes) ordered each item, by raw ids, most days first (ties:
    the latest first): ``repeat_rankers.order_day_ranking`` without decay."""
    ranked = order_day_ranking(ds.interactions, users, half_life=None)
    user_ids, product_ids = ds.users[C.USER_ID].to_numpy(), ds.items[C.PRODUCT_ID].to_numpy()
    index = pd.MultiIndex.from_arrays([user_ids[ranked[C.USER]], product_ids[ranked[C.ITEM]]], names=[C.USER, C.ITEM])
    return pd.Series(ranked["w"].to_numpy(np.int64), index=index, name="days")


def print_by_order_days(days: pd.Series, truth: pd.DataFrame, submitted: dict) -> None:
    """What the submitted buyers had ordered before (``days``: :func:`order_days` of the log), by on how many
    distinct days: how often each kind is bought again in the truth window and how often the run lists it."""
    past = days[days.index.get_level_values(C.USER).isin(list(submitted))].reset_index()
    bought = pd.MultiIndex.from_frame(truth[[C.USER, C.ITEM]])
    listed = pd.MultiIndex.from_tuples([(u, i) for u, items in submitted.items() for i in items])
    keys = pd.MultiIndex.from_frame(past[[C.USER, C.ITEM]])
    past["bought"], past["listed"] = keys.isin(bought), keys.isin(listed)
    past["days ordered"] = pd.cut(past["days"], [*ORDER_DAY_BINS, np.inf], right=False,
                                  labels=["1", "2", "3-4", "5-8", "9+"])  # fmt: skip
    print("\n| past orders of the submitted buyers, by distinct days ordered | pairs | bought again | listed "
          "| bought again and listed |\n|---|---|---|---|---|")  # fmt: skip
    for name, group in past.groupby("days ordered", observed=True):
        hit = int((group["bought"] & group["listed"]).sum())
        print(f"| {name} | {len(group):,} | {int(group['bought'].sum()):,} ({group['bought'].mean():.1%}) | "
              f"{group['listed'].mean():.1%} | {hit:,} |")  # fmt: skip


def frequent_first(recs: dict, days: pd.Series, min_days: int, k: int) -> dict:
    """Each list with the user's past orders of at least ``min_days`` distinct days in front (in the order of
    ``days``: :func:`order_days`), then the rest of the run's list, cut at ``k``."""
    frequent = days[days >= min_days].reset_index()  # already most days first within each user
    front = frequent.groupby(C.USER, sort=False)[C.ITEM].agg(list)
    out = {}
    for user, items in recs.items():
        first = front.get(user, [])
        out[user] = (first + [i for i in items if i not in set(first)])[:k]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--json", default="", help="append this run's figures to the list in this file")
    parser.add_argument("--mean", default="", help="print the mean ± s.e. of the runs listed in this file and exit")
    args = parser.parse_args()
    if args.mean:
        print_mean(args.mean)
        return
    run = open_run(args.run_id)
    final = run["final"].task.data
    ds, truth, k, top_users = final.ds, final.truth, int(final.k), int(final.top_users)
    if truth is None:
        raise SystemExit(f"RecsysFlow/{run.id}: its data ships no truth file")
    print(f"RecsysFlow/{run.id} on {final.resolved_data_dir}; top users {top_users}, k {k}", flush=True)
    model = served_model(ArtifactReader(final, final.shard_plan))  # the run's TwoStageModel at the final cut
    pool = np.asarray(final.pools["final"])
    pred = model.predict(pool, k, top_users)
    user_ids, product_ids = ds.users[C.USER_ID].to_numpy(), ds.items[C.PRODUCT_ID].to_numpy()
    lists = pred.lists.sort_values([C.USER, C.SCORE], ascending=[True, False])
    recs = {user_ids[u]: list(product_ids[g[C.ITEM].to_numpy()]) for u, g in lists.groupby(C.USER, sort=False)}
    raw_truth = truth.rename(columns={C.USER_ID: C.USER, C.PRODUCT_ID: C.ITEM})
    per_buyer = user_recalls(recs, raw_truth, k)  # every truth buyer, 0 without a list
    n_buyers = len(per_buyer)
    bought = raw_truth.groupby(C.USER)[C.ITEM].nunique()
    in_pool = per_buyer.index.isin(user_ids[pool])
    chosen = set(user_ids[np.asarray(pred.selected[final.best_strategy])])

    baseline_recs = history_popularity_baseline(ds.interactions, ds.items, top_users, k)
    baseline = score_against_truth(ds, baseline_recs, truth, top_users, k).recall
    baseline_users = set(user_ids[np.fromiter(baseline_recs, dtype=np.int64)])
    perfect = (np.minimum(bought, k) / bought).reindex(per_buyer.index)
    rows = {
        "history + popularity baseline": baseline,
        "1.5 x the baseline (issue 12's target)": 1.5 * baseline,
        "the run's submission": per_buyer[per_buyer.index.isin(chosen)].sum() / n_buyers,
        "the baseline's users, the run's lists": per_buyer[per_buyer.index.isin(baseline_users)].sum() / n_buyers,
        "oracle users, the run's lists": per_buyer[in_pool].nlargest(top_users).sum() / n_buyers,
        "oracle users, perfect lists": perfect[in_pool].nlargest(top_users).sum() / n_buyers,
    }
    print(f"\n{n_buyers} truth buyers, {in_pool.mean():.1%} of them in the run's pool (seen in the log); the run's "
          f"truth-file recall: {final.test_results['recall']:.4f}\n")  # fmt: skip
    captured = {
        "history + popularity baseline": per_buyer.index.isin(baseline_users).mean(),
        "the run's submission": per_buyer.index.isin(chosen).mean(),
        "the baseline's users, the run's lists": per_buyer.index.isin(baseline_users).mean(),
    }
    print("| submission | truth-file recall | × baseline | truth buyers submitted |\n|---|---|---|---|")
    for name, value in rows.items():
        share = f"{captured[name]:.1%}" if name in captured else ""
        print(f"| {name} | {value:.4f} | {value / baseline:.2f} | {share} |")

    events = ds.interactions[ds.interactions[C.ITEM] != NO_ITEM]
    events = events[events[C.USER].isin(np.flatnonzero(np.isin(user_ids, per_buyer.index)))]
    pairs = events.assign(**{C.USER: user_ids[events[C.USER]], C.ITEM: product_ids[events[C.ITEM]]})
    bought_before = pairs[pairs[C.ACTION] == int(Action.ORDER)][[C.USER, C.ITEM]]
    runs_recs = {u: items for u, items in recs.items() if u in chosen}
    baseline_raw = {user_ids[u]: list(product_ids[np.asarray(items)]) for u, items in baseline_recs.items()}
    header = " | ".join(SPLIT_COLUMNS)
    print(f"\n| submission (recall over every truth buyer) | {header} |\n|---|---|---|---|---|---|---|")
    figures = {f"recall: {name}": value for name, value in rows.items()}
    for name, submitted in (("the run's submission", runs_recs), ("history + popularity baseline", baseline_raw)):
        diag = familiarity_diagnostics(submitted, raw_truth, bought_before, pairs[[C.USER, C.ITEM]], k)
        cells = [sum(diag[key] for key in FAMILIARITY_KEYS[:3]), *(diag[key] for key in FAMILIARITY_KEYS)]
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in cells) + " |")
        figures.update({f"{name}: {column}": value for column, value in zip(SPLIT_COLUMNS[1:], cells[1:], strict=True)})
        figures[f"{name}: share of the re-buy ceiling reached"] = cells[1] / cells[4] if cells[4] else float("nan")
    days = order_days(ds, np.flatnonzero(np.isin(user_ids, per_buyer.index)))
    print_by_order_days(days, raw_truth, runs_recs)
    name = f"the run's submission, past orders of {FREQUENT_DAYS}+ days first"
    diff = user_recalls(frequent_first(runs_recs, days, FREQUENT_DAYS, k), raw_truth, k) - per_buyer.where(
        per_buyer.index.isin(chosen), 0.0
    )
    figures[f"recall: {name}"] = figures["recall: the run's submission"] + diff.mean()
    print(f"\n{name}: {figures[f'recall: {name}']:.4f}, {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(n_buyers):.4f}"
          " buyer by buyer")  # fmt: skip
    if args.json:
        path = Path(args.json)
        runs = json.loads(path.read_text()) if path.exists() else []
        runs.append({"run": run.id, "data": str(final.resolved_data_dir), "figures": figures})
        path.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
