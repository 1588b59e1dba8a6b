"""Scoring a submission against the truth file, next to the history + popularity baseline of the same log."""

import numpy as np
import pandas as pd
import pytest

from recsys.dataset import Dataset
from recsys.evaluation import score_truth
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


@pytest.fixture
def ds():
    log = make_interactions(
        [
            (0, 1, A.ORDER, "2024-09-01 10:00"),
            (2, 4, A.VIEW, "2024-09-01 11:00"),  # the least recently active: the baseline leaves u2 out
            (0, 2, A.VIEW, "2024-09-02 10:00"),
            (1, 3, A.VIEW, "2024-09-03 10:00"),
        ]
    )
    users = pd.DataFrame({C.USER_ID: ["u0", "u1", "u2"], C.LOC_USER_ID: ["a", "b", "c"]})
    return Dataset(log, users, make_items(6), np.zeros((6, 2), np.float32))


def test_the_model_and_the_baseline_on_the_truth_file_hand_computed(ds):
    truth = pd.DataFrame({C.USER_ID: ["u0", "u0", "u2"], C.PRODUCT_ID: ["p1", "p5", "p4"]})
    recs = {0: [1, 2], 2: [4, 0]}  # u0 finds 1 of 2, u2 finds 1 of 1
    got = score_truth(ds, truth, recs, k=2, top_users=2)
    assert got["recall"] == pytest.approx(0.75)
    assert got["buyers"] == 2
    # the baseline submits u0 (its list holds p1 and p2: 1 of 2) and u1 (no purchase); u2, a buyer, scores 0
    assert got["baseline_recall"] == pytest.approx(0.25)
    # per buyer: u0 0.5 - 0.5 = 0, u2 1 - 0 = 1 -> mean 0.5, standard error std([0, 1]) / sqrt(2) = 0.5
    assert got["baseline_difference"] == pytest.approx(0.5)
    assert got["baseline_difference_se"] == pytest.approx(0.5)
    assert got["baseline_difference"] == pytest.approx(got["recall"] - got["baseline_recall"])


def test_no_truth_file_no_figures(ds):
    assert score_truth(ds, None, {0: [1]}, k=2, top_users=2) == {}
