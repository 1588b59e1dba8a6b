"""Markdown report of a finished RecsysFlow run, from its Metaflow artifacts (the figures quoted in the README).

    python -m benchmarks.flow_report                 # the latest successful run
    python -m benchmarks.flow_report --run-id 1795...

Prints the run's parameters, wall time per step, validation diagnostics (means ± standard error over the
validation windows) of the chosen reranker next to the baselines and each source alone, the hypotheses with their
verdicts, the chosen model on each window, every trial, candidate recall@N per source, and the score against the
truth file when the data ships one.
"""

from __future__ import annotations

import argparse

import pandas as pd

from benchmarks.runs import add_run_id, open_run

COLUMNS = ["recall", "recall_se", "buyers_captured", "recall_selected", "ceiling", "buyers"]


def markdown(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    cols = list(frame.columns)
    lines = ["| | " + " | ".join(map(str, cols)) + " |", "|---" * (len(cols) + 1) + "|"]
    for idx, row in frame.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in row.tolist()]
        lines.append(f"| {idx} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_id(parser)
    args = parser.parse_args()
    run = open_run(args.run_id)
    data = run.data
    start = run["start"].task.data
    print(f"## RecsysFlow/{run.id}\n")
    print(
        f"data: `{start.resolved_data_dir}`; report: {start.ds.report.get('exploded_rows', '?'):,} exploded rows, "
        f"{len(start.ds.users):,} users, {len(start.ds.items):,} items"
    )
    params = {
        p: getattr(start, p.replace("-", "_"), None)
        for p in (
            "top_users",
            "k",
            "seed",
            "train_cuts",
            "buyer_cuts",
            "valid_windows",
            "trials_n",
            "pool_size",
            "candidates",
            "stitch_identities",
            "grid",
        )
    }
    print("parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    total = (run.finished_at - run.created_at).total_seconds()
    durations = {}
    for step in run:
        tasks = list(step)
        durations[step.id] = sum((t.finished_at - t.created_at).total_seconds() for t in tasks)
    print(
        f"\nwall time: {total / 60:.1f} min; task seconds per step: "
        + ", ".join(f"{s} {d:.0f}" for s, d in reversed(list(durations.items())))
    )
    print("\n### Validation (chosen reranker, baselines, each source alone)\n")
    print(markdown(data.hypotheses[[c for c in COLUMNS if c in data.hypotheses]]))
    from recsys.report import hypothesis_verdicts

    print("\n### Hypotheses (mean ± s.e. over the validation windows)\n")
    print(markdown(hypothesis_verdicts(data.report_summary)))
    print("\n### The chosen model on each validation window\n")
    by_window = pd.DataFrame(data.report_summary.get("windows") or {}).T
    print(markdown(by_window[[c for c in COLUMNS if c in by_window]]))
    print("\n### Trials\n")
    trials = data.trial_table.set_index("trial")
    shown = ["objective", "depth", "learning_rate", "iterations", "l2_leaf_reg", "negatives", "train_cuts", "trees"]
    print(markdown(trials[[c for c in [*shown, "strategy", "recall", "recall_se"] if c in trials]]))
    rows = {}
    for key, value in data.source_metrics.items():
        source, cut, metric = key.split(".")
        if cut == "valid":
            rows.setdefault(source, {})[metric] = value
    print("\n### Candidate recall on the validation cut\n")
    print(markdown(pd.DataFrame(rows).T.sort_index(axis=1)))
    if data.test_results:
        print("\n### Final submission against the truth file\n")
        final = pd.DataFrame({"final": data.test_results}).T
        print(markdown(final[[c for c in COLUMNS if c in final]]))


if __name__ == "__main__":
    main()
