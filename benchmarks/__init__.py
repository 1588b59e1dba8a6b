"""The benchmarks, run as modules from the repository root (which puts ``recsys`` and ``benchmarks`` on the path;
the artifacts of a run unpickle ``recsys`` objects):

    .venv/bin/python -m benchmarks.flow_benchmark --preset default          # a tool: benchmarks/*.py
    .venv/bin/python -m benchmarks.studies.truth_bounds --help              # a study: benchmarks/studies/*.py

The top level holds the tools a user runs on a preset, a data folder, a finished run or a served model; ``studies``
the one-off measurements behind the decisions of the README and docs/ (raw figures of both in ``measured/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]


def module_command(module: str, *args: str) -> list[str]:
    """The command line running the benchmark ``module`` (e.g. ``benchmarks.studies.truth_bounds``) in a fresh
    interpreter: run it with :func:`child_env`, so that it imports from any working folder."""
    return [sys.executable, "-m", module, *args]


def child_env(env: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``env`` (default: this process's environment) with ``extra`` and the repository root first on
    ``PYTHONPATH``: what a child interpreter needs to import ``benchmarks`` and ``recsys`` (and to unpickle a run's
    artifacts) whatever its working folder."""
    out = {**(os.environ if env is None else env), **extra}
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), out.get("PYTHONPATH")) if p)
    return out
