"""Run the whole flow on a synthetic preset and record wall time and peak memory per step.

    python -m benchmarks.flow_benchmark --preset full                        # real volume (~7M exploded rows)
    python -m benchmarks.flow_benchmark --preset full@0.25 --top-users 750   # a point of the scaling series
    python -m benchmarks.flow_benchmark --series full --fractions 0.125 0.25 0.5 1
    python -m benchmarks.flow_benchmark --data-dir ../shared/data/holdout-dev/onlineretail-2011-11-20 --top-users 1500

The flow runs as users run it (``flows/recsys_flow.py run --max-workers 2``) in a scratch folder; with
``--max-workers 1`` every task runs alone, and the critical path (each step's longest task, summed along the DAG)
is then what a cluster of 2-core workers would take, where parallel tasks on these 2 cores slow each other. A
sampler polls the process tree every 0.2 s: each Metaflow task is a process whose command line names its step, so
the peak resident memory of every step is the largest RSS seen for its tasks (a task's own process; the tasks of a
parallel fan-out are listed separately and summed under "whole flow"). Wall time per step comes from the run's
task timestamps (first task started to last task finished). Results go to ``--json`` and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import ROOT, child_env, module_command

STEP_RE = re.compile(r"\bstep\s+(\w+)\b")


class MemorySampler(threading.Thread):
    """Peak RSS per Metaflow step (by task process) and of the whole process tree."""

    def __init__(self, root_pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root_pid, self.interval = root_pid, interval
        self.step_peak: dict[str, int] = {}
        self.tree_peak = 0
        self._done = threading.Event()
        self._steps: dict[int, str | None] = {}

    def _step_of(self, proc) -> str | None:
        if proc.pid not in self._steps:
            try:
                match = STEP_RE.search(" ".join(proc.cmdline()))
            except Exception:
                return None
            self._steps[proc.pid] = match.group(1) if match else None
        return self._steps[proc.pid]

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                step = self._step_of(proc)
                if step:
                    self.step_peak[step] = max(self.step_peak.get(step, 0), rss)
            self.tree_peak = max(self.tree_peak, total)
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def step_times(run) -> dict[str, float]:
    """Seconds from the first task's start to the last task's end, per step."""
    out = {}
    for step in run:
        tasks = list(step)
        starts = [t.created_at for t in tasks if t.created_at]
        ends = [t.finished_at for t in tasks if t.finished_at]
        if starts and ends:
            out[step.id] = (max(ends) - min(starts)).total_seconds()
    return dict(reversed(list(out.items())))  # the client lists the newest step first


def longest_tasks(run) -> dict[str, float]:
    """Seconds of each step's longest task (start to finish): what the step costs with one worker per task."""
    out = {}
    for step in run:
        spans = [(t.finished_at - t.created_at).total_seconds() for t in step if t.created_at and t.finished_at]
        if spans:
            out[step.id] = max(spans)
    return dict(reversed(list(out.items())))


def critical_path(longest: dict[str, float], graph: dict[str, list[str]], start: str = "start") -> tuple[float, list]:
    """The slowest chain of steps from ``start`` to the end (``graph``: each step's next steps), summing each step's
    longest task: the run's wall time on a cluster with one worker per task. ``(seconds, steps along it)``."""
    memo: dict[str, tuple[float, list]] = {}

    def from_step(name: str) -> tuple[float, list]:
        if name not in memo:
            tails = [from_step(n) for n in graph.get(name, [])]
            seconds, path = max(tails, key=lambda t: t[0]) if tails else (0.0, [])
            memo[name] = (longest.get(name, 0.0) + seconds, [name, *path])
        return memo[name]

    return from_step(start)


def run_graph(run) -> dict[str, list[str]]:
    """Each step's next steps, from the graph Metaflow stores with every task."""
    steps = run["start"].task["_graph_info"].data["steps"]
    return {name: list(info.get("next", [])) for name, info in steps.items()}


