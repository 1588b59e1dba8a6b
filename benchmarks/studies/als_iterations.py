"""ALS fit time and candidate recall by the number of ALS iterations, on the validation cuts of a log.

    python -m benchmarks.studies.als_iterations --preset full --iterations 15 8
    python -m benchmarks.studies.als_iterations --data-dir ../shared/data/holdout-dev/completejourney-2017-03-15

Candidate recall@25/50 is the share of each pool buyer's purchases among the 50 ALS candidates of the user pool
the flow scores (4 x --top-users), averaged over the buyers of the cut's 3-day window.
"""

from __future__ import annotations

import argparse
import time

from recsys.buyers import user_pool
from recsys.candidates.als import ALSSource
from recsys.cli import resolve_data_dir
from recsys.data import load_dataset
from recsys.metrics import candidate_recall
from recsys.settings import RunSettings
from recsys.split import make_cuts, model_history, target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="", help="a folder of the four files; empty: --preset")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--top-users", type=int, default=3000)
    parser.add_argument("--iterations", type=int, nargs="+", default=[15, 8])
    parser.add_argument("--cuts", nargs="+", default=["valid", "valid2"])
    args = parser.parse_args(argv)

    ds = load_dataset(resolve_data_dir(args.data_dir, args.preset, 0), progress=False)
    cuts = make_cuts(ds.end, n_valid=3)
    print("| cut | iterations | fit s | candidate recall@25 | @50 |\n|---|---|---|---|---|")
    for name in args.cuts:
        cut = cuts[name]
        hist = model_history(ds, cut)
        pool = user_pool(hist, RunSettings(top_users=args.top_users).pool)
        truth = target(ds.interactions, cut)
        for iterations in args.iterations:
            started = time.perf_counter()
            source = ALSSource(iterations=iterations).fit(hist, ds.items)
            seconds = time.perf_counter() - started
            found = candidate_recall(source.recommend(pool, 50), truth, (25, 50), users=pool)
            print(f"| {name} | {iterations} | {seconds:.1f} | {found[25]:.4f} | {found[50]:.4f} |")


if __name__ == "__main__":
    main()
