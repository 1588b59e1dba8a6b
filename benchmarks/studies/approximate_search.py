"""Exact against approximate top-n search (recsys.candidates.ann) for the FAISS and ALS sources, on one cut.

    python -m benchmarks.studies.approximate_search --preset full@2 --top-users 6000
    python -m benchmarks.studies.approximate_search --preset full@2 --nprobe 24 48 96  # lists scanned per query

For each source: the search time over the cut's user pool (4 x --top-users, the most active users), the share of
the exact top-50 lists the approximate search returns, and the candidate recall@25/50 of both (the share of each
pool buyer's purchases in the 3 days after the cut among their candidates). The fit is shared: only the search
differs.
"""

from __future__ import annotations

import argparse
import copy
import time

from recsys.buyers import user_pool
from recsys.candidates import ann
from recsys.candidates.als import ALSSource
from recsys.candidates.embeddings import EmbeddingSource
from recsys.cli import resolve_data_dir
from recsys.data import load_dataset
from recsys.metrics import candidate_recall
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import make_cuts, model_history, target

N = 50


def overlap(exact, approx) -> float:
    """Share of the exact (user, item) candidates the approximate search also returns."""
    pairs = set(zip(exact[C.USER], exact[C.ITEM], strict=True))
    return len(pairs & set(zip(approx[C.USER], approx[C.ITEM], strict=True))) / max(len(pairs), 1)


def timed(source, pool) -> tuple:
    started = time.perf_counter()
    out = source.recommend(pool, N)
    return out, time.perf_counter() - started


def compare(name: str, exact_source, approx_source, pool, truth) -> str:
    exact, exact_s = timed(exact_source, pool)
    approx, approx_s = timed(approx_source, pool)
    e, a = (candidate_recall(c, truth, (25, N), users=pool) for c in (exact, approx))
    return (
        f"| {name} | {exact_s:.1f} | {approx_s:.1f} | {overlap(exact, approx):.3f} | {e[25]:.4f} / {e[N]:.4f} | "
        f"{a[25]:.4f} / {a[N]:.4f} |"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="", help="a folder of the four files; empty: --preset")
    parser.add_argument("--preset", default="full@2")
    parser.add_argument("--top-users", type=int, default=6000)
    parser.add_argument("--cut", default="valid")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[ann.NPROBE], help="lists scanned per query")
    args = parser.parse_args(argv)

    ds = load_dataset(resolve_data_dir(args.data_dir, args.preset, 0), progress=False)
    cut = make_cuts(ds.end, n_valid=3)[args.cut]
    hist = model_history(ds, cut)
    pool = user_pool(hist, RunSettings(top_users=args.top_users).pool)
    truth = target(ds.interactions, cut)
    print(f"{args.preset or args.data_dir}: {len(ds.items):,} items, {len(pool):,} pool users, cut {cut}")
    print(f"(approximate above {ann.EXACT_ITEMS:,} items; here forced approximate for the comparison)\n")
    print("| source | exact search s | approximate s | exact top-50 found | recall@25 / @50 exact | approximate |")
    print("|---|---|---|---|---|---|")
    faiss = EmbeddingSource(exact_items=10**9).fit(hist, ds.items, ds.vectors)
    als = ALSSource(exact_items=10**9).fit(hist, ds.items)
    for nprobe in args.nprobe:
        ann.NPROBE = nprobe
        approx = copy.copy(faiss)  # the same fit, another search
        approx.search_ = ann.InnerProductSearch(faiss.item_vectors_[faiss.index_items_], exact_items=0)
        print(compare(f"faiss (title embeddings), {nprobe} lists", faiss, approx, pool, truth))
        als_approx = copy.copy(als)
        als_approx.search_ = ann.InnerProductSearch(als.model_.item_factors, exact_items=0)
        print(compare(f"als (item factors), {nprobe} lists", als, als_approx, pool, truth))


if __name__ == "__main__":
    main()