def benchmark(
    preset: str, top_users: int, workdir: Path, flow_args: list[str], seed: int = 0, data_dir: str = ""
) -> dict:
    """Generate (or reuse) the preset's data, or take ``data_dir``, run the flow on it, and measure."""
    from recsys.data import load_dataset
    from recsys.synthetic import ensure_dataset

    started = time.perf_counter()
    if not data_dir:
        data_dir = ensure_dataset(preset, seed, cache_dir=ROOT / "data" / "synthetic")
    generate_s = time.perf_counter() - started
    ds = load_dataset(data_dir, progress=False)
    rows, users, items = len(ds.interactions), len(ds.users), len(ds.items)
    del ds

    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "USERNAME": os.environ.get("USERNAME") or os.environ.get("USER") or "benchmark",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(workdir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
    }
    cmd = [sys.executable, str(ROOT / "flows" / "recsys_flow.py"), "--no-pylint", "run", "--max-workers", "2"]
    cmd += ["--data-dir", str(data_dir), "--top-users", str(top_users), "--seed", str(seed)]
    cmd += ["--output", str(workdir / "submission.csv"), *flow_args]
    log_path = workdir / "flow.log"
    print(f"running the flow on {preset} ({rows:,} rows); log: {log_path}", flush=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = MemorySampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop()
    wall_s = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the flow failed (exit {code}); see {log_path}")

    facts = run_facts(workdir)
    gb = 1024**3
    return {
        "preset": preset,
        "workdir": str(workdir),
        "rows": rows,
        "users": users,
        "items": items,
        "top_users": top_users,
        "flow_args": flow_args,
        "run": facts["run"],
        "generate_s": round(generate_s, 1),
        "wall_s": round(wall_s, 1),
        "tree_peak_gb": round(sampler.tree_peak / gb, 2),
        "steps": {
            step: {
                "wall_s": seconds,
                "longest_task_s": facts["longest"].get(step),
                "peak_gb": round(sampler.step_peak.get(step, 0) / gb, 2),
            }
            for step, seconds in facts["steps"].items()
        },
        "critical_path_s": facts["critical_path_s"],
        "critical_path": facts["critical_path"],
        "valid_recall": facts["valid_recall"],
        "test_recall": facts["test_recall"],
        "test": facts.get("test", {}),
        "hypotheses": facts.get("hypotheses", []),
    }


def run_facts(workdir: Path) -> dict:
    """Step times and recalls of the latest successful run in ``workdir``'s datastore.

    Read in a fresh interpreter: Metaflow fixes its datastore root when first imported, so one process cannot
    read the runs of several benchmark folders.
    """
    env = child_env(METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir))
    out = subprocess.run(
        module_command("benchmarks.flow_benchmark", "--facts", str(workdir)),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_facts() -> None:
    from metaflow import Flow, namespace

    namespace(None)
    run = Flow("RecsysFlow").latest_successful_run
    data = run["end"].task.data
    longest = longest_tasks(run)
    path_s, path = critical_path(longest, run_graph(run))
    facts = {
        "run": run.pathspec,
        "steps": {step: round(seconds, 1) for step, seconds in step_times(run).items()},
        "longest": {step: round(seconds, 1) for step, seconds in longest.items()},
        "critical_path_s": round(path_s, 1),
        "critical_path": path,
        "valid_recall": float(data.valid_recall),
        "test_recall": float(data.test_results.get("recall", float("nan"))),
        "test": {key: float(value) for key, value in data.test_results.items()},  # with the baseline's figures
    }
    if "report_summary" in data:
        from recsys.report import hypothesis_verdicts

        facts["hypotheses"] = hypothesis_verdicts(data.report_summary).reset_index().to_dict("records")
    print(json.dumps(facts))


def markdown(results: list[dict]) -> str:
    steps = list(dict.fromkeys(s for r in results for s in r["steps"]))
    head = "| step | " + " | ".join(f"{r['preset']} s | longest task s | GB" for r in results) + " |"
    lines = [head, "|---" * (1 + 3 * len(results)) + "|"]
    for step in steps:
        cells = []
        for r in results:
            s = r["steps"].get(step, {})
            cells += [f"{s.get('wall_s', '')}", f"{s.get('longest_task_s', '')}", f"{s.get('peak_gb', '')}"]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    totals = [f"{r['wall_s']} | {r.get('critical_path_s', '')} (critical path) | {r['tree_peak_gb']}" for r in results]
    lines.append("| **whole flow** | " + " | ".join(totals) + " |")
    lines.append("")
    lines.append(
        "| preset | rows | users | items | top users | wall s | tree peak GB | valid recall | test recall "
        "| test: history + popularity baseline | test: minus the baseline, buyer by buyer |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        test = r.get("test") or {}
        base, diff = "", ""
        if test.get("baseline_recall"):
            base = f"{test['baseline_recall']:.4f} ({r['test_recall'] / test['baseline_recall']:.2f} ×)"
            diff = f"{test['baseline_difference']:+.4f} ± {test['baseline_difference_se']:.4f}"
        lines.append(
            f"| {r['preset']} | {r['rows']:,} | {r['users']:,} | {r['items']:,} | {r['top_users']} | {r['wall_s']} "
            f"| {r['tree_peak_gb']} | {r['valid_recall']:.4f} | {r['test_recall']:.4f} | {base} | {diff} |"
        )
    for r in results:
        if r.get("hypotheses"):
            cols = list(r["hypotheses"][0])
            lines += ["", f"Hypotheses on {r['preset']}:", "", "| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
            lines += ["| " + " | ".join(str(h.get(c, "")) for c in cols) + " |" for h in r["hypotheses"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="full", help="synthetic preset, e.g. full or full@0.25")
    parser.add_argument("--data-dir", default="", help="a folder of the four files instead of a preset (a dev case)")
    parser.add_argument("--series", default="", help="run a scaling series of this preset instead")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    parser.add_argument("--top-users", type=int, default=0, help="default: 3000 x the preset's fraction")
    parser.add_argument("--workdir", default="", help="scratch folder (default: a new temp folder)")
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--facts", default="", help=argparse.SUPPRESS)  # internal: see run_facts
    parser.add_argument("--refresh", default="", help="re-read step times and recalls of the runs in this JSON")
    parser.add_argument(
        "--max-workers",
        type=int,
        default=2,
        help="tasks at once (2: as users run it here; 1: every task alone on the machine's 2 cores, so that the "
        "critical path is that of a cluster of 2-core workers, not slowed by tasks sharing the cores)",
    )
    parser.add_argument("flow_args", nargs="*", help="extra flow parameters, after --")
    args = parser.parse_args(argv)
    if args.max_workers != 2:
        args.flow_args = ["--max-workers", str(args.max_workers), *args.flow_args]  # the last one given wins
    if args.facts:
        print_facts()
        return 0
    if args.refresh:
        results = json.loads(Path(args.refresh).read_text())
        for r in results:
            facts = run_facts(Path(r["workdir"]))
            peaks = {step: v["peak_gb"] for step, v in r["steps"].items()}
            r["steps"] = {
                s: {"wall_s": t, "longest_task_s": facts["longest"].get(s), "peak_gb": peaks.get(s, 0)}
                for s, t in facts["steps"].items()
            }
            r.update(critical_path_s=facts["critical_path_s"], critical_path=facts["critical_path"])
            r.update(run=facts["run"], valid_recall=facts["valid_recall"], test_recall=facts["test_recall"],
                     test=facts.get("test", {}), hypotheses=facts.get("hypotheses", []))  # fmt: skip
        Path(args.refresh).write_text(json.dumps(results, indent=2))
        print(markdown(results))
        return 0

    presets = [args.preset]
    if args.data_dir:
        name = Path(args.data_dir).resolve().name
        top_users = args.top_users or 3000
        results = [benchmark(name, top_users, Path(args.workdir or tempfile.mkdtemp(prefix="recsys-bench-")) / name,
                             args.flow_args, data_dir=str(Path(args.data_dir).resolve()))]  # fmt: skip
        print(markdown(results), flush=True)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0
    if args.series:
        presets = [f"{args.series}@{f:g}" if f != 1 else args.series for f in args.fractions]
    base = Path(args.workdir or tempfile.mkdtemp(prefix="recsys-bench-"))
    results = []
    for preset in presets:
        fraction = float(preset.partition("@")[2] or 1)
        top_users = args.top_users or max(100, round(3000 * fraction))
        results.append(benchmark(preset, top_users, base / preset.replace("@", "_"), args.flow_args))
        print(markdown(results[-1:]), flush=True)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))
    if len(results) > 1:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
