"""How much of what buyers buy they had bought before, and how much of it the candidates hold, per validation window.

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.repeat_share

Per window, over the (user, item) pairs the pool's buyers ordered: the share the user had ordered before the cut
(repeats), the share among the user's candidates, and the share of repeats missing from them; per buyer, the
recall a perfect ranking of their repeats alone would reach (at most 25 of them), and the recall cap that 25
slots put on large baskets. Reads the run's validation tables (``table_valid*_<shard>``) and its dataset.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.runs import add_run_id, open_run, reader
from recsys.metrics import recall_by_familiarity
from recsys.schema import DEFAULT_K, Action
from recsys.schema import Columns as C
from recsys.split import cut_names, model_history, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    args = parser.parse_args()
    run = open_run(args.run_id)
    data = run["join_tables"].task.data
    ds, cuts = data.ds, data.cuts
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}")
    header = ["window", "bought pairs", "repeats", "in candidates", "repeats not in candidates", "perfect repeats"]
    print("| " + " | ".join([*header, "25-slot cap"]) + " |")
    print("|---|---|---|---|---|---|---|")
    tables = reader(data)
    for name in cut_names(cuts, "valid"):
        table = tables.table(name)
        hist = model_history(ds, cuts[name])
        before = hist.loc[hist[C.ACTION] == int(Action.ORDER), [C.USER, C.ITEM]].drop_duplicates()
        bought = target(ds.interactions, cuts[name])
        bought = bought[bought[C.USER].isin(table[C.USER].unique())]
        bought = bought.merge(before.assign(repeat=1), how="left").fillna({"repeat": 0})
        bought = bought.merge(table[[C.USER, C.ITEM]].assign(candidate=1), how="left").fillna({"candidate": 0})
        ceilings = recall_by_familiarity({}, bought, before, before, DEFAULT_K)
        perfect = ceilings["rebought_ceiling"].mean()
        cap = np.minimum(1, DEFAULT_K / bought.groupby(C.USER).size()).mean()
        missing = ((bought["repeat"] == 1) & (bought["candidate"] == 0)).mean()
        print(
            f"| {name} | {len(bought):,} | {bought['repeat'].mean():.3f} | {bought['candidate'].mean():.3f} | "
            f"{missing:.3f} | {perfect:.3f} | {cap:.3f} |"
        )


if __name__ == "__main__":
    main()
