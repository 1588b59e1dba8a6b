"""Trial bookkeeping (``recsys.trials``): a trial's tasks over groups of validation windows, their parts joined into
the outcome of one pass, and the choice's record."""

import dataclasses

import pytest

from recsys import trials
from tests.scoring import PARAMS, two_windows


def test_a_trial_scored_in_parts_joins_to_the_outcome_of_one_task(setup, data, buyer_model):
    scope, windows = two_windows(setup, data, buyer_model)
    rows = [data["train"].rows]
    whole = trials.run_trial(scope, 3, PARAMS, rows, windows)
    tasks = trials.trial_tasks([(3, PARAMS)], [["valid2"], ["valid"]])
    assert [(t.number, t.windows) for t in tasks] == [(3, ("valid2",)), (3, ("valid",))]
    parts = [trials.run_trial_part(scope, task, rows, windows) for task in tasks]
    (joined,) = trials.join_trials(parts[::-1], ["valid", "valid2"])
    assert (joined.number, joined.params, joined.trees) == (3, PARAMS, whole.trees)
    assert joined.validation.results == whole.validation.results
    assert joined.validation.by_window == whole.validation.by_window and joined.line() == whole.line()
    assert parts[0].model == parts[1].model  # the same fit in both tasks, to its leaf values
    # a task that fitted another model (a fit not reproducible across tasks) is an error, never averaged in
    for other in (dataclasses.replace(parts[0], trees=parts[0].trees + 1), dataclasses.replace(parts[0], model="0")):
        with pytest.raises(RuntimeError, match=r"the tasks of trial 3 fitted different rerankers"):
            trials.join_trials([other, parts[1]], ["valid", "valid2"])


def test_each_trial_of_a_batch_has_one_task_per_group_of_windows_and_outcomes_come_by_number():
    batch = [(5, PARAMS), (2, dataclasses.replace(PARAMS, depth=4))]
    tasks = trials.trial_tasks(batch, [["valid", "valid3"], ["valid2"]])
    assert [(t.number, t.windows) for t in tasks] == [
        (5, ("valid", "valid3")),
        (5, ("valid2",)),
        (2, ("valid", "valid3")),
        (2, ("valid2",)),
    ]
    assert trials.trial_tasks([], [["valid"]]) == []


def test_the_choice_record_is_the_best_trial_with_its_figures(scope, data, buyer_model):
    from tests.scoring import windows_of

    windows = windows_of(data, buyer_model)
    outcomes = [
        trials.run_trial(scope, n, p, [data["train"].rows], windows)
        for n, p in enumerate([PARAMS, dataclasses.replace(PARAMS, depth=4)])
    ]
    chosen, best = trials.chosen(outcomes), trials.best_outcome(outcomes)
    assert chosen.best_params == best.params and chosen.valid_recall == best.recall
    assert chosen.valid_results == best.validation.results and chosen.best_strategy == best.validation.strategy
    assert list(chosen.trial_table["trial"].unique()) == sorted({0, 1}, key=lambda n: -outcomes[n].recall)
    assert trials.best_line(outcomes).startswith(f"best: trial {best.number} ({best.params.label})")
