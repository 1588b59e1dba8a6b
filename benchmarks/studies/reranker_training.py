"""Does the reranker rank better with more training windows? Item recall of the pool's buyers by training set.

    # from the repository root, on a finished run's folder (e.g. one of benchmarks/flow_benchmark.py's workdirs)
    METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER python -m benchmarks.studies.reranker_training \
        --variants 1:2:pool 3:2:pool 1:6:pool 1:6:all --seeds 0 1

A variant ``step:n:who`` learns from ``n`` training cuts ``step`` days apart, the newest being the run's ``train``
cut (``1:6:pool`` is the flow's default: six daily cuts), with the buyers of the cut's user pool (``pool``, what
the flow learns from) or every buyer with some history (``all``). ``step:n:who:h`` labels each cut with what
was bought in the ``h`` days after it instead of the metric's 3 (more positives per user: a longer horizon's
purchases rank like the next 3 days'); every cut then moves ``h - 3`` days back, so that the newest target still
ends where the oldest validation window starts (nothing of the validation windows is learnt). Each is fitted
with the run's chosen trial parameters under each seed and scored on the run's validation tables: the recall of
each buyer of the pool (the 25 best-ranked candidates against everything they bought), i.e. the item lists
alone, the users being given.
Printed: per window, the mean ± s.e. over the buyers of all windows, and the paired difference per buyer against
the first variant's first seed ± its standard error (paired, so much smaller than the s.e. of either figure).
Candidates and features of the extra cuts are made with the flow's own functions (``recsys.training``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.runs import add_run_id, open_run, reader
from recsys import buyers
from recsys.candidates import SOURCES, candidates_of
from recsys.reranker import Reranker
from recsys.schema import DEFAULT_K
from recsys.schema import Columns as C
from recsys.split import Cut, cut_names, model_history, target
from recsys.training import fit_sources, shard_data


def parse_variant(spec: str) -> tuple[int, int, str, int]:
    step, n, who, *horizon = spec.split(":")
    if who not in ("pool", "all") or int(step) < 1 or int(n) < 1 or len(horizon) > 1 or int((horizon or [3])[0]) < 3:
        raise ValueError(f"a variant is step:n:pool|all[:horizon >= 3], got {spec!r}")
    return int(step), int(n), who, int((horizon or [3])[0])


def training_rows(ds, cut: Cut, pool_size: int, n_candidates: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The learnable rows of every buyer with some history at ``cut``, and the cut's user pool."""
    hist = model_history(ds, cut)
    pool = buyers.user_pool(hist, pool_size)
    bought = np.intersect1d(target(ds.interactions, cut)[C.USER].unique(), hist[C.USER].unique())
    fitted = fit_sources(list(SOURCES), hist, ds.items, ds.vectors, seed)
    cands = {s: f.recommend(bought, candidates_of(s, n_candidates)) for s, f in fitted.items()}
    return shard_data(ds, cut, bought, cands, learn_only=True).rows, pool


