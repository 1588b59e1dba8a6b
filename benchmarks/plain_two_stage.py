"""Are the project's item lists better than a plain two-stage model's, for the same users? Item recall per buyer.

    # in the folder of a finished run (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=$PWD python benchmarks/plain_two_stage.py --seeds 0 1

Issue 12 measured a two-stage CatBoost "written in an afternoon" (history, co-visitation and ALS candidates, a
few counts as features, one training window) as good as the project's item lists. This script builds that plain
model from the run's own artifacts and scores both on the run's validation windows for the same users (every buyer
of the pool), so only the item lists differ:

- ``project``: the run's chosen trial refitted on its own training rows (every source, every feature, its
  training windows), as the flow does;
- ``plain``: candidates of the user's own history (its 50 best), co-visitation and ALS only; as features their
  scores and ranks plus the user-item, user and item counts a first model would have (``PLAIN_FEATURES``); learnt
  from the newest training window alone; lists shorter than 25 padded with the trending items;
- ``plain, every window``: the same learnt from the run's training windows (what the windows add);
- ``plain candidates, every feature``: the plain candidates with the project's features and windows (what the
  extra sources add; the rest is what the features add).

Each is fitted with the run's trial parameters (loss, depth, learning rate, early stopping on held-out users)
under each seed. Printed: the mean item recall ± s.e. over the buyers of all windows and the paired difference
per buyer against ``plain`` under the same seed ± its standard error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # artifacts unpickle recsys objects

from reranker_training import item_recall, validation_windows  # noqa: E402
from runs import add_run_id, open_run  # noqa: E402

from recsys.reranker import Reranker  # noqa: E402
from recsys.schema import DEFAULT_K, NON_FEATURE_COLUMNS, source_columns  # noqa: E402
from recsys.split import cut_names  # noqa: E402

#: The candidate sources of the plain model and the depth of its history list.
PLAIN_SOURCES = ("history", "covisit", "als")
PLAIN_HISTORY_DEPTH = 50
#: What a first model would count: the user's views / basket adds / orders of the item and how long ago they last
#: touched it; the user's activity; the item's recent demand.
PLAIN_FEATURES = [
    "ui_view", "ui_addb", "ui_order", "ui_days_since_any",
    "u_events", "u_orders", "u_days_since_last",
    "i_view_7", "i_order_7", "i_users_7",
]  # fmt: skip
PAD_SOURCE = "popular"


def plain_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows the plain model's sources propose (the history list cut at its 50 best)."""
    keep = np.zeros(len(table), bool)
    for source in PLAIN_SOURCES:
        rank = table[source_columns(source)[1]].to_numpy()
        keep |= ~np.isnan(rank) & ((rank <= PLAIN_HISTORY_DEPTH) if source == "history" else True)
    return keep


def plain_columns(table: pd.DataFrame, every_feature: bool) -> pd.DataFrame:
    """The plain sources' rows of ``table`` with the plain model's columns (or every feature but the other
    sources' and their count)."""
    others = [c for s in ("neighbours", "faiss", "popular", "popular_category") for c in source_columns(s)]
    rows = table[plain_rows(table)]
    if every_feature:
        return rows.drop(columns=[c for c in [*others, "n_sources"] if c in rows.columns])
    plain = [c for s in PLAIN_SOURCES for c in source_columns(s)] + PLAIN_FEATURES
    return rows[[c for c in rows.columns if c in NON_FEATURE_COLUMNS or c in plain]]


def padded_scores(table: pd.DataFrame, model: Reranker, every_feature: bool) -> np.ndarray:
    """Scores over every row of ``table``: the plain rows by ``model``, then the trending items by their rank (the
    padding of a list shorter than 25), the rest never ranked."""
    scores = np.full(len(table), -1e12)
    pad = table[source_columns(PAD_SOURCE)[1]].to_numpy()
    scores[~np.isnan(pad)] = -1e6 - pad[~np.isnan(pad)]
    keep = plain_rows(table)
    scores[keep] = model.raw(plain_columns(table, every_feature))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    run = open_run(args.run_id)
    data = run["join_tables"].task.data
    params = run.data.best_params
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}; trial: {params.label}", flush=True)
    names = cut_names(data.cuts, "train")[: params.train_cuts]
    rows = [getattr(data, f"rows_{name}").frame for name in names]
    windows = validation_windows(data)
    newest = type(params)(**{**params.as_dict(), "train_cuts": 1})

    variants = {
        "plain": (newest, False),
        "plain, every window": (params, False),
        "plain candidates, every feature": (params, True),
    }
    print("\n| model | seed | item recall ± s.e. | minus plain, same seed (paired) | trees | fit s |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        results = {}
        for label in ["plain", *[v for v in variants if v != "plain"], "project"]:
            started = time.perf_counter()
            if label == "project":
                model = Reranker(params, seed=seed).fit(rows, learnable=True)
                got = [item_recall(t, model.raw(t), n, DEFAULT_K) for t, n in windows.values()]
            else:
                trial, every_feature = variants[label]
                parts = [plain_columns(r, every_feature) for r in rows]
                model = Reranker(trial, seed=seed).fit(parts, learnable=True)
                got = [
                    item_recall(t, padded_scores(t, model, every_feature), n, DEFAULT_K) for t, n in windows.values()
                ]
            got = np.concatenate([g.to_numpy() for g in got])
            results[label] = got
            diff = got - results["plain"]
            print(f"| {label} | {seed} | {got.mean():.4f} ± {got.std(ddof=1) / np.sqrt(len(got)):.4f} | "
                  f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} | {model.best_iteration_ + 1} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
