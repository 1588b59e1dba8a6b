"""A run's settings in one object: what the flow's parameters, ``TwoStageModel.fit`` and the evaluation helpers
share, with the checks that refuse settings that cannot give a valid submission."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from recsys.buyers import DEFAULT_BUYER_CUTS
from recsys.reranker import TrialParams
from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS
from recsys.search import outside_space, rounds

#: Users scored per cut, as a multiple of the submission's user budget, when ``pool_size`` is 0. The submission
#: can only choose among these: at the real volume 4x captured 38.5% of the validation buyers against 28.5% for 2x
#: (recall 0.1707 vs 0.1179, docs/results_history.md), when the pool was the most active users; it is now the
#: likeliest buyers among ``buyers.SCREEN_FACTOR`` times as many (:func:`recsys.training.user_pools`).
POOL_FACTOR = 4
#: One trial (the --grid one): a second, random start-up trial never beat it on the four benchmark cases and cost
#: 8-40 s; --trials 8 or more is a search (docs/results_history.md).
DEFAULT_TRIALS = 1
#: Six daily training cuts, with 10% of the negatives kept (TrialParams.negatives), rank as well as two with 25% or
#: better (+0.002 to +0.004 validation recall on the four benchmark cases, paired per buyer) in about the same time;
#: the log needs 20 days.
DEFAULT_TRAIN_CUTS = 6
DEFAULT_VALID_WINDOWS = 3
DEFAULT_CANDIDATES = 50
#: Users per shard of a cut's feature table (:mod:`recsys.shards`). The default pool (4 x 3,000 users) is one shard,
#: so the presets and the dev cases pay no extra task; a larger pool is split so that a table task holds about as
#: many users as at the real volume (docs/performance.md).
DEFAULT_SHARD_SIZE = 12_000
#: History rows a candidate task fits on, summed over its cuts (:func:`recsys.training.fit_groups`): the run's cuts
#: are grouped into tasks of about this many rows, so that the presets and the dev cases fit every cut in one task
#: per branch (a task costs more than its fits there), the real volume (``full``) fits its 10 cuts in 5 tasks per
#: branch and four times it one cut per task, side by side on a cluster (docs/performance.md, 2026-12-07). The
#: buyer model's daily cuts are grouped the same way (:func:`recsys.training.buyer_plan`; 2026-12-08).
DEFAULT_FIT_ROWS = 8_000_000


@dataclass(frozen=True)
class RunSettings:
    """The parameters of a run (the flow's ``--top-users``, ``--k``, ...). ``pool_size`` 0 means
    :data:`POOL_FACTOR` x ``top_users`` (:attr:`pool`)."""

    top_users: int = DEFAULT_TOP_USERS
    k: int = DEFAULT_K
    seed: int = 0
    candidates: int = DEFAULT_CANDIDATES
    pool_size: int = 0
    train_cuts: int = DEFAULT_TRAIN_CUTS
    buyer_cuts: int = DEFAULT_BUYER_CUTS
    valid_windows: int = DEFAULT_VALID_WINDOWS
    trials: int = DEFAULT_TRIALS
    shard_size: int = DEFAULT_SHARD_SIZE
    fit_rows: int = DEFAULT_FIT_ROWS

    @property
    def pool(self) -> int:
        """Users scored at a cut."""
        return self.pool_size or POOL_FACTOR * self.top_users

    def as_dict(self) -> dict:
        return asdict(self)

    def check(self, first_trials: list[TrialParams] = ()) -> RunSettings:
        """These settings, or a ``ValueError`` naming every parameter that cannot give a valid submission
        (``first_trials``: the --grid trials, tried first)."""
        problems = _search_problems(self, list(first_trials)) + _size_problems(self)
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(problems))
        return self


def _search_problems(s: RunSettings, trials: list[TrialParams]) -> list[str]:
    problems = []
    try:
        rounds(s.trials, len(trials))
    except ValueError as err:
        problems.append(str(err))
    too_many = [t.label for t in trials if t.train_cuts > s.train_cuts]
    if too_many:
        problems.append(f"trials {too_many} use more training cuts than --train-cuts {s.train_cuts}")
    elif s.train_cuts >= 1 and outside_space(trials, s.train_cuts):  # the training cuts are reported below
        problems.append(outside_space(trials, s.train_cuts))
    return problems


def _size_problems(s: RunSettings) -> list[str]:
    at_least_one = {
        "buyer-cuts": s.buyer_cuts,
        "valid-windows": s.valid_windows,
        "top-users": s.top_users,
        "k": s.k,
        "train-cuts": s.train_cuts,
        "candidates": s.candidates,
        "shard-size": s.shard_size,
        "fit-rows": s.fit_rows,
    }
    problems = [f"--{name} must be at least 1, got {value}" for name, value in at_least_one.items() if value < 1]
    if s.pool_size < 0:
        problems.append(f"--pool-size must be 0 (automatic) or positive, got {s.pool_size}")
    elif 0 < s.pool_size < s.top_users:
        problems.append(f"--pool-size {s.pool_size} is smaller than --top-users {s.top_users}")
    return problems
