"""The reranker's hyperparameter search: an Optuna study (TPE, seeded) that proposes trials in batches.

The flow trains each batch in parallel (a Metaflow ``foreach``) and reports the batch's validation recall back
(:meth:`Search.tell`) before asking for the next one. The study travels between steps as a flow artifact, so
``resume`` reuses the trials already proposed and scored, and a rerun with the same seed (and the same recalls)
proposes the same trials. Known-good configurations (``--grid``) are enqueued and tried first.
"""

from __future__ import annotations

import logging
import warnings

import pandas as pd

from recsys.reranker import OBJECTIVES, TrialParams

log = logging.getLogger("recsys.search")

#: The space Optuna searches: name -> (kind, low, high[, step]). ``train_cuts``' upper bound is the number of
#: training cuts the run prepared (``--train-cuts``). Bounded for time: a trial's cost grows with depth (x2 per
#: level), trees and the share of negatives kept, and keeping every negative instead of 25% made no measurable
#: difference on the dev cases (docs/performance.md; the default keeps 10% of six training cuts' negatives).
SPACE = {
    "objective": ("categorical", OBJECTIVES),
    "depth": ("int", 4, 7),
    "learning_rate": ("log", 0.02, 0.2),
    "iterations": ("int", 100, 400, 50),
    "l2_leaf_reg": ("log", 1.0, 20.0),
    "negatives": ("float", 0.05, 0.5),
    "train_cuts": ("int", 1, None),
}


def _high(spec: tuple, max_train_cuts: int):
    """A numeric dimension's upper bound (``None`` in :data:`SPACE`: the prepared training cuts)."""
    return max_train_cuts if spec[2] is None else spec[2]


def _suggest(trial, name: str, spec: tuple, max_train_cuts: int):
    kind = spec[0]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec[1]))
    if kind == "int":
        high = _high(spec, max_train_cuts)
        return trial.suggest_int(name, spec[1], high, step=spec[3] if len(spec) > 3 else 1)
    return trial.suggest_float(name, spec[1], spec[2], log=kind == "log")


def _in_space(params: TrialParams, max_train_cuts: int) -> bool:
    """Whether Optuna can record ``params`` as a point of :data:`SPACE` (an enqueued trial outside it would be
    clipped or re-sampled, silently)."""
    for name, spec in SPACE.items():
        value = getattr(params, name)
        if spec[0] == "categorical":
            ok = value in spec[1]
        else:
            high = _high(spec, max_train_cuts)
            ok = spec[1] <= value <= high and (len(spec) < 4 or (value - spec[1]) % spec[3] == 0)
        if not ok:
            return False
    return True


class Search:
    """A seeded TPE study over :data:`SPACE`; trials are numbered in the order they are proposed."""

    def __init__(self, seed: int, max_train_cuts: int, first: list[TrialParams] = (), startup: int = 2):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if max_train_cuts < 1:
            raise ValueError(f"max_train_cuts must be at least 1, got {max_train_cuts}")
        problem = outside_space(first, max_train_cuts)
        if problem:
            raise ValueError(problem)
        self.max_train_cuts = max_train_cuts
        # constant_liar: trials asked while others of the batch run are kept apart from them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=max(1, startup), multivariate=True, constant_liar=True
            )
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        for params in first:
            self.study.enqueue_trial(params.as_dict())

    def ask(self, n: int) -> list[tuple[int, TrialParams]]:
        """The next ``n`` trials as ``(number, params)``: enqueued ones first, then TPE's proposals."""
        batch = []
        for _ in range(n):
            trial = self.study.ask()
            values = {name: _suggest(trial, name, spec, self.max_train_cuts) for name, spec in SPACE.items()}
            batch.append((trial.number, TrialParams(**values)))
        return batch

    def tell(self, number: int, recall: float) -> None:
        """Record trial ``number``'s validation recall (call in trial-number order: the study, and so the next
        proposals, then do not depend on which task finished first)."""
        self.study.tell(number, float(recall))

    def frame(self) -> pd.DataFrame:
        """One row per scored trial: number, parameters and validation recall (the study's own view)."""
        rows = [{"trial": t.number, **t.params, "recall": t.value} for t in self.study.trials if t.value is not None]
        return pd.DataFrame(rows)


def outside_space(trials: list[TrialParams], max_train_cuts: int) -> str:
    """A message naming the ``trials`` that lie outside :data:`SPACE` ('' when none do): the study could not
    learn from them."""
    outside = [p.label for p in trials if not _in_space(p, max_train_cuts)]
    if not outside:
        return ""
    return f"--grid trials outside the search space ({describe_space(max_train_cuts)}): {outside}"


def describe_space(max_train_cuts: int) -> str:
    """The space as text (for messages and docs)."""
    parts = []
    for name, spec in SPACE.items():
        if spec[0] == "categorical":
            parts.append(f"{name} in {list(spec[1])}")
        else:
            high = _high(spec, max_train_cuts)
            parts.append(f"{name} {spec[1]:g}..{high:g}" + (" (log)" if spec[0] == "log" else ""))
    return "; ".join(parts)


def rounds(n_trials: int, n_first: int) -> tuple[int, int]:
    """Trials in the first batch (the enqueued ones and random start-up points) and in the second (TPE's
    proposals given the first batch's recalls): about half each, the first holding every enqueued trial. As many
    trials as enqueued ones: those alone, no search (second batch empty)."""
    if n_trials < max(n_first, 1):
        raise ValueError(
            f"--trials {n_trials} must be at least the {n_first} --grid trial(s) tried first (equal: no search of "
            "its own)"
        )
    if n_trials == n_first:
        return n_first, 0
    first = max(n_first, (n_trials + 1) // 2)
    first = min(first, n_trials - 1)
    return first, n_trials - first
