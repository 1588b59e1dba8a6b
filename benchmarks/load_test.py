"""A bounded load test of the hardened model server (``python -m recsys serve``) on loopback.

    python -m benchmarks.load_test --tracking-uri sqlite:///mlflow.db --requests 200 --json load.json

Starts the server for ``--model`` on a free 127.0.0.1 port, then sends ``--requests`` requests, ``--concurrency``
at a time: most are good (1 to 100 known users, sometimes an unknown one, k between 1 and 50), a share are
malformed in every way the server must refuse (an unknown parameter, an id longer than the limit, a body over
the size limit, broken JSON, k out of range, a field other than user_id). Every answer is read with a strict JSON
parser. It reports the status of every kind of request, the latency of the good ones, and the server's resident
memory after a warm-up and after each quarter of the requests (a leak grows at every quarter; a cache levels
off). It stops by itself: the count is bounded and every request times out.
Exits 1 when any answer is not the one expected (200 for good requests, 400 for malformed ones).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import ROOT

MALFORMED = {
    "unknown_param": lambda users: {"inputs": {"user_id": users[:1]}, "params": {"kk": 5}},
    "long_id": lambda users: {"inputs": {"user_id": ["x" * 1_000]}},
    "oversize_body": lambda users: {"inputs": {"user_id": ["x" * 3_000_000]}},
    "broken_json": lambda users: '{"inputs": {"user_id": ["a"',
    "k_out_of_range": lambda users: {"inputs": {"user_id": users[:1]}, "params": {"k": 1_000}},
    "wrong_field": lambda users: {"inputs": {"uid": users[:1]}},
}


def strict_json(raw: bytes):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(raw, parse_constant=refuse)


def post(port: int, body, timeout: float = 60.0) -> tuple[int, float, str]:
    """(status, seconds, problem) of one request; ``problem`` is empty when the answer is valid JSON."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    seconds = time.perf_counter() - started
    try:
        strict_json(raw)
        problem = ""
    except ValueError as err:
        problem = str(err)[:200]
    return status, seconds, problem


def plan(users: list[str], n: int, malformed_share: float, seed: int) -> list[tuple[str, object]]:
    """``n`` (kind, body) requests, a seeded mix of good and malformed ones."""
    rng = random.Random(seed)
    requests = []
    for i in range(n):
        if rng.random() < malformed_share:
            kind = list(MALFORMED)[i % len(MALFORMED)]
            requests.append((kind, MALFORMED[kind](users)))
        else:
            chosen = rng.sample(users, min(len(users), rng.randint(1, 100)))
            if rng.random() < 0.2:
                chosen.append(f"unknown-{i}")
            requests.append(("good", {"inputs": {"user_id": chosen}, "params": {"k": rng.randint(1, 50)}}))
    return requests


def run_load(port: int, users: list[str], n: int = 200, concurrency: int = 4, malformed_share: float = 0.2,
             seed: int = 0, pid: int | None = None, warmup: int = 20) -> dict:  # fmt: skip
    """Send the planned requests; return per-kind status counts, problems, latency and the server's memory."""
    import psutil

    requests = plan(users, n, malformed_share, seed)
    proc = psutil.Process(pid) if pid else None
    rss = {}
    for _kind, body in requests[:warmup]:  # warm-up, one at a time
        post(port, body)
    if proc:
        rss["after_warmup_mb"] = round(proc.memory_info().rss / 1e6, 1)
    results = []
    quarters = [requests[i * len(requests) // 4 : (i + 1) * len(requests) // 4] for i in range(4)]
    with ThreadPoolExecutor(concurrency) as pool:
        for i, batch in enumerate(quarters, 1):  # the server's memory after each quarter: growth or a plateau
            futures = [(kind, pool.submit(post, port, body)) for kind, body in batch]
            for kind, future in futures:
                results.append((kind, *future.result()))
            if proc:
                rss[f"after_{i}_of_4_mb"] = round(proc.memory_info().rss / 1e6, 1)
    if proc:
        rss["at_end_mb"] = round(proc.memory_info().rss / 1e6, 1)
    statuses: dict[str, dict[str, int]] = {}
    unexpected = []
    for kind, status, _, problem in results:
        statuses.setdefault(kind, {}).setdefault(str(status), 0)
        statuses[kind][str(status)] += 1
        expected = 200 if kind == "good" else 400
        if status != expected or problem:
            unexpected.append({"kind": kind, "status": status, "problem": problem})
    good = sorted(seconds for kind, _, seconds, _ in results if kind == "good")
    latency = {}
    if good:
        latency = {"p50_s": round(good[len(good) // 2], 3), "p95_s": round(good[int(len(good) * 0.95) - 1], 3)}
    return {"requests": n, "concurrency": concurrency, "statuses": statuses, "unexpected": unexpected,
            "good_latency": latency, "server_rss": rss}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, tracking_uri: str, port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    cmd = [sys.executable, "-m", "recsys", "serve", "--model", model, "--port", str(port)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    from recsys.server import wait_until_ready

    wait_until_ready(proc, port, log_path)
    return proc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models:/stokman-recommender@champion")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--malformed-share", type=float, default=0.2)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    import mlflow

    from recsys.serving import load

    mlflow.set_tracking_uri(args.tracking_uri)
    rec = load(args.model)
    users = list(rec.user_ids[rec.pool[:2000]])
    del rec
    port = free_port()
    proc = start_server(args.model, args.tracking_uri, port, Path("/tmp") / f"recsys-load-{port}.log")
    try:
        result = run_load(port, users, args.requests, args.concurrency, args.malformed_share, pid=proc.pid)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    result["model"] = args.model
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 1 if result["unexpected"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
