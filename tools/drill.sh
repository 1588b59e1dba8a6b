#!/usr/bin/env bash
# The failure drill of docs/reliability.md: a tiny run whose trial workers are killed, then `resume`, all in a
# scratch folder (its own Metaflow datastore, MLflow database and submission), so that the user's results, champion
# included, stay as they are. Usage: bash tools/drill.sh [SCRATCH_DIR]   (default: a new temporary folder)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${1:-}" ]; then mkdir -p "$1" && SCRATCH="$(cd "$1" && pwd)"; else SCRATCH="$(mktemp -d -t recsys-drill.XXXXXX)"; fi
PY="$ROOT/.venv/bin/python"
export USERNAME="${USERNAME:-${USER:-recsys}}"
export METAFLOW_DATASTORE_SYSROOT_LOCAL="$SCRATCH" MLFLOW_TRACKING_URI="sqlite:///$SCRATCH/mlflow.db"
cd "$SCRATCH"
echo "failure drill in $SCRATCH"
if RECSYS_FAIL_STEP=train_trial:kill "$PY" "$ROOT/flows/recsys_flow.py" run --preset tiny \
    --output "$SCRATCH/submission.csv" > drill_run.log 2>&1; then
    echo "the run was meant to fail in train_trial, and did not; see $SCRATCH/drill_run.log" >&2
    exit 1
fi
echo "1. the run failed in train_trial as intended (log: $SCRATCH/drill_run.log); resuming"
"$PY" "$ROOT/flows/recsys_flow.py" resume > drill_resume.log 2>&1 \
    || { tail -30 drill_resume.log; echo "resume failed; see $SCRATCH/drill_resume.log" >&2; exit 1; }
echo "2. resume finished the run: $SCRATCH/submission.csv (log: $SCRATCH/drill_resume.log)"
