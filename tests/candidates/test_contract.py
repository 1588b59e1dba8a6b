"""Every candidate source honours the same contract (shape, ranks, determinism, no leakage)."""

import numpy as np
import pandas as pd
import pytest

from recsys.candidates import ALSSource, CovisitationSource, EmbeddingSource, HistorySource, PopularitySource
from recsys.candidates.base import CANDIDATE_COLUMNS
from recsys.schema import Action as A
from recsys.schema import Columns as C
from recsys.split import Cut, history
from tests.conftest import make_interactions, make_items

N_ITEMS = 12


def sources():
    return [
        HistorySource(),
        PopularitySource("global"),
        PopularitySource("category"),
        CovisitationSource(),
        ALSSource(factors=4, iterations=3, threads=1),
        EmbeddingSource(),
    ]


VECTORS = np.random.default_rng(1).normal(size=(N_ITEMS, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def log():
    rng = np.random.default_rng(0)
    actions = [A.VIEW, A.VIEW, A.VIEW, A.ADD_BASKET, A.LIKE, A.ORDER, A.VISIT]
    rows = []
    for i in range(400):
        user, item = int(rng.integers(0, 30)), int(rng.integers(0, N_ITEMS))
        action = actions[int(rng.integers(0, len(actions)))]
        day = 1 + i // 40
        rows.append((user, None if action == A.VISIT else item, action, f"2024-09-{day:02d} {i % 24:02d}:00"))
    return make_interactions(rows)


@pytest.mark.parametrize("source", sources(), ids=lambda s: s.name)
def test_output_contract(source, log):
    hist = history(log, Cut(pd.Timestamp("2024-09-08")))
    users = np.array([0, 1, 2, 3, 999])  # 999 has no history
    out = source.fit(hist, make_items(N_ITEMS), VECTORS).recommend(users, 5)
    assert list(out.columns) == CANDIDATE_COLUMNS
    assert out[C.USER].dtype == np.int32 and out[C.ITEM].dtype == np.int32
    assert set(out[C.USER]) <= set(users)
    assert not out.duplicated([C.USER, C.ITEM]).any()
    assert out[C.ITEM].between(0, N_ITEMS - 1).all()
    for _, group in out.groupby(C.USER):
        assert group[C.RANK].tolist() == list(range(1, len(group) + 1))
        assert len(group) <= 5
        assert group[C.SCORE].is_monotonic_decreasing


@pytest.mark.parametrize("source", sources(), ids=lambda s: s.name)
def test_deterministic(source, log):
    hist = history(log, Cut(pd.Timestamp("2024-09-08")))
    a = source.fit(hist, make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    b = source.fit(hist, make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("source", sources(), ids=lambda s: s.name)
def test_events_after_cut_do_not_change_candidates(source, log):
    cut = Cut(pd.Timestamp("2024-09-08"))
    before = source.fit(history(log, cut), make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    future = make_interactions([(u, 0, A.ORDER, "2024-09-09 10:00") for u in range(30)])
    changed = pd.concat([log, future], ignore_index=True)
    after = source.fit(history(changed, cut), make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    pd.testing.assert_frame_equal(before, after)
