"""The run's settings: one object, checked once, naming every parameter that cannot give a valid submission."""

import dataclasses

import pytest

from recsys.reranker import TrialParams
from recsys.settings import POOL_FACTOR, RunSettings

VALID = RunSettings(top_users=100, k=25, train_cuts=1, pool_size=0, candidates=50)


@pytest.mark.parametrize(
    ("changes", "trials", "message"),
    [
        ({"top_users": 0}, [], "--top-users must be at least 1"),
        ({"k": 0}, [], "--k must be at least 1"),
        ({"train_cuts": 0}, [], "--train-cuts"),
        ({"pool_size": 10}, [], "smaller than --top-users"),
        ({"pool_size": -1}, [], "--pool-size must be 0"),
        ({"candidates": 0}, [], "--candidates"),
        ({"shard_size": 0}, [], "--shard-size must be at least 1"),
        ({}, [TrialParams(train_cuts=2)], "more training cuts than --train-cuts 1"),
        ({"valid_windows": 0}, [], "--valid-windows must be at least 1"),
        ({"buyer_cuts": 0}, [], "--buyer-cuts must be at least 1"),
        ({"trials": 1}, [TrialParams(train_cuts=1)] * 2, "--trials 1 must be at least the 2 --grid"),
        ({}, [TrialParams(depth=12, train_cuts=1)], "outside the search space"),
    ],
)
def test_bad_run_parameters_are_refused(changes, trials, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(VALID, **changes).check(trials)
    assert VALID.check([TrialParams(train_cuts=1)]) is VALID  # valid ones pass


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError, match="--top-users must be at least 1.*--k must be at least 1"):
        dataclasses.replace(VALID, top_users=0, k=0).check()


def test_pool_size_default_is_a_multiple_of_the_budget():
    assert RunSettings(top_users=3000).pool == POOL_FACTOR * 3000
    assert RunSettings(top_users=3000, pool_size=5000).pool == 5000
