"""The former ``recsys.experiment``'s records, for runs stored before it was split by purpose: their artifacts'
pickles name this module. Validation scoring is :mod:`recsys.validation`, the trial bookkeeping
:mod:`recsys.trials`, the hypotheses and the choice :mod:`recsys.hypotheses`, the final ranking
:func:`recsys.model.rank_final` and the submission :func:`recsys.submission.final_submission`; nothing imports
this module but the unpickler."""

from recsys.hypotheses import Recipe
from recsys.trials import TrialOutcome
from recsys.validation import Answers, RowScores, Validation

__all__ = ["Answers", "Recipe", "RowScores", "TrialOutcome", "Validation"]
