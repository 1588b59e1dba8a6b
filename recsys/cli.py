"""Command line: ``python -m recsys {generate,baseline,validate,present,recommend,batch,serve} ...``
(``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS, TRUTH_FILE

log = logging.getLogger("recsys")

#: The model the inference commands use by default: the flow registers every run's recommender under this name.
DEFAULT_MODEL_URI = "models:/stokman-recommender@champion"


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
    from recsys.split import CutKind, history, make_cuts
    from recsys.submission import build_submission, validate_submission, write_submission

    data_dir = resolve_data_dir(args.data_dir, args.preset, args.seed)
    ds = load_dataset(data_dir)
    truth_path = Path(args.truth) if args.truth else data_dir / TRUTH_FILE
    truth = load_truth(truth_path) if truth_path.is_file() else None
    cuts = make_cuts(ds.end)
    valid_hist = history(ds.interactions, cuts[CutKind.VALID])
    results = {}
    for name, baseline in BASELINES.items():
        recs = baseline(valid_hist, ds.items, args.top_users, args.k)
        row = {
            f"valid_{key}": value
            for key, value in score_cut(ds, cuts[CutKind.VALID], recs, args.top_users, args.k).as_dict().items()
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


def cmd_present(args) -> int:
    from recsys.report import load_run, log_presentation, run_summary, write_presentation
    from recsys.tracking import resolve_tracking_uri

    run = load_run(args.run_id)
    summary = run_summary(run)
    path = write_presentation(summary, args.out)
    print(f"wrote {path} and {path.parent / 'figures'}/ from {run.pathspec}")
    mlflow_run = summary.get("mlflow") or {}
    if args.no_mlflow:
        return 0
    if not mlflow_run.get("run_id"):
        print(f"error: {run.pathspec} has no MLflow run id (pass --no-mlflow)", file=sys.stderr)
        return 2
    uri = args.tracking_uri or summary.get("tracking_uri") or resolve_tracking_uri()
    log_presentation(path.parent, mlflow_run["run_id"], uri)
    print(f"logged to MLflow run {mlflow_run['run_id']} ({uri}) under presentation/")
    return 0


def _load_recommender(args):
    import mlflow

    from recsys.serving import load
    from recsys.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(args.tracking_uri))
    return load(args.model)


def cmd_recommend(args) -> int:
    import pandas as pd

    rec = _load_recommender(args)
    frame = rec.recommend(args.users, args.k)
    if args.json:
        print(frame.to_json(orient="records", indent=1))
    else:
        with pd.option_context("display.max_rows", None, "display.width", 160):
            print(frame.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4f}"))
    return 0


def cmd_serve(args) -> int:
    from recsys.server import serve
    from recsys.tracking import resolve_tracking_uri

    os.environ.setdefault("MLFLOW_TRACKING_URI", resolve_tracking_uri(args.tracking_uri))
    print(f"serving {args.model} on http://{args.host}:{args.port}/invocations (Ctrl-C to stop)", flush=True)
    serve(args.model, args.host, args.port)
    return 0


def cmd_batch(args) -> int:
    from recsys.data import load_dataset
    from recsys.submission import validate_submission, write_submission

    rec = _load_recommender(args)
    catalog = None
    if args.data_dir:
        ds = load_dataset(args.data_dir)
        print(f"refitting the candidate sources on {args.data_dir} (log to {ds.end:%Y-%m-%d}); models not retrained")
        rec = rec.refresh(ds)
        catalog = ds.items["product_id"]
    top_users, k = args.top_users or rec.top_users, args.k or rec.k
    sub = rec.submission(top_users, k)
    validate_submission(sub, catalog, k, top_users)
    print(f"wrote {write_submission(sub, args.output)}: {len(sub)} users x {k} products, predicted from {rec.now}")
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
    gen.add_argument("--preset", default="default", help="tiny, default or full, optionally scaled: full@0.25")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--overwrite", action="store_true")
    gen.set_defaults(func=cmd_generate)

    base = sub.add_parser("baseline", help="score the baselines on the validation cut (and the truth file)")
    base.add_argument("--data-dir", default="", help="the four files; empty: the embedded synthetic dataset")
    base.add_argument("--preset", default="default", help="tiny, default or full, optionally scaled: full@0.25")
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

    pres = sub.add_parser("present", help="export a flow run's report as slides (one HTML file) and PNG figures")
    pres.add_argument("--run-id", default="", help="RecsysFlow run id (default: the latest successful run)")
    pres.add_argument("--out", default="presentation", help="output folder (its presentation files are replaced)")
    pres.add_argument("--no-mlflow", action="store_true", help="do not attach the export to the run's MLflow run")
    pres.add_argument(
        "--tracking-uri", default="", help="MLflow URI; empty: the run's, else $MLFLOW_TRACKING_URI, else sqlite"
    )
    pres.set_defaults(func=cmd_present)

    model_help = "a logged recommender: models:/<name>@champion, runs:/<id>/recommender or a local path"
    reco = sub.add_parser("recommend", help="print a logged recommender's lists for some users")
    reco.add_argument("users", nargs="+", help="raw user ids")
    reco.add_argument("--model", default=DEFAULT_MODEL_URI, help=model_help)
    reco.add_argument("--k", type=int, default=None, help="products per user (default: the model's)")
    reco.add_argument("--tracking-uri", default="", help="MLflow URI; empty: $MLFLOW_TRACKING_URI or sqlite")
    reco.add_argument("--json", action="store_true", help="JSON records instead of a table")
    reco.set_defaults(func=cmd_recommend)

    batch = sub.add_parser("batch", help="write a submission from a logged recommender, without retraining")
    batch.add_argument("--model", default=DEFAULT_MODEL_URI, help=model_help)
    batch.add_argument("--output", default="submission.csv")
    batch.add_argument(
        "--data-dir", default="", help="a newer log: refit the candidate sources on it (models are not retrained)"
    )
    batch.add_argument("--top-users", type=int, default=0, help="users (default: the model's)")
    batch.add_argument("--k", type=int, default=0, help="products per user (default: the model's)")
    batch.add_argument("--tracking-uri", default="", help="MLflow URI; empty: $MLFLOW_TRACKING_URI or sqlite")
    batch.set_defaults(func=cmd_batch)

    srv = sub.add_parser("serve", help="serve a logged recommender over HTTP with request limits (MLflow's protocol)")
    srv.add_argument("--model", default=DEFAULT_MODEL_URI, help=model_help)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=5001)
    srv.add_argument("--tracking-uri", default="", help="MLflow URI; empty: $MLFLOW_TRACKING_URI or sqlite")
    srv.set_defaults(func=cmd_serve)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from recsys.progress import setup_logging

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    from mlflow.exceptions import MlflowException

    from recsys.data import DataValidationError
    from recsys.serving import RequestError
    from recsys.submission import SubmissionError

    try:
        return args.func(args)
    except (DataValidationError, SubmissionError, RequestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except MlflowException as err:  # e.g. no such registered model or alias
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    except LookupError as err:  # no such Metaflow run
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileExistsError as err:
        print(f"error: {err} (pass --overwrite to replace it)", file=sys.stderr)
        return 2
