"""The hyperparameter search: seeded, batch by batch, resumable from its pickled state, inside its space."""

from __future__ import annotations

import pickle
from dataclasses import fields

import pytest

from recsys.reranker import TrialParams
from recsys.search import SPACE, Search, outside_space, rounds


def fake_recall(params: TrialParams) -> float:
    """A deterministic score with a clear optimum (deeper, more windows), standing in for validation."""
    return 0.1 + 0.01 * params.depth + 0.02 * params.train_cuts - 0.05 * abs(params.negatives - 0.3)


def run_search(seed: int, pickle_between: bool = False) -> list[TrialParams]:
    search = Search(seed, max_train_cuts=4, first=[TrialParams(train_cuts=4)], startup=2)
    proposed = []
    for size in (2, 2):
        batch = search.ask(size)
        if pickle_between:  # the flow stores the study as an artifact between the steps
            search = pickle.loads(pickle.dumps(search))
        for number, params in batch:
            search.tell(number, fake_recall(params))
        proposed += [p for _, p in batch]
    return proposed


def test_the_space_covers_every_trial_parameter():
    assert set(SPACE) == {f.name for f in fields(TrialParams)}


def test_enqueued_trials_come_first_then_proposals_inside_the_space():
    trials = run_search(0)
    assert trials[0] == TrialParams(train_cuts=4)
    assert len(set(trials)) == len(trials) == 4
    assert outside_space(trials, 4) == ""
    assert all(1 <= t.train_cuts <= 4 and 0.05 <= t.negatives <= 0.5 for t in trials)


def test_same_seed_same_trials_also_across_pickling_and_another_seed_differs():
    assert run_search(0) == run_search(0) == run_search(0, pickle_between=True)
    assert run_search(1)[1:] != run_search(0)[1:]


def test_the_study_records_every_told_trial():
    search = Search(0, max_train_cuts=2)
    for number, _params in search.ask(3):
        search.tell(number, 0.1 * number)
    frame = search.frame()
    assert list(frame["trial"]) == [0, 1, 2] and list(frame["recall"]) == pytest.approx([0.0, 0.1, 0.2])


def test_grid_trials_outside_the_space_are_refused_with_the_space_named():
    message = outside_space([TrialParams(depth=12), TrialParams()], max_train_cuts=2)
    assert "depth 12" in message and "depth 4..7" in message and "depth 6" not in message
    with pytest.raises(ValueError, match="outside the search space"):
        Search(0, max_train_cuts=1, first=[TrialParams(train_cuts=3)])


@pytest.mark.parametrize(
    ("n_trials", "n_first", "expected"),
    [(4, 1, (2, 2)), (2, 1, (1, 1)), (5, 1, (3, 2)), (4, 3, (3, 1)), (1, 1, (1, 0)), (3, 3, (3, 0))],
)
def test_rounds_split_the_trials_in_two_batches(n_trials, n_first, expected):
    assert rounds(n_trials, n_first) == expected


def test_fewer_trials_than_the_grid_are_refused():
    with pytest.raises(ValueError, match="--trials 1 must be at least the 2 --grid"):
        rounds(1, 2)
    with pytest.raises(ValueError, match="--trials 0 must be at least"):
        rounds(0, 0)