def item_recall(table: pd.DataFrame, score: np.ndarray, n_bought: pd.Series, k: int) -> pd.Series:
    """Per buyer: bought items among the ``k`` best-scored candidates / items bought."""
    ranked = table[[C.USER, C.TARGET]].assign(score=score).sort_values([C.USER, "score"], ascending=[True, False])
    hits = ranked.groupby(C.USER).head(k).groupby(C.USER)[C.TARGET].sum()
    return hits.reindex(n_bought.index).fillna(0) / n_bought


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(frame.columns) + " |", "|---" * len(frame.columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def validation_windows(data) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """Per validation window of a run (``data``: its ``join_tables`` artifacts): the candidate rows of the pool's
    buyers and how many distinct items each bought."""
    windows, tables = {}, reader(data)
    for name in cut_names(data.cuts, "valid"):
        table = tables.table(name)
        bought = target(data.ds.interactions, data.cuts[name])
        n_bought = bought[bought[C.USER].isin(table[C.USER].unique())].groupby(C.USER)[C.ITEM].nunique()
        windows[name] = (table[table[C.USER].isin(n_bought.index)], n_bought)
    return windows


def chosen_trial_data(run):
    """What a benchmark refitting a finished run's chosen trial reads, the run named on stdout first: the run's
    ``join_tables`` artifacts, the trial, the names and learnable rows of its training cuts (newest first) and the
    :func:`validation_windows`."""
    data = run["join_tables"].task.data
    params = run.data.best_params
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}; trial: {params.label}", flush=True)
    names = cut_names(data.cuts, "train")[: params.train_cuts]
    shards = reader(data)
    rows = [shards.rows(name) for name in names]
    return data, params, names, rows, validation_windows(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    parser.add_argument("--variants", nargs="+", default=["1:2:pool", "3:2:pool", "1:6:pool", "1:6:all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants]
    run = open_run(args.run_id)
    data = run["join_tables"].task.data
    ds, cuts, params = data.ds, data.cuts, run.data.best_params
    pool_size = len(data.pools[cut_names(cuts, "valid")[0]])
    print(f"RecsysFlow/{run.id} on {data.resolved_data_dir}; trial: {params.label}")

    windows = validation_windows(data)

    newest, horizon = cuts["train"].at, cuts["train"].horizon_days
    days = sorted({(step * j + h - horizon, h) for step, n, _, h in variants for j in range(n)})
    built = {}
    for day, h in days:
        started = time.perf_counter()
        cut = Cut(newest - pd.Timedelta(days=day), h, f"train-{day}d")
        built[day, h] = training_rows(ds, cut, pool_size, data.candidates, data.seed)
        rows, pool = built[day, h]
        print(f"{cut}: {rows[C.USER].nunique()} buyers with a bought candidate, "
              f"{rows[C.USER].isin(pool).groupby(rows[C.USER]).first().sum()} of them in the pool "
              f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip

    results, per_buyer = [], {}
    for (step, n, who, h), spec in zip(variants, args.variants, strict=True):
        parts = []
        for i, day in enumerate(step * j + h - horizon for j in range(n)):
            rows, pool = built[day, h]
            kept = rows if who == "all" else rows[rows[C.USER].isin(pool)]
            parts.append(kept.assign(**{C.CUT_ID: i}))
        for seed in args.seeds:
            started = time.perf_counter()
            trial = type(params)(**{**params.as_dict(), "train_cuts": n})
            reranker = Reranker(trial, seed=seed).fit(parts, learnable=True)
            recalls = {w: item_recall(t, reranker.raw(t), nb, DEFAULT_K) for w, (t, nb) in windows.items()}
            joined = pd.concat(recalls.values()).to_numpy()
            per_buyer[(spec, seed)] = joined
            first = per_buyer[(args.variants[0], args.seeds[0])]
            diff = joined - first
            results.append(
                {
                    "variant": spec,
                    "seed": seed,
                    "groups": int(sum(p[C.USER].nunique() for p in parts)),
                    **{w: float(r.mean()) for w, r in recalls.items()},
                    "mean": float(joined.mean()),
                    "se": float(joined.std(ddof=1) / np.sqrt(len(joined))),
                    "diff": float(diff.mean()),
                    "diff_se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
                    "fit_s": int(round(time.perf_counter() - started)),
                    "trees": reranker.best_iteration_ + 1,
                }
            )
            r = results[-1]
            print(f"{spec} seed {seed}: {r['mean']:.4f} ± {r['se']:.4f}, vs {args.variants[0]} seed "
                  f"{args.seeds[0]}: {r['diff']:+.4f} ± {r['diff_se']:.4f} ({r['groups']} groups, "
                  f"{r['fit_s']} s)", flush=True)  # fmt: skip

    print()
    print(markdown(pd.DataFrame(results)))
    if args.json:
        out = {"run": run.pathspec, "data": data.resolved_data_dir, "results": results}
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
