"""Time and memory of the flow's hot parts, one at a time, on one cut of a synthetic preset.

    python -m benchmarks.studies.micro_benchmark --preset full --json micro.json
    python -m benchmarks.studies.micro_benchmark --preset full@0.25 --top-users 750

Stages, in the order the flow runs them, all on the validation cut (history = the log before it): loading the
four files; each candidate source fitted and asked for the pool's candidates (co-visitation, ALS, FAISS, history,
popularity); building the feature table with labels, its learnable rows and the buyer inputs (one shard holding
the whole pool: ``recsys.training.shard_data``, what a ``build_table`` task does); one CatBoost trial per objective
(the default recipe, early-stopped, 2 threads) trained on those learnable rows; buyer selection (buyer model
fitted, P(buy), E[recall | buy], the three strategies). Peak memory is the process's largest RSS during the stage
minus its RSS before it, sampled every 0.05 s. The flow's own per-step figures come from
``benchmarks/flow_benchmark.py``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks import ROOT


@contextmanager
def measured(results: dict, name: str, **extra):
    """Record wall seconds and peak RSS growth of the block under ``results[name]``."""
    import psutil

    proc = psutil.Process()
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    row = {}
    try:
        yield row
    finally:
        seconds = time.perf_counter() - started
        done.set()
        thread.join()
        row.update(seconds=round(seconds, 2), peak_gb=round((max(peak[0], proc.memory_info().rss) - before) / 1e9, 2))
        results[name] = {**row, **extra}
        print(f"{name:<28} {seconds:8.1f} s  +{row['peak_gb']:.2f} GB  {extra or ''}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="full")
    parser.add_argument("--top-users", type=int, default=0, help="default: 3000 x the preset's fraction")
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    from recsys import buyers, training
    from recsys.candidates import SOURCES, make_source
    from recsys.data import load_dataset
    from recsys.model import predict
    from recsys.reranker import Reranker, TrialParams
    from recsys.settings import RunSettings
    from recsys.split import make_cuts, model_history
    from recsys.synthetic import ensure_dataset

    fraction = float(args.preset.partition("@")[2] or 1)
    top_users = args.top_users or max(100, round(3000 * fraction))
    data_dir = ensure_dataset(args.preset, 0, cache_dir=ROOT / "data" / "synthetic")
    results: dict = {"preset": args.preset, "top_users": top_users}

    with measured(results, "load") as row:
        ds = load_dataset(data_dir, progress=False)
        row["rows"] = len(ds.interactions)
    cut = make_cuts(ds.end)["valid"]
    hist = model_history(ds, cut)
    pool = training.user_pools(ds, {"valid": cut}, RunSettings(top_users=top_users).pool)["valid"]
    candidates = {}
    for name in SOURCES:
        with measured(results, f"candidates.{name}") as row:
            candidates[name] = make_source(name).fit(hist, ds.items, ds.vectors).recommend(pool, args.candidates)
            row["candidates"] = len(candidates[name])
    with measured(results, "features") as row:
        data = training.shard_data(ds, cut, pool, candidates)
        row.update(rows=len(data.table), columns=data.table.shape[1])
    for objective in ("YetiRank", "Logloss"):
        with measured(results, f"catboost_trial.{objective}") as row:
            reranker = Reranker(TrialParams(objective)).fit([data.rows], learnable=True)
            row["trees"] = int(reranker.best_iteration_ + 1)
    with measured(results, "buyer_selection"):
        buyer_model = buyers.BuyerModel().fit([data.inputs])
        pred = predict(reranker, buyer_model, data.table, data.inputs, 25, top_users)
        assert set(pred.selected) == set(buyers.STRATEGIES)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
