"""Every registered candidate source honours the same contract: shape, ranks, determinism, and on a hand-made
history the item it exists to find comes first. The list of sources comes from the registry, so a new source is
tested as soon as it is registered (and fails until it has its behaviour case below)."""

import numpy as np
import pandas as pd
import pytest

from recsys.candidates import SOURCES, make_source
from recsys.schema import CANDIDATE_COLUMNS
from recsys.schema import Action as A
from recsys.schema import Columns as C
from recsys.split import Cut, history
from tests.conftest import make_interactions, make_items

N_ITEMS = 12
CUT = Cut(pd.Timestamp("2024-09-11"))
RNG = np.random.default_rng(1)
VECTORS = RNG.normal(size=(N_ITEMS, 8)).astype(np.float32)
VECTORS[7] = VECTORS[1] + 0.05 * RNG.normal(size=8)  # item 7's title is almost item 1's


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


@pytest.mark.parametrize("name", list(SOURCES))
def test_output_contract(name, log):
    users = np.array([0, 1, 2, 3, 999])  # 999 has no history
    out = make_source(name).fit(history(log, CUT), make_items(N_ITEMS), VECTORS).recommend(users, 5)
    assert list(out.columns) == CANDIDATE_COLUMNS
    assert out[C.USER].dtype == np.int32 and out[C.ITEM].dtype == np.int32
    assert set(out[C.USER]) <= set(users) and len(out)
    assert not out.duplicated([C.USER, C.ITEM]).any()
    assert out[C.ITEM].between(0, N_ITEMS - 1).all()
    for _, group in out.groupby(C.USER):
        assert group[C.RANK].tolist() == list(range(1, len(group) + 1))
        assert len(group) <= 5
        assert group[C.SCORE].is_monotonic_decreasing


@pytest.mark.parametrize("name", list(SOURCES))
def test_deterministic(name, log):
    hist = history(log, CUT)
    a = make_source(name).fit(hist, make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    b = make_source(name).fit(hist, make_items(N_ITEMS), VECTORS).recommend(np.arange(30), 5)
    pd.testing.assert_frame_equal(a, b)


def _history_case():
    # a basket add outweighs an older view
    return [(0, 1, A.VIEW, "2024-09-10 09:00"), (0, 2, A.ADD_BASKET, "2024-09-10 08:00")], {2}, set()


def _neighbours_case():
    # users 1-4 share user 0's items 1 and 2 and also buy 6; user 5 shares item 1 only and buys 9
    rows = [(0, i, A.ORDER, "2024-09-10 10:00") for i in (1, 2)]
    for u in range(1, 5):
        rows += [(u, i, A.ORDER, f"2024-09-0{u} 10:00") for i in (1, 2, 6)]
    return rows + [(5, i, A.ORDER, "2024-09-05 10:00") for i in (1, 9)], {6}, {1, 2}


def _covisit_case():
    rows = [(0, 3, A.VIEW, "2024-09-10 10:00")]
    for u in range(1, 6):  # five users look at 3 then 4 within the hour; two look at 3 then 5
        rows += [(u, 3, A.VIEW, f"2024-09-0{u} 10:00"), (u, 4, A.VIEW, f"2024-09-0{u} 10:30")]
    for u in (6, 7):
        rows += [(u, 3, A.VIEW, f"2024-09-0{u} 12:00"), (u, 5, A.VIEW, f"2024-09-0{u} 12:30")]
    return rows, {4}, {3}


def _als_case():
    rows = []
    for u in range(1, 9):  # two tastes: items 0-3 and items 6-9
        rows += [(u, i, A.VIEW, f"2024-09-0{1 + i % 8} {u:02d}:00") for i in (0, 1, 2, 3)]
        rows += [(u + 8, i, A.VIEW, f"2024-09-0{1 + i % 8} {u:02d}:00") for i in (6, 7, 8, 9)]
    rows += [(0, 0, A.VIEW, "2024-09-09 10:00"), (0, 1, A.VIEW, "2024-09-09 11:00")]
    return rows, {0, 1, 2, 3}, set()


def _faiss_case():
    return [(0, 1, A.VIEW, "2024-09-10 10:00"), (2, 5, A.ORDER, "2024-09-10 10:00")], {7}, {1}


def _popular_case():
    rows = [(u, 5, A.ORDER, "2024-09-10 10:00") for u in range(1, 5)] + [(9, 2, A.ORDER, "2024-09-10 10:00")]
    return rows + [(0, 8, A.VIEW, "2024-09-10 11:00")], {5}, set()


def _popular_category_case():
    # item 4 (category 0) sells most overall; user 0 shops category 1, where item 9 sells most
    rows = [(u, 4, A.ORDER, "2024-09-10 10:00") for u in range(1, 6)]
    rows += [(u, 9, A.ORDER, "2024-09-10 10:00") for u in (6, 7)] + [(8, 11, A.ORDER, "2024-09-10 10:00")]
    return rows + [(0, 3, A.VIEW, "2024-09-10 11:00")], {9}, set()


#: For each source: a hand-made history, the item(s) it should rank first for user 0, and items to skip (the
#: user's own, which similarity sources legitimately return at the top).
BEHAVIOUR = {
    "history": _history_case,
    "neighbours": _neighbours_case,
    "covisit": _covisit_case,
    "als": _als_case,
    "faiss": _faiss_case,
    "popular": _popular_case,
    "popular_category": _popular_category_case,
}


def test_every_registered_source_has_a_behaviour_case():
    assert set(BEHAVIOUR) == set(SOURCES), "add a hand-made case for each new source to BEHAVIOUR"


@pytest.mark.parametrize("name", list(SOURCES))
def test_the_expected_item_comes_first(name):
    rows, expected, skip = BEHAVIOUR[name]()
    out = make_source(name).fit(make_interactions(rows), make_items(N_ITEMS), VECTORS).recommend(np.array([0]), 5)
    ranked = [i for i in out.sort_values(C.RANK)[C.ITEM] if i not in skip]
    assert ranked and ranked[0] in expected, f"{name}: got {ranked}, expected first one of {sorted(expected)}"
