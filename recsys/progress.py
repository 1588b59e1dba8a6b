"""Progress lines for long work, and the logging set-up of the project's entry points.

A person watching a run should see a line at least every ~30 s with how far it got and about how long is left,
and nothing else from third-party libraries unless it is a warning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

#: Seconds between two progress lines of one piece of work.
EVERY_S = 20.0

#: Third-party loggers that report routine events at INFO (faiss names every CPU build it tries; MLflow its
#: database migrations and experiment creation): kept at WARNING.
QUIET_LOGGERS = ("faiss", "faiss.loader", "mlflow", "alembic", "urllib3", "matplotlib", "numba")


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped lines from ``recsys``; third-party libraries only warn. MLflow sets its own loggers' level
    when it is imported (from ``MLFLOW_LOGGING_LEVEL``, INFO by default), so that variable is set too; its
    artifact progress bars (tqdm) are turned off: in a log they are one long line of carriage returns."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


class Progress:
    """``label: 3/6 (50%), 42 s so far, about 40 s left: note`` lines, at most one per ``every`` seconds (the last
    one always), so that long loops talk without flooding the log."""

    def __init__(self, label: str, total: int, every: float = EVERY_S, emit: Callable[[str], None] = print):
        self.label, self.total, self.every, self.emit = label, max(int(total), 1), every, emit
        self.started = self.last = time.perf_counter()

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        now = time.perf_counter()
        if not (force or done >= self.total or now - self.last >= self.every):
            return
        self.last = now
        elapsed = now - self.started
        line = f"{self.label}: {done}/{self.total} ({done / self.total:.0%}), {_duration(elapsed)} so far"
        if 0 < done < self.total:
            line += f", about {_duration(elapsed / done * (self.total - done))} left"
        self.emit(line + (f": {note}" if note else ""))


class CatBoostProgress:
    """A CatBoost training callback that prints a :class:`Progress` line every ~20 s (iterations are an upper
    bound: early stopping may end sooner)."""

    def __init__(self, label: str, iterations: int, every: float = EVERY_S, emit: Callable[[str], None] = print):
        self.progress = Progress(f"{label} trees", iterations, every, emit)

    def after_iteration(self, info) -> bool:
        self.progress.update(info.iteration)  # CatBoost counts iterations from 1 here
        return True  # never stop training: early stopping is CatBoost's own
