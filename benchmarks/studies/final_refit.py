"""How steady is the final refit? The chosen trial refitted on the newest labelled cuts under several seeds, with
early stopping on held-out groups (as the flow did) or with the tree count the trial validated, scored on the
truth file.

    # from the repository root, on the folder of a finished run on data that ships truth/truth.parquet
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.final_refit --seeds 0 1 2

For each refit: the trees it kept and the truth-file recall of its submission (the run's final tables, buyer
model, sources and selection strategy, as the flow's ``final`` step builds its model:
:meth:`recsys.model.TwoStageModel.at_cut`, :func:`recsys.submission.final_submission`). The final model learns
from the validation windows too, so only the truth file can score it: one window, hence several seeds, to see how
much of a truth-file figure is the refit's own noise.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.runs import add_run_id, open_run, reader
from recsys import training, trials, validation
from recsys.evaluation import score_truth
from recsys.model import SecondStage, TwoStageModel, rank_final
from recsys.split import labelled_names
from recsys.submission import final_submission


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    run = open_run(args.run_id)
    final = run["final"].task.data
    if final.truth is None:
        raise SystemExit(f"RecsysFlow/{run.id}: its data ships no truth file")
    best = trials.best_outcome(final.outcomes)
    names = labelled_names(final.cuts)[: best.params.train_cuts]
    shards = reader(final)
    rows = [shards.rows(n) for n in names]
    tables = list(shards.tables("final"))
    scope = validation.Scope.of(final.ds, final.cuts, final.settings)
    sources, buyer_model = shards.final_sources(), final.buyer_models["final"]
    print(f"RecsysFlow/{run.id} on {final.resolved_data_dir}; trial {best.params.label}: {best.trees} trees")
    print(f"the run's truth-file recall: {final.test_results['recall']:.4f}\n", flush=True)
    print("| refit | seed | trees | truth-file recall |\n|---|---|---|---|")
    for label, trees in (("early stopping on held-out groups", None), ("the trial's trees, no holdout", best.trees)):
        got = []
        for seed in args.seeds:
            reranker = training.fit_reranker(best.params, rows, seed, trees=trees)
            stage = SecondStage(reranker, buyer_model, final.best_strategy)
            model = TwoStageModel.at_cut(final.ds, scope.cuts["final"], sources, stage, final.candidates)
            ranking = rank_final(stage, tables, final.buyer_inputs["final"], scope.k, scope.top_users)
            result = final_submission(scope.catalog, model, ranking, scope.k, scope.top_users)
            recall = score_truth(final.ds, final.truth, result.recs, int(final.k), int(final.top_users))["recall"]
            got.append(recall)
            print(f"| {label} | {seed} | {reranker.best_iteration_ + 1} | {recall:.4f} |", flush=True)
        print(f"| {label} | mean ± sd | | {np.mean(got):.4f} ± {np.std(got, ddof=1):.4f} |", flush=True)


if __name__ == "__main__":
    main()
