"""How far could the truth-file recall go with the run's item lists, or with perfect ones? Bounds per dev case.

    # in the folder of a finished run on data that ships truth/truth.parquet (a dev case, a synthetic preset)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=$PWD python benchmarks/truth_bounds.py

The run's final two-stage model (the artifacts of its ``final`` step) ranks every user of the final pool; each
truth buyer's recall of their list is then summed over a choice of ``top_users`` users and divided by all the
buyers of the truth file (a buyer left out, or never seen in the log, scores 0), exactly as the metric does:

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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # artifacts unpickle recsys objects

from runs import add_run_id, open_run  # noqa: E402

from recsys.baselines import history_popularity_baseline  # noqa: E402
from recsys.evaluation import score_against_truth  # noqa: E402
from recsys.metrics import user_recalls  # noqa: E402
from recsys.model import TwoStageModel  # noqa: E402
from recsys.schema import Columns as C  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    args = parser.parse_args()
    run = open_run(args.run_id)
    final = run["final"].task.data
    ds, truth, k, top_users = final.ds, final.truth, int(final.k), int(final.top_users)
    if truth is None:
        raise SystemExit(f"RecsysFlow/{run.id}: its data ships no truth file")
    print(f"RecsysFlow/{run.id} on {final.resolved_data_dir}; top users {top_users}, k {k}", flush=True)
    model = TwoStageModel.at_cut(ds, final.cuts["final"], final.final_sources, final.final_reranker,
                                 final.final_buyer_model, final.best_strategy, final.candidates)  # fmt: skip
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


if __name__ == "__main__":
    main()
