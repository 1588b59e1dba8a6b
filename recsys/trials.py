"""Trial bookkeeping of the reranker search: a trial's tasks (one per group of validation windows), a trial
fitted and scored on its windows (:class:`TrialPart`) and the parts joined (:class:`TrialOutcome`), the best of
several with the ``choose`` step's record, and the trial table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.records import Chosen
from recsys.reranker import TrialParams
from recsys.training import fit_reranker
from recsys.validation import BuyerRecalls, Scope, Validation, WindowPart, Windows, join_validation, validate_part


@dataclass
class TrialOutcome:
    """One trial of the search: its number (the order Optuna proposed it), parameters, the trees early stopping
    kept, and its scores on the validation windows."""

    number: int
    params: TrialParams
    trees: int
    validation: Validation

    @property
    def recall(self) -> float:
        """What the search maximises: the mean validation recall of the trial's best selection strategy."""
        return self.validation.recall

    def line(self) -> str:
        """What the run prints about the trial."""
        v = self.validation
        return (
            f"trial {self.number} ({self.params.label}): valid recall {v.recall:.4f} ± "
            f"{v.results[v.strategy]['recall_se']:.4f} over {len(v.by_window)} windows ({v.strategy}), "
            f"{self.trees} trees"
        )


@dataclass(frozen=True)
class TrialTask:
    """What one trial task does: fit trial ``number`` (``params``) and score it on the validation ``windows``."""

    number: int
    params: TrialParams
    windows: tuple[str, ...]


def trial_tasks(batch: list[tuple[int, TrialParams]], window_plan: list[list[str]]) -> list[TrialTask]:
    """One task per (trial of ``batch``, group of validation windows of ``window_plan``): each fits its trial's
    reranker (the same model in every task of the trial: the fit is seeded and runs on a fixed number of threads)
    and scores its windows, so that a trial's scoring fans out where the windows are large."""
    return [TrialTask(number, params, tuple(group)) for number, params in batch for group in window_plan]


@dataclass
class TrialPart:
    """A trial's reranker scored on a part of the validation windows (:func:`run_trial_part`): the parts of all
    the windows joined (:func:`join_trials`) are its :class:`TrialOutcome`."""

    number: int
    params: TrialParams
    trees: int
    part: WindowPart
    model: str = ""  # the fitted reranker's fingerprint (Reranker.fingerprint)

    def line(self) -> str:
        """What the task prints: the recall of each of its windows under every strategy's best."""
        best = {w: max(r["recall"] for r in rows.values()) for w, rows in self.part.by_window.items()}
        scored = ", ".join(f"{w} {r:.4f}" for w, r in best.items())
        return f"trial {self.number} ({self.params.label}), {self.trees} trees: best valid recall {scored}"


def run_trial_part(scope: Scope, task: TrialTask, train_rows: list, windows: Windows, progress=False) -> TrialPart:
    """Fit a trial's reranker on the newest ``params.train_cuts`` of ``train_rows`` and score it on the task's
    validation windows (:func:`validate_part`): a :class:`TrialPart`."""
    reranker = fit_reranker(task.params, train_rows, scope.settings.seed, progress)
    part = validate_part(scope, reranker, windows, list(task.windows))
    return TrialPart(task.number, task.params, reranker.best_iteration_ + 1, part, reranker.fingerprint())


def join_trials(parts: list[TrialPart], windows: list[str]) -> list[TrialOutcome]:
    """The :class:`TrialOutcome` of each trial whose parts score ``windows`` (newest first), by trial number. Every
    part of a trial must have fitted the same reranker: parts of different fingerprints are an error (a fit that
    is not reproducible across tasks), never an average of two models."""
    outcomes = []
    for number in sorted({p.number for p in parts}):
        mine = [p for p in parts if p.number == number]
        models = {(p.trees, p.model) for p in mine}
        if len(models) > 1:
            raise RuntimeError(f"the tasks of trial {number} fitted different rerankers: {sorted(models)}")
        validation = join_validation([p.part for p in mine], windows)
        outcomes.append(TrialOutcome(number, mine[0].params, mine[0].trees, validation))
    return outcomes


def run_trial(scope: Scope, number: int, params: TrialParams, train_rows: list, windows: Windows, progress=False):
    """Fit a trial's reranker on the newest ``params.train_cuts`` of ``train_rows`` and score it on every
    validation window: a :class:`TrialOutcome` (the join of one :func:`run_trial_part`)."""
    names = list(scope.windows)
    part = run_trial_part(scope, TrialTask(number, params, tuple(names)), train_rows, windows, progress)
    return join_trials([part], names)[0]


def best_outcome(outcomes: list[TrialOutcome]) -> TrialOutcome:
    """The trial with the best mean validation recall (the earliest-proposed of equals)."""
    return max(sorted(outcomes, key=lambda o: o.number), key=lambda o: o.recall)


def chosen(outcomes: list[TrialOutcome]) -> Chosen:
    """The ``choose`` step's record: the trial table and the best trial (:func:`best_outcome`) with its
    validation figures, what ``final`` retrains and ``weigh`` scores the other rows beside."""
    best = best_outcome(outcomes)
    v = best.validation
    return Chosen(
        trial_table=trial_table(outcomes),
        best_params=best.params,
        best_strategy=v.strategy,
        valid_results=v.results,
        valid_recall=v.recall,
        valid_by_window=v.by_window,
        selection_scores=v.selection_scores,
    )


def best_line(outcomes: list[TrialOutcome]) -> str:
    """What the run prints about the best trial."""
    best = best_outcome(outcomes)
    v = best.validation
    return (
        f"best: trial {best.number} ({best.params.label}) with {v.strategy}: valid recall "
        f"{v.recall:.4f} ± {v.results[v.strategy]['recall_se']:.4f} (mean ± s.e. over {len(v.by_window)} windows)"
    )


def trial_table(outcomes: list[TrialOutcome]) -> pd.DataFrame:
    """One row per (trial, selection strategy): the parameters, the trees early stopping kept and the validation
    diagnostics (means over the windows, ``recall_se`` their standard error), best first."""
    rows = []
    for o in sorted(outcomes, key=lambda o: o.number):
        for strategy, diag in o.validation.results.items():
            rows.append({"trial": o.number, **o.params.as_dict(), "trees": o.trees, "strategy": strategy, **diag})
    return pd.DataFrame(rows).sort_values(["recall", "trial"], ascending=[False, True], ignore_index=True)


def best_trial_recalls(outcomes: list[TrialOutcome]) -> BuyerRecalls:
    """Per objective, the recall per buyer and window of its best trial under that trial's own best strategy (the
    rows the trial table's "best trial of each" comparison reads)."""
    out = {}
    for objective in dict.fromkeys(o.params.objective for o in sorted(outcomes, key=lambda o: o.number)):
        best = best_outcome([o for o in outcomes if o.params.objective == objective])
        if best.validation.buyer_recalls:
            out[objective] = best.validation.buyer_recalls[best.validation.strategy]
    return out
