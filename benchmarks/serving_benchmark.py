"""Latency of the served recommender and throughput of batch inference.

    python -m benchmarks.serving_benchmark --tracking-uri sqlite:///mlflow.db
    python -m benchmarks.serving_benchmark --model models:/stokman-recommender@champion --requests 200

Starts ``mlflow models serve -m <model> --env-manager local`` on a free loopback port, waits for ``/ping``, then
sends ``--requests`` sequential requests of 1 and of 100 known users (drawn from the model's pool, a different
draw each request) and reports p50 / p95 / mean latency as seen by the client. Batch throughput is measured in
process on the loaded :class:`recsys.serving.Recommender`: ``recommend`` over the whole pool in chunks of 1,000
users, and ``submission()`` (score the pool, choose the users, write nothing). Results go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, users: list[str], k: int) -> float:
    body = json.dumps({"inputs": {"user_id": users}, "params": {"k": k}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        payload = json.loads(response.read())
    elapsed = time.perf_counter() - started
    if len(payload["predictions"]) != len(users) * k:
        raise RuntimeError(f"expected {len(users) * k} rows, got {len(payload['predictions'])}")
    return elapsed


def serve(model: str, tracking_uri: str, port: int, log_path: Path) -> subprocess.Popen:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    cmd = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port)]
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until it is stopped
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    from recsys.server import wait_until_ready

    wait_until_ready(proc, port, log_path)
    return proc


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "mean_ms": round(float(ms.mean()), 1), "requests": len(ms)}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/stokman-recommender@champion")
    parser.add_argument("--tracking-uri", default="", help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db")
    parser.add_argument("--requests", type=int, default=100, help="requests per batch size")
    parser.add_argument("--k", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    import mlflow

    from recsys.serving import load
    from recsys.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    mlflow.set_tracking_uri(uri)
    started = time.perf_counter()
    rec = load(args.model)
    load_s = time.perf_counter() - started
    pool = rec.user_ids[rec.pool]
    rng = np.random.default_rng(args.seed)
    results = {"model": args.model, "pool_users": len(pool), "history_rows": len(rec.model.history), "load_s": load_s}

    started = time.perf_counter()
    for i in range(0, len(pool), 1000):
        rec.recommend(list(pool[i : i + 1000]), args.k)
    seconds = time.perf_counter() - started
    results["batch_recommend"] = {"users": len(pool), "seconds": round(seconds, 1), "users_per_s": len(pool) / seconds}
    started = time.perf_counter()
    sub = rec.submission()
    seconds = time.perf_counter() - started
    results["batch_submission"] = {"pool_users": len(pool), "chosen": len(sub), "seconds": round(seconds, 1),
                                   "users_per_s": len(pool) / seconds}  # fmt: skip
    del rec

    port = free_port()
    proc = serve(args.model, uri, port, Path(os.environ.get("TMPDIR", "/tmp")) / f"serve-{port}.log")
    try:
        post(port, list(pool[:1]), args.k)  # warm-up
        for size in (1, 100):
            times = [post(port, list(rng.choice(pool, size, replace=False)), args.k) for _ in range(args.requests)]
            results[f"latency_{size}_users"] = percentiles(times)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)

    print(json.dumps(results, indent=2, default=float))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
