"""Command line: ``python -m recsys {generate,baseline,validate} ...`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS, TRUTH_FILE

log = logging.getLogger("recsys")


def resolve_data_dir(data_dir: str | None, preset: str, seed: int) -> Path:
    """The given directory, or the embedded synthetic dataset (generated on first use)."""
    if data_dir:
        return Path(data_dir)
    from recsys.synthetic import ensure_dataset

    return ensure_dataset(preset, seed)


def cmd_generate(args) -> int:
    from recsys.synthetic import write_dataset

    out = write_dataset(args.out, args.preset, args.seed, overwrite=args.overwrite)
    print(f"wrote the {args.preset!r} synthetic dataset (seed {args.seed}) to {out}")
    return 0


def cmd_baseline(args) -> int:
    from recsys.baselines import BASELINES
    from recsys.data import load_dataset, load_truth
    from recsys.evaluation import score_against_truth, score_cut
    from recsys.split import history, make_cuts
    from recsys.submission import build_submission, validate_submission, write_submission

    data_dir = resolve_data_dir(args.data_dir, args.preset, args.seed)
    ds = load_dataset(data_dir)
    truth_path = Path(args.truth) if args.truth else data_dir / TRUTH_FILE
    truth = load_truth(truth_path) if truth_path.is_file() else None
    cuts = make_cuts(ds.end)
    valid_hist = history(ds.interactions, cuts["valid"])
    results = {}
    for name, baseline in BASELINES.items():
        recs = baseline(valid_hist, ds.items, args.top_users, args.k)
        row = {
            f"valid_{key}": value
            for key, value in score_cut(ds, cuts["valid"], recs, args.top_users, args.k).as_dict().items()
        }
        final_recs = baseline(ds.interactions, ds.items, args.top_users, args.k)
        if truth is not None:
            test = score_against_truth(ds, final_recs, truth, args.top_users, args.k)
            row.update({f"test_{key}": value for key, value in test.as_dict().items()})
        results[name] = row
        if args.output and name == args.write:
            sub = build_submission(ds.raw_recs(final_recs), ds.padding_ids(args.k), args.k, args.top_users)
            validate_submission(sub, ds.items["product_id"], args.k, args.top_users)
            print(f"wrote {write_submission(sub, args.output)} ({len(sub)} users, baseline {name!r})")
    print(f"data: {data_dir}  valid {cuts['valid']}  top_users={args.top_users} k={args.k}")
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def cmd_validate(args) -> int:
    from recsys.data import load_dataset
    from recsys.submission import validate_submission

    catalog = None
    if args.data_dir:
        catalog = load_dataset(args.data_dir, progress=False).items["product_id"]
    frame = validate_submission(args.submission, catalog, args.k, args.top_users)
    print(f"{args.submission}: valid, {len(frame)} users x {args.k} products")
    return 0


SUMMARY_KEYS = ("recall", "buyers_captured", "recall_selected", "buyers")


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table, one row per model: recall, share of buyers captured, recall among them, buyers; for the
    validation cut and, where scored, the truth file (the full diagnostics go to ``--json``)."""
    keys = [f"{split}_{k}" for split in ("valid", "test") for k in SUMMARY_KEYS]
    keys = [k for k in keys if any(k in row for row in results.values())]
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, row in results.items():
        cells = [f"{row[k]:.4f}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the embedded synthetic dataset in the real schema")
    gen.add_argument("--preset", default="default", choices=["tiny", "default", "full"])
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--overwrite", action="store_true")
    gen.set_defaults(func=cmd_generate)

    base = sub.add_parser("baseline", help="score the baselines on the validation cut (and the truth file)")
    base.add_argument("--data-dir", default="", help="the four files; empty: the embedded synthetic dataset")
    base.add_argument("--preset", default="default", choices=["tiny", "default", "full"])
    base.add_argument("--seed", type=int, default=0)
    base.add_argument("--top-users", type=int, default=DEFAULT_TOP_USERS)
    base.add_argument("--k", type=int, default=DEFAULT_K)
    base.add_argument("--truth", default="", help=f"truth parquet (default: <data-dir>/{TRUTH_FILE} if present)")
    base.add_argument("--output", default="", help="write this baseline's final submission CSV here")
    base.add_argument("--write", default="history_popularity", help="which baseline --output writes")
    base.add_argument("--json", default="", help="also write the results as JSON here")
    base.set_defaults(func=cmd_baseline)

    val = sub.add_parser("validate", help="check a submission CSV")
    val.add_argument("submission")
    val.add_argument("--data-dir", default="", help="check products against this catalog")
    val.add_argument("--top-users", type=int, default=DEFAULT_TOP_USERS)
    val.add_argument("--k", type=int, default=DEFAULT_K)
    val.set_defaults(func=cmd_validate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    from recsys.data import DataValidationError
    from recsys.submission import SubmissionError

    try:
        return args.func(args)
    except (DataValidationError, SubmissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileExistsError as err:
        print(f"error: {err} (pass --overwrite to replace it)", file=sys.stderr)
        return 2
