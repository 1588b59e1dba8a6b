"""Trial bookkeeping of the reranker search: one trial fitted and scored on the validation windows
(:class:`TrialOutcome`), the best of several, and the trial table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.reranker import TrialParams
from recsys.training import fit_reranker
from recsys.validation import BuyerRecalls, Scope, Validation, Windows, validate_windows


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


def run_trial(scope: Scope, number: int, params: TrialParams, train_rows: list, windows: Windows, progress=False):
    """Fit a trial's reranker on the newest ``params.train_cuts`` of ``train_rows`` and score it on every
    validation window (:func:`validate_windows`): a :class:`TrialOutcome`."""
    reranker = fit_reranker(params, train_rows, scope.settings.seed, progress)
    validation = validate_windows(scope, reranker, windows)
    return TrialOutcome(number, params, reranker.best_iteration_ + 1, validation)


def best_outcome(outcomes: list[TrialOutcome]) -> TrialOutcome:
    """The trial with the best mean validation recall (the earliest-proposed of equals)."""
    return max(sorted(outcomes, key=lambda o: o.number), key=lambda o: o.recall)


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
