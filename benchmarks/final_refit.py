"""How steady is the final refit? The chosen trial refitted on the newest labelled cuts under several seeds, with
early stopping on held-out groups (as the flow did) or with the tree count the trial validated, scored on the
truth file.

    # in the folder of a finished run on data that ships truth/truth.parquet (a dev case, a synthetic preset)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=$PWD python benchmarks/final_refit.py --seeds 0 1 2

For each refit: the trees it kept and the truth-file recall of its submission (the run's final table, buyer
model and selection strategy; :func:`recsys.experiment.final_submission`). The final model learns from the
validation windows too, so only the truth file can score it: one window, hence several seeds, to see how much of a
truth-file figure is the refit's own noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # artifacts unpickle recsys objects

from runs import add_run_id, open_run  # noqa: E402

from recsys import experiment  # noqa: E402
from recsys.evaluation import score_truth  # noqa: E402
from recsys.split import labelled_names  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    run = open_run(args.run_id)
    final = run["final"].task.data
    if final.truth is None:
        raise SystemExit(f"RecsysFlow/{run.id}: its data ships no truth file")
    best = experiment.best_outcome(final.outcomes)
    names = labelled_names(final.cuts)[: best.params.train_cuts]
    rows = [getattr(final, experiment.rows_artifact(n)).frame for n in names]
    table = getattr(final, experiment.table_artifact("final")).frame
    print(f"RecsysFlow/{run.id} on {final.resolved_data_dir}; trial {best.params.label}: {best.trees} trees")
    print(f"the run's truth-file recall: {final.test_results['recall']:.4f}\n", flush=True)
    print("| refit | seed | trees | truth-file recall |\n|---|---|---|---|")
    for label, trees in (("early stopping on held-out groups", None), ("the trial's trees, no holdout", best.trees)):
        got = []
        for seed in args.seeds:
            result = experiment.final_submission(final.ds, final.cuts["final"], table, final.buyer_inputs["final"],
                                                 rows, final.final_buyer_model, best.params, final.best_strategy,
                                                 int(final.k), int(final.top_users), seed, trees=trees)  # fmt: skip
            recall = score_truth(final.ds, final.truth, result.recs, int(final.k), int(final.top_users))["recall"]
            got.append(recall)
            print(f"| {label} | {seed} | {result.reranker.best_iteration_ + 1} | {recall:.4f} |", flush=True)
        print(f"| {label} | mean ± sd | | {np.mean(got):.4f} ± {np.std(got, ddof=1):.4f} |", flush=True)


if __name__ == "__main__":
    main()
