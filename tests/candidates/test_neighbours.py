import numpy as np
import pytest
import scipy.sparse as sp

from recsys.candidates import neighbours
from recsys.candidates.neighbours import NeighboursSource, row_top
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


def _log():
    # user 0 buys items 1 and 2; user 1 buys 1, 2 and 3 (same taste, plus 3); user 2 buys 1 and 4 (closer to 0
    # than nobody, further than user 1); user 3 buys only 5 (nothing in common with user 0)
    rows = [(0, 1, A.ORDER, "2024-09-09 10:00"), (0, 2, A.ORDER, "2024-09-09 10:00")]
    rows += [(1, i, A.ORDER, "2024-09-09 10:00") for i in (1, 2, 3)]
    rows += [(2, i, A.ORDER, "2024-09-09 10:00") for i in (1, 4)]
    rows += [(3, 5, A.ORDER, "2024-09-09 10:00")]
    return make_interactions(rows)


def test_the_collaborative_part_is_the_similarity_weighted_mean_of_the_neighbours_profiles():
    out = NeighboursSource(k=2, own_weight=0.0).fit(_log(), make_items(8)).recommend(np.array([0]), 10)
    # profiles are L2-normalised: user 0 = (1, 1)/sqrt2 on items 1, 2; user 1 = (1, 1, 1)/sqrt3; user 2 = (1, 1)/sqrt2
    sim1, sim2 = 2 / np.sqrt(6), 1 / 2
    w1, w2 = sim1 / (sim1 + sim2), sim2 / (sim1 + sim2)
    expected = {1: w1 / np.sqrt(3) + w2 / np.sqrt(2), 2: w1 / np.sqrt(3), 3: w1 / np.sqrt(3), 4: w2 / np.sqrt(2)}
    got = dict(zip(out[C.ITEM], out[C.SCORE], strict=True))
    assert set(got) == set(expected)  # user 3 shares nothing: item 5 is never proposed
    assert got == pytest.approx(expected, rel=1e-5)
    assert out[C.RANK].tolist() == list(range(1, len(out) + 1))


def test_own_weight_mixes_in_the_users_own_profile():
    alone = NeighboursSource(k=1, own_weight=0.0).fit(_log(), make_items(8)).recommend(np.array([0]), 10)
    mixed = NeighboursSource(k=1, own_weight=0.5).fit(_log(), make_items(8)).recommend(np.array([0]), 10)
    a, m = dict(zip(alone[C.ITEM], alone[C.SCORE], strict=True)), dict(zip(mixed[C.ITEM], mixed[C.SCORE], strict=True))
    assert a == pytest.approx({i: 1 / np.sqrt(3) for i in (1, 2, 3)}, rel=1e-5)  # k=1: user 1 only
    assert m == pytest.approx({1: a[1] / 2 + 0.5 / np.sqrt(2), 2: a[2] / 2 + 0.5 / np.sqrt(2), 3: a[3] / 2}, rel=1e-5)


def test_small_chunks_give_the_same_candidates():
    users = np.array([0, 1, 2, 3, 99])
    whole = NeighboursSource(k=2).fit(_log(), make_items(8)).recommend(users, 3)
    chunked = NeighboursSource(k=2, cells_per_chunk=8).fit(_log(), make_items(8)).recommend(users, 3)
    assert set(whole[C.USER]) == {0, 1, 2, 3}  # 99 has no history
    assert whole[whole[C.USER] == 3][C.ITEM].tolist() == [5]  # no neighbour shares an item with user 3
    assert whole.equals(chunked)


def test_neighbours_are_the_most_active_users_only():
    # user 1 (three orders) has the most weight: with room for one neighbour, everyone's neighbour is user 1
    source = NeighboursSource(k=2, own_weight=0.0, max_neighbours=1).fit(_log(), make_items(8))
    assert source.neighbour_users_.tolist() == [1]
    out = source.recommend(np.array([0, 1, 2]), 10)
    by_user = out.groupby(C.USER)[C.ITEM].agg(set).to_dict()
    assert by_user == {0: {1, 2, 3}, 2: {1, 2, 3}}  # user 1's own neighbour would be itself: none


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"own_weight": 1.5}, {"max_neighbours": 0}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        NeighboursSource(**kwargs)


@pytest.mark.parametrize("sparse_below", [0.0, 1.1])  # a dense copy / the sparse entries: the same answer
def test_row_top_keeps_the_largest_positive_entries_ties_by_column(monkeypatch, sparse_below):
    monkeypatch.setattr(neighbours, "SPARSE_BELOW", sparse_below)
    matrix = sp.coo_matrix(
        np.array(
            [
                [0.0, 0.5, 0.9, 0.5, 0.0, -1.0],  # 0.9, then the tie 0.5 / 0.5 by column; no zeros or negatives
                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # nothing positive: no entry
                [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],  # fewer positive entries than asked for
            ]
        )
    )
    rows, cols, values = row_top(matrix, 2)
    assert rows.tolist() == [0, 0, 2] and cols.tolist() == [2, 1, 0] and values.tolist() == [0.9, 0.5, 0.2]
    rows, cols, _ = row_top(matrix, 10)
    assert rows.tolist() == [0, 0, 0, 2] and cols.tolist() == [2, 1, 3, 0]


def test_neighbour_candidates_do_not_depend_on_the_ranking_path(monkeypatch):
    log = _log()
    dense = NeighboursSource(k=2).fit(log, make_items(6)).recommend(np.arange(4), 3)
    monkeypatch.setattr(neighbours, "SPARSE_BELOW", 1.1)
    sparse = NeighboursSource(k=2).fit(log, make_items(6)).recommend(np.arange(4), 3)
    assert dense.equals(sparse) and len(dense) > 0
