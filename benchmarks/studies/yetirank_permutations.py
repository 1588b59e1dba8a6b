"""YetiRank's permutations per step: the item lists and the fit time of the run's chosen trial with each count.

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.yetirank_permutations \
        --permutations 10 3 --seeds 0 1

Refits the run's chosen trial (YetiRank) on the run's own training rows with each number of permutations (CatBoost's
default is 10) and seed, and scores each buyer of the pool on the run's validation windows as
``reranker_training.py`` does: mean item recall ± s.e., and the paired difference per buyer against the first
setting's first seed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import recsys.reranker as reranker_module
from benchmarks.runs import add_run_id, open_run, reader
from benchmarks.studies.reranker_training import item_recall, validation_windows
from recsys.schema import DEFAULT_K
from recsys.split import cut_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--permutations", nargs="+", type=int, default=[10, 3])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    run = open_run(args.run_id)
    data = run["join_tables"].task.data
    params = run.data.best_params
    if params.objective != "YetiRank":
        raise SystemExit(f"the run chose {params.objective}, not YetiRank")
    shards = reader(data)
    rows = [shards.rows(name) for name in cut_names(data.cuts, "train")]
    windows = validation_windows(data)
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}; trial: {params.label}")
    first = None
    for permutations in args.permutations:
        reranker_module.YETIRANK_PERMUTATIONS = permutations
        for seed in args.seeds:
            started = time.perf_counter()
            model = reranker_module.Reranker(params, seed=seed).fit(rows, learnable=True)
            seconds = time.perf_counter() - started
            recalls = pd.concat([item_recall(t, model.raw(t), nb, DEFAULT_K) for t, nb in windows.values()])
            recalls = recalls.to_numpy()
            first = recalls if first is None else first
            diff = recalls - first
            print(
                f"permutations {permutations}, seed {seed}: {recalls.mean():.4f} ± "
                f"{recalls.std(ddof=1) / np.sqrt(len(recalls)):.4f}, vs permutations {args.permutations[0]} seed "
                f"{args.seeds[0]}: {diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} "
                f"(fit {seconds:.0f} s, {model.best_iteration_ + 1} trees)",
                flush=True,
            )


if __name__ == "__main__":
    main()
