"""How many of the validation windows' buyers the buyer model puts in the submission, by the number of daily cuts
it learns from (``--buyer-cuts``), next to the baselines' activity ranking.

    python -m benchmarks.studies.buyer_model --data-dir ../shared/data/holdout-dev/onlineretail-2011-11-20 \
        --top-users 1500 --cuts 2 6 12 20

Each window: the model's ``--top-users`` users by P(buy) among the pool, and the share of that window's buyers
(all of them, also those outside the pool) they hold: the recall a perfect item list would reach. Printed as a
mean over the 3 windows with the standard error of the mean (the windows' spread, floored at the buyers' binomial
error). Uses the flow's own functions (``recsys.training.fit_buyer_models``' cuts and inputs).

``--pool-size N``: the model chooses among the N most active users of each window (the flow's default:
4 x the budget); ``--train-pool-size M``: it learns from the M most active of each daily cut instead (the flow
learns from 4 x the budget and chooses among 16 x: ``recsys.buyers.screened_pool``).

``--model K=V ...``: other ``BuyerModel`` settings (e.g. ``iterations=400 depth=6``).

``--without FEATURE ...``: the model of the most cuts is also fitted without those user features, and the two
are compared buyer by buyer (each window buyer captured or not under each model; the paired difference of
``recsys.metrics.paired_difference``), e.g. ``--cuts 20 --without u_order_due u_basket_to_order``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd

from recsys.buyers import BuyerModel, rank_users
from recsys.cli import resolve_data_dir
from recsys.data import load_dataset
from recsys.metrics import paired_difference
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import cut_names, daily_cuts, make_cuts, target
from recsys.training import labelled_buyer_inputs
from recsys.validation import over_windows


def captured(score: pd.Series, labels: pd.Series, buyers: int, budget: int) -> dict[str, float]:
    """The share of the window's ``buyers`` among the ``budget`` best-scored users."""
    hits = float(labels.reindex(rank_users(score)[:budget]).fillna(0).sum())
    share = hits / buyers
    return {"recall": share, "recall_se": float(np.sqrt(share * (1 - share) / buyers))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="", help="a folder of the four files; empty: --preset")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--top-users", type=int, default=3000)
    parser.add_argument("--cuts", type=int, nargs="+", default=[2, 6, 12, 20])
    parser.add_argument("--pool-size", type=int, default=0, help="users scored per cut (0: the flow's default)")
    parser.add_argument("--train-pool-size", type=int, default=0, help="users per training cut (0: --pool-size)")
    parser.add_argument("--model", nargs="*", default=[], help="BuyerModel arguments, e.g. iterations=400 depth=6")
    parser.add_argument("--without", nargs="*", default=[], help="user features to drop in a paired comparison")
    args = parser.parse_args(argv)
    options = {k: float(v) if "." in v else int(v) for k, v in (o.split("=", 1) for o in args.model)}

    ds = load_dataset(resolve_data_dir(args.data_dir, args.preset, 0), progress=False)
    cuts = make_cuts(ds.end, n_valid=3)
    size = RunSettings(top_users=args.top_users, pool_size=args.pool_size).pool
    windows = {n: cuts[n] for n in cut_names(cuts, "valid")}
    valid = {n: labelled_buyer_inputs(ds, cut, size) for n, cut in windows.items()}
    buyers = {n: target(ds.interactions, cut)[C.USER].nunique() for n, cut in windows.items()}
    oldest = min(cut.at for cut in windows.values())
    daily = list(daily_cuts(oldest, max(args.cuts), ds.interactions[C.TS].min()).values())
    started = time.perf_counter()
    train = [labelled_buyer_inputs(ds, cut, args.train_pool_size or size) for cut in daily]
    print(f"inputs of {len(daily)} training cuts: {time.perf_counter() - started:.1f} s")

    def row(name, per_window, seconds=float("nan")):
        m = over_windows([per_window[w] for w in windows])
        print(f"| {name} | {m['recall']:.3f} ± {m['recall_se']:.3f} | {seconds:.1f} |")

    print(f"{len(daily)} daily cuts available before the oldest window; budget {args.top_users}, pool {size}")
    print("| buyer model | validation buyers captured (mean ± s.e.) | fit s |\n|---|---|---|")
    row("activity ranking", {w: captured(i.activity.reindex(i.users).fillna(0), i.labels, buyers[w],
                                         args.top_users) for w, i in valid.items()})  # fmt: skip
    for n in sorted({min(n, len(train)) for n in args.cuts}):  # a short log has fewer cuts than asked for
        started = time.perf_counter()
        model = BuyerModel(**options).fit(train[:n])
        seconds = time.perf_counter() - started
        row(f"{n} cuts", {w: captured(model.predict(i), i.labels, buyers[w], args.top_users) for w, i in valid.items()},
            seconds)  # fmt: skip
    if args.without:
        every_buyer = {w: target(ds.interactions, cut)[C.USER].unique() for w, cut in windows.items()}

        def per_buyer(fitted: BuyerModel, inputs: dict) -> dict[str, pd.Series]:
            """1 for each window buyer among the budget's best-scored users, else 0 (also outside the pool)."""
            out = {}
            for w, i in inputs.items():
                chosen = set(rank_users(fitted.predict(i))[: args.top_users])
                out[w] = pd.Series([float(u in chosen) for u in every_buyer[w]], index=every_buyer[w])
            return out

        missing = sorted(set(args.without) - set(train[0].user_feats.columns))
        if missing:
            raise SystemExit(f"no such user feature(s): {missing}")
        drop = [dataclasses.replace(i, user_feats=i.user_feats.drop(columns=args.without)) for i in train[:n]]
        started = time.perf_counter()
        reduced = BuyerModel(**options).fit(drop)
        seconds = time.perf_counter() - started
        reduced_valid = {w: dataclasses.replace(i, user_feats=i.user_feats.drop(columns=args.without))
                         for w, i in valid.items()}  # fmt: skip
        row(f"{n} cuts without {', '.join(args.without)}",
            {w: captured(reduced.predict(i), i.labels, buyers[w], args.top_users) for w, i in reduced_valid.items()},
            seconds)  # fmt: skip
        diff, se = paired_difference(per_buyer(model, valid), per_buyer(reduced, reduced_valid))
        print(f"\nwith minus without, buyer by buyer over the windows: {diff:+.4f} ± {se:.4f}")


if __name__ == "__main__":
    main()
