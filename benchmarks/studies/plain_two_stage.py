"""Are the project's item lists better than a plain two-stage model's, for the same users? Item recall per buyer.

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.plain_two_stage --seeds 0 1

Issue 12 measured a two-stage CatBoost "written in an afternoon" (history, co-visitation and ALS candidates, a
few counts as features, one training window) as good as the project's item lists. The flow scores such a model
in every run (``recsys.hypotheses.plain_two_stage``, the "plain two-stage" hypothesis: users chosen by the same
buyer model). This script takes it apart on the run's own artifacts, for the same users (every buyer of the pool
on the validation windows), so only the item lists differ:

- ``plain``: the flow's plain model (``recsys.hypotheses.plain_table``: the user's history, co-visitation, ALS
  and popular candidates, their scores and ranks and ten counts), learnt from the newest training window alone;
- ``plain, every window``: the same learnt from the run's training windows (what the windows add);
- ``plain candidates, every feature``: the plain candidates with every feature of the project and its windows
  (what the features add; the rest, up to ``project``, is what the other sources add);
- ``project``: the run's chosen trial refitted on its own training rows, as the flow does.

Each is fitted with the run's trial parameters (loss, depth, learning rate, early stopping on held-out users)
under each seed. Printed: the mean item recall ± s.e. over the buyers of all windows and the paired difference
per buyer against ``plain`` under the same seed ± its standard error.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from benchmarks.runs import add_run_id, open_run
from benchmarks.studies.reranker_training import chosen_trial_data, item_recall
from recsys.features import keep_sources
from recsys.hypotheses import PLAIN_SOURCES, plain_table
from recsys.reranker import Reranker, learnable_rows
from recsys.schema import DEFAULT_K


def plain_candidates(table: pd.DataFrame) -> pd.DataFrame:
    """The plain model's candidates with every feature of the project (but the other sources' columns)."""
    return keep_sources(table, PLAIN_SOURCES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    data, params, _, rows, windows = chosen_trial_data(open_run(args.run_id))
    newest = type(params)(**{**params.as_dict(), "train_cuts": 1})
    variants = {  # label: (trial, the table as the model sees it)
        "plain": (newest, plain_table),
        "plain, every window": (params, plain_table),
        "plain candidates, every feature": (params, plain_candidates),
        "project": (params, None),
    }
    print("\n| model | seed | item recall ± s.e. | minus plain, same seed (paired) | trees | fit s |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        results = {}
        for label, (trial, view) in variants.items():
            started = time.perf_counter()
            parts = rows if view is None else [learnable_rows(view(r)) for r in rows]
            model = Reranker(trial, seed=seed).fit(parts, learnable=True)
            got = []
            for table, n_bought in windows.values():
                seen = table if view is None else view(table)
                got.append(item_recall(seen, model.raw(seen), n_bought, DEFAULT_K))
            got = np.concatenate([g.to_numpy() for g in got])
            results[label] = got
            diff = got - results["plain"]
            print(f"| {label} | {seed} | {got.mean():.4f} ± {got.std(ddof=1) / np.sqrt(len(got)):.4f} | "
                  f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} | {model.best_iteration_ + 1} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
