import numpy as np

from recsys.candidates import ALSSource
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items


def test_learns_block_structure():
    # two blocks (rank 2): users 0-19 use items 0-4, users 20-39 use items 5-9; user 40 saw items 0 and 1 only
    rows = []
    for u in range(40):
        block = range(0, 5) if u < 20 else range(5, 10)
        rows += [(u, i, A.VIEW, f"2024-09-0{1 + (u + i) % 5} 10:00") for i in block]
    rows += [(40, 0, A.VIEW, "2024-09-05 10:00"), (40, 1, A.ADD_BASKET, "2024-09-05 11:00")]
    src = ALSSource(factors=2, iterations=10, threads=1).fit(make_interactions(rows), make_items(10))
    out = src.recommend(np.array([40, 99]), 5)
    assert set(out[C.USER]) == {40}  # unknown users get nothing
    assert set(out[C.ITEM]) == set(range(5))
