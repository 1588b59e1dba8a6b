"""Reliability of the flow through ``metaflow.Runner`` on the tiny preset (docs/reliability.md).

* two clean runs with the same data and seed propose the same search trials and write byte-identical
  submissions;
* a worker killed mid-trial (SIGKILL, nothing saved) fails the run without a submission, and ``resume`` finishes
  it with the clean run's trials and submission, byte for byte;
* a log too short for the run's cuts stops in ``start``, before any candidate or model step;
* a log a day too short for ``--train-cuts`` learns from one training cut less, and says so.

A raised exception followed by ``resume`` is covered in ``test_recsys_flow.py``.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.schema import ACTIONS_FILE, RAW_FILES
from tests.flows.runner import run_flow

pytestmark = pytest.mark.slow


def trials_of(run) -> list[str]:
    """The labels of a run's search trials, in proposal order."""
    outcomes = run["choose"].task.data.outcomes
    return [f"{o.number}: {o.params.label}" for o in outcomes]


def test_two_clean_runs_write_byte_identical_submissions(clean_run, tmp_path):
    clean_dir, clean = clean_run
    again = run_flow(tmp_path)
    assert again.status == "successful", again.stderr[-3000:]
    assert again.run.id != clean.id
    assert trials_of(again.run) == trials_of(clean) and len(trials_of(clean)) == 2  # the seeded search
    assert (tmp_path / "submission.csv").read_bytes() == (clean_dir / "submission.csv").read_bytes()


def test_resume_after_a_worker_is_killed_mid_trial(clean_run, tmp_path):
    clean_dir, clean = clean_run
    killed = run_flow(tmp_path, fail_step="train_trial:kill")
    assert killed.status == "failed"
    assert not (tmp_path / "submission.csv").exists()
    steps = {s.id for s in killed.run}
    assert "join_tables" in steps and "choose" not in steps  # it died in the trials, after the tables were saved
    assert not any(task.successful for task in killed.run["train_trial"])

    resumed = run_flow(tmp_path, command="resume", origin_run_id=killed.run.id)
    assert resumed.status == "successful", resumed.stderr[-3000:]
    assert resumed.run["join_tables"].task.origin_pathspec is not None  # cloned from the killed run
    assert all(task.origin_pathspec is None for task in resumed.run["train_trial"])  # rerun
    assert trials_of(resumed.run) == trials_of(clean)
    assert (tmp_path / "submission.csv").read_bytes() == (clean_dir / "submission.csv").read_bytes()


def test_a_log_too_short_for_the_cuts_stops_in_start(tiny_dataset_dir, tmp_path):
    data_dir = tmp_path / "short"
    data_dir.mkdir()
    for name in RAW_FILES:
        shutil.copy(tiny_dataset_dir / name, data_dir / name)
    actions = pq.read_table(tiny_dataset_dir / ACTIONS_FILE)
    dates = actions["date"].to_pandas()
    # the runner's layout (3 validation windows, 2 daily training cuts) needs 16 days: 3 of history, then 13; with
    # one training cut (the fewest), 15
    last_8_days = dates >= dates.max().floor("D") - pd.Timedelta(days=7)
    pq.write_table(actions.filter(pa.array(last_8_days.to_numpy())), data_dir / ACTIONS_FILE)

    result = run_flow(tmp_path, data_dir=str(data_dir))

    assert result.status == "failed"
    assert [s.id for s in result.run] == ["start"]
    error = result.run["start"].task.stderr
    assert f"DataValidationError: {ACTIONS_FILE}: column 'date': the log covers 8 days" in error
    assert "needs at least 15" in error


def test_a_log_a_day_short_of_the_training_cuts_learns_from_fewer(tiny_dataset_dir, tmp_path):
    data_dir = tmp_path / "short"
    data_dir.mkdir()
    for name in RAW_FILES:
        shutil.copy(tiny_dataset_dir / name, data_dir / name)
    actions = pq.read_table(tiny_dataset_dir / ACTIONS_FILE)
    dates = actions["date"].to_pandas()
    # the runner's layout needs 16 days (2 training cuts); 15 hold one
    last_15_days = dates >= dates.max().floor("D") - pd.Timedelta(days=14)
    pq.write_table(actions.filter(pa.array(last_15_days.to_numpy())), data_dir / ACTIONS_FILE)

    result = run_flow(tmp_path, data_dir=str(data_dir), trials=1, ablation=False, plain=False)

    assert result.status == "successful", result.stderr[-3000:]
    start = result.run["start"].task
    assert "the log covers 15 days: 1 daily training cuts fit before the 3 validation windows, not --train-cuts 2" in (
        start.stdout
    )
    assert start.data.n_train_cuts == 1 and sorted(start.data.cuts) == ["final", "train", "valid", "valid2", "valid3"]
    assert [o.params.train_cuts for o in result.run["choose"].task.data.outcomes] == [1]
    assert (tmp_path / "submission.csv").stat().st_size > 0


def test_a_data_folder_missing_a_file_stops_in_start_before_mlflow(tiny_dataset_dir, tmp_path):
    data_dir = tmp_path / "incomplete"
    data_dir.mkdir()
    for name in RAW_FILES[1:]:
        shutil.copy(tiny_dataset_dir / name, data_dir / name)

    result = run_flow(tmp_path, data_dir=str(data_dir))

    assert result.status == "failed"
    assert [s.id for s in result.run] == ["start"]
    assert f"DataValidationError: {data_dir}: missing files {ACTIONS_FILE}" in result.run["start"].task.stderr
    assert not (tmp_path / "mlflow.db").exists()  # no MLflow run was opened for a run that could not start


def test_a_run_without_search_trains_only_the_grid_trial(tmp_path):
    """The default, --trials equal to the --grid trials: the second batch is one placeholder task that trains
    nothing, and the run chooses among the grid trial's strategies."""
    result = run_flow(tmp_path, trials=1, ablation=False)
    assert result.status == "successful", result.stderr[-3000:]
    assert trials_of(result.run) == ["0: YetiRank, depth 4, lr 0.08, ≤100 trees, l2 3, 2 windows, 10% negatives"]
    (placeholder,) = list(result.run["train_more"])
    assert placeholder.data.outcome is None
    assert (tmp_path / "submission.csv").stat().st_size > 0
    assert result.run["weigh"].task.data.source_removed is None  # --ablation False
    assert result.run["weigh"].task.data.plain_results["recall"] >= 0.0  # --plain True needs no ablation
