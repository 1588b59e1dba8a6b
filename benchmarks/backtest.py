"""The whole flow against the history + popularity baseline on several truth windows of one real log.

    python -m benchmarks.backtest --data-dir ../shared/data/holdout-dev/onlineretail-2011-11-20 --top-users 1500 \
        --ends 2011-11-16 2011-11-12 2011-11-08 2011-11-04 2011-10-31 --json backtest.json

A dev case has one truth window: the 3 days after its log, a few hundred buyers, a recall with a standard error of
~0.015 and a ratio to the baseline that moves by ~0.1 from one window to the next. For each ``--ends`` date E this
writes a copy of the case whose log stops at E (the actions dated before E; the catalog, mapping and vectors as
they are) with the orders of ``[E, E + 3 days)`` of the full log as its truth, and runs the flow on it as users do
(``benchmarks/flow_benchmark.py``: defaults, ``--max-workers 2``). Each run sees only its own log, so no run
learns from its truth window; the ends should be at least 3 days apart (non-overlapping truth windows).

Printed per end and as a mean over the ends: the run's truth-file recall, the baseline's on the same file (from
the same log), their ratio, and the difference buyer by buyer ± its standard error. The mean difference's error is
the ends' spread over sqrt(n). Then ``benchmarks/studies/truth_bounds.py`` runs on every window's run (its tables, which
split the recall into items re-bought and new to the buyer, go to ``truth_bounds.txt`` in each window's run
folder) and prints the mean ± s.e. over the windows of its figures (``--no-bounds`` skips it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks import child_env, module_command
from benchmarks.flow_benchmark import benchmark
from recsys.schema import (
    ACTIONS_FILE,
    HORIZON_DAYS,
    RAW_ACTIONS_COLUMNS,
    RAW_FILES,
    RAW_TRUTH_COLUMNS,
    TRUTH_FILE,
    Action,
)

USER_ID, _, ACTION, DATE, PRODUCTS, _ = RAW_ACTIONS_COLUMNS
TRUTH_BOUNDS = "benchmarks.studies.truth_bounds"


def write_case(source: Path, end: pd.Timestamp, out: Path) -> int:
    """``source`` as if its log stopped at ``end``, with the orders of the ``HORIZON_DAYS`` after it as the truth,
    in ``out``; returns the number of truth buyers."""
    out.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        if name != ACTIONS_FILE:
            shutil.copy(source / name, out / name)
    actions = pq.read_table(source / ACTIONS_FILE)
    dates = actions[DATE]
    stop = pa.scalar(end.to_pydatetime(), type=dates.type)
    horizon = pa.scalar((end + pd.Timedelta(days=HORIZON_DAYS)).to_pydatetime(), type=dates.type)
    pq.write_table(actions.filter(pc.less(dates, stop)), out / ACTIONS_FILE)
    window = actions.filter(
        pc.and_(
            pc.and_(pc.greater_equal(dates, stop), pc.less(dates, horizon)),
            pc.equal(actions[ACTION], int(Action.ORDER)),
        )
    ).to_pandas()
    truth = window[[USER_ID, PRODUCTS]].explode(PRODUCTS).dropna().astype(str).drop_duplicates()
    truth.columns = list(RAW_TRUTH_COLUMNS)
    if truth.empty:
        raise SystemExit(f"{source}: no orders in the {HORIZON_DAYS} days from {end:%Y-%m-%d}: is it inside the log?")
    (out / TRUTH_FILE).parent.mkdir(parents=True, exist_ok=True)
    truth.to_parquet(out / TRUTH_FILE, index=False)
    return truth[RAW_TRUTH_COLUMNS[0]].nunique()


def truth_bounds(run_folder: Path, bounds_json: Path) -> None:
    """``benchmarks/studies/truth_bounds.py`` on the run in ``run_folder``: its tables to ``truth_bounds.txt``
    there, its figures appended to ``bounds_json``."""
    env = child_env(METAFLOW_DATASTORE_SYSROOT_LOCAL=str(run_folder))
    with open(run_folder / "truth_bounds.txt", "w") as out:
        cmd = module_command(TRUTH_BOUNDS, "--json", str(bounds_json.resolve()))
        subprocess.run(cmd, cwd=run_folder, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="a real case: the four files (its own truth is not used)")
    parser.add_argument("--ends", nargs="+", required=True, help="dates the copies' logs stop at, e.g. 2011-11-17")
    parser.add_argument("--top-users", type=int, default=3000)
    parser.add_argument("--workdir", default="/tmp/recsys-backtest")
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--no-bounds", action="store_true", help="skip truth_bounds.py on the windows' runs")
    parser.add_argument("flow_args", nargs="*", help="extra flow parameters, after --")
    args = parser.parse_args()
    source = Path(args.data_dir).resolve()
    bounds_json = Path(args.workdir) / "truth_bounds.json"
    bounds_json.unlink(missing_ok=True)
    rows = []
    for end in sorted(pd.Timestamp(e) for e in args.ends):
        case = Path(args.workdir) / f"{source.name}@{end:%Y-%m-%d}"
        buyers = write_case(source, end, case / "data")
        print(
            f"{case.name}: log before {end:%Y-%m-%d}, {buyers} truth buyers in the {HORIZON_DAYS} days after",
            flush=True,
        )
        result = benchmark(case.name, args.top_users, case / "run", args.flow_args, data_dir=str(case / "data"))
        test = result["test"]
        if not args.no_bounds:
            truth_bounds(case / "run", bounds_json)
        rows.append(
            {
                "end": f"{end:%Y-%m-%d}",
                "weekday": f"{end:%a}",
                "buyers": int(test["buyers"]),
                "model": test["recall"],
                "baseline": test["baseline_recall"],
                "ratio": test["recall"] / test["baseline_recall"],
                "difference": test["baseline_difference"],
                "difference_se": test["baseline_difference_se"],
                "buyers_captured": test["buyers_captured"],
                "valid_recall": result["valid_recall"],
                "wall_s": result["wall_s"],
                "run": result["run"],
            }
        )
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    print("\n| log stops at | buyers | model | baseline | × baseline | minus the baseline (paired) | buyers submitted "
          "| valid recall | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['end']} ({r['weekday']}) | {r['buyers']} | {r['model']:.4f} | {r['baseline']:.4f} | "
              f"{r['ratio']:.2f} | {r['difference']:+.4f} ± {r['difference_se']:.4f} | {r['buyers_captured']:.3f} | "
              f"{r['valid_recall']:.4f} | {r['wall_s']:.0f} |")  # fmt: skip
    if len(rows) > 1:
        model, base = np.array([r["model"] for r in rows]), np.array([r["baseline"] for r in rows])
        diff = model - base
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        print(f"| mean of {len(rows)} | | {model.mean():.4f} | {base.mean():.4f} | {model.mean() / base.mean():.2f} | "
              f"{diff.mean():+.4f} ± {se:.4f} | | | |")  # fmt: skip
    if not args.no_bounds:
        print(f"\ntruth_bounds.py on each window (tables: truth_bounds.txt in each run folder; {bounds_json}):")
        subprocess.run(module_command(TRUTH_BOUNDS, "--mean", str(bounds_json)), env=child_env(), check=True)


if __name__ == "__main__":
    main()
