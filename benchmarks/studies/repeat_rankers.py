"""How well do plain repeat-purchase rankings do against the reranker, with the users given?

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.repeat_rankers

Per validation window of the run, for each buyer of the pool (the item lists alone): recall@25 of
- ``model``: the run's chosen trial refitted on the run's own training rows, ranking the run's candidates;
- ``recency``: the history + popularity baseline's item list (decayed weight of every action, half-life 3 days);
- ``frequency``: the user's past orders by number of distinct order days, then by the last one (personal top
  frequency, the next-basket literature's strong floor);
- ``decayed frequency``: order days weighted by ``2^(-age / H)`` for each half-life H given.
The paired difference per buyer against ``model`` ± its standard error is printed next to each.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from benchmarks.runs import add_run_id, open_run, reader
from benchmarks.studies.reranker_training import item_recall, validation_windows
from recsys.candidates.history import HistorySource
from recsys.reranker import Reranker
from recsys.schema import DEFAULT_K, Action
from recsys.schema import Columns as C
from recsys.split import cut_names, model_history, target


def list_recall(lists: pd.DataFrame, bought: pd.DataFrame, n_bought: pd.Series) -> np.ndarray:
    """Per buyer of ``n_bought``: share of their bought items in their list (``lists``: user, item, rank)."""
    top = lists[lists["rank"] < DEFAULT_K][[C.USER, C.ITEM]]
    hits = top.merge(bought[[C.USER, C.ITEM]].drop_duplicates()).groupby(C.USER).size()
    return (hits.reindex(n_bought.index).fillna(0) / n_bought).to_numpy()


def order_day_ranking(hist: pd.DataFrame, users: np.ndarray, half_life: float | None) -> pd.DataFrame:
    """Each user's ordered items ranked by (decayed) number of distinct order days, ties by the latest."""
    orders = hist[(hist[C.ACTION] == int(Action.ORDER)) & hist[C.USER].isin(users)]
    now = hist[C.TS].max().normalize() + pd.Timedelta(days=1)
    days = orders.assign(day=orders[C.TS].dt.normalize())[[C.USER, C.ITEM, "day"]].drop_duplicates()
    age = (now - days["day"]).dt.days.to_numpy(np.float64)
    weight = np.ones(len(days)) if half_life is None else np.exp2(-age / half_life)
    scored = (
        days.assign(w=weight, last=-age)
        .groupby([C.USER, C.ITEM], as_index=False)
        .agg(w=("w", "sum"), last=("last", "max"))
    )
    scored = scored.sort_values([C.USER, "w", "last"], ascending=[True, False, False])
    return scored.assign(rank=scored.groupby(C.USER).cumcount())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--half-lives", nargs="*", type=float, default=[7.0, 14.0, 28.0])
    args = parser.parse_args()
    run = open_run(args.run_id)
    data = run["join_tables"].task.data
    params = run.data.best_params
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}; trial: {params.label}")
    shards = reader(data)
    rows = [shards.rows(name) for name in cut_names(data.cuts, "train")]
    model = Reranker(params, seed=0).fit(rows, learnable=True)
    results: dict[str, list[np.ndarray]] = {}
    for name, (table, n_bought) in validation_windows(data).items():
        cut = data.cuts[name]
        hist = model_history(data.ds, cut)
        bought = target(data.ds.interactions, cut)
        users = n_bought.index.to_numpy()
        got = {"model": item_recall(table, model.raw(table), n_bought, DEFAULT_K).to_numpy()}
        recent = HistorySource().fit(hist, data.ds.items).recommend(users, DEFAULT_K)
        recent = recent.assign(rank=recent.groupby(C.USER).cumcount())
        got["recency"] = list_recall(recent, bought, n_bought)
        got["frequency"] = list_recall(order_day_ranking(hist, users, None), bought, n_bought)
        for h in args.half_lives:
            got[f"decayed frequency, H={h:g}"] = list_recall(order_day_ranking(hist, users, h), bought, n_bought)
        print(f"{name}: {len(users)} buyers; " + ", ".join(f"{k} {v.mean():.4f}" for k, v in got.items()), flush=True)
        for key, value in got.items():
            results.setdefault(key, []).append(value)
    base = np.concatenate(results["model"])
    print("\n| ranking | item recall ± s.e. | minus model (paired) |\n|---|---|---|")
    for key, parts in results.items():
        joined = np.concatenate(parts)
        diff = joined - base
        se = joined.std(ddof=1) / np.sqrt(len(joined))
        diff_se = diff.std(ddof=1) / np.sqrt(len(diff))
        print(f"| {key} | {joined.mean():.4f} ± {se:.4f} | {diff.mean():+.4f} ± {diff_se:.4f} |")


if __name__ == "__main__":
    main()
