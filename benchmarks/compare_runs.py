"""Two finished runs on the same data compared buyer by buyer: validation windows and the truth file.

    python -m benchmarks.compare_runs RUN_FOLDER_A RUN_FOLDER_B    # e.g. two benchmarks/flow_benchmark.py workdirs

Each folder holds one run's Metaflow datastore (its latest successful run is read) and its ``submission.csv``.
Printed: B minus A on the validation windows (each run's chosen row, the recall of every buyer of every window,
:func:`recsys.metrics.paired_difference`) and on the truth file when the data ships one (each truth buyer's
recall under the two submissions; a buyer left out scores 0), each ± its standard error. Paired, so a
difference much smaller than either run's own error is still seen.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import child_env
from recsys.data import load_truth
from recsys.metrics import paired_difference, user_recalls
from recsys.schema import DEFAULT_K, SUBMISSION_COLUMNS, TRUTH_FILE
from recsys.schema import Columns as C

#: Run in a fresh interpreter per folder (Metaflow fixes its datastore root when first imported), with the
#: repository on its path (the artifacts unpickle recsys objects).
READ_RUN = """
import json, sys
from metaflow import Flow, namespace
namespace(None)
run = Flow("RecsysFlow").latest_successful_run
data = run["end"].task.data
recalls = data.buyer_recalls
recalls[recalls["row"] == f"reranker ({data.best_strategy})"].to_parquet(sys.argv[1])
print(json.dumps({"run": run.pathspec, "data": data.resolved_data_dir, "valid": float(data.valid_recall)}))
"""


def read_run(folder: Path, scratch: Path) -> tuple[dict, dict[str, pd.Series], dict]:
    """The run's facts, its chosen row's recall per buyer per window, and its submission (user -> products)."""
    env = child_env(METAFLOW_DATASTORE_SYSROOT_LOCAL=str(folder))
    env.setdefault("USERNAME", "benchmark")
    out = subprocess.run([sys.executable, "-c", READ_RUN, str(scratch)], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    frame = pd.read_parquet(scratch)
    by_window = {w: part.set_index(C.USER)["recall"] for w, part in frame.groupby("window", sort=False)}
    user_col, products_col = SUBMISSION_COLUMNS
    sub = pd.read_csv(folder / "submission.csv", dtype=str)
    recs = {u: ast.literal_eval(p) for u, p in zip(sub[user_col], sub[products_col], strict=True)}
    return facts, by_window, recs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the first run's folder (the reference)")
    parser.add_argument("b", type=Path, help="the second run's folder")
    args = parser.parse_args()
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"compare_runs_{os.getpid()}.parquet"
    fa, va, ra = read_run(args.a.resolve(), scratch)
    fb, vb, rb = read_run(args.b.resolve(), scratch)
    scratch.unlink(missing_ok=True)
    if Path(fa["data"]).resolve() != Path(fb["data"]).resolve():  # the same folder through a link is the same data
        raise SystemExit(f"the runs read different data: {fa['data']} and {fb['data']}")
    diff, se = paired_difference(vb, va)
    print(f"A {fa['run']}, B {fb['run']} on {fa['data']}")
    print(f"validation: A {fa['valid']:.4f}, B {fb['valid']:.4f}; B - A {diff:+.4f} ± {se:.4f} (paired per buyer)")
    truth_path = Path(fa["data"]) / TRUTH_FILE
    if truth_path.is_file():
        truth = load_truth(truth_path).rename(columns={C.USER_ID: C.USER, C.PRODUCT_ID: C.ITEM})
        a, b = user_recalls(ra, truth, DEFAULT_K), user_recalls(rb, truth, DEFAULT_K)
        d = b - a
        print(f"truth file: A {a.mean():.4f}, B {b.mean():.4f}; B - A {d.mean():+.4f} ± "
              f"{d.std(ddof=1) / np.sqrt(len(d)):.4f} ({len(d)} buyers)")  # fmt: skip


if __name__ == "__main__":
    main()
