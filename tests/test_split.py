import pandas as pd

from recsys.schema import Columns as C
from recsys.split import Cut, history, make_cuts, target


def test_history_is_strictly_before_cut(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-04"))
    hist = history(tiny_interactions, cut)
    assert hist[C.TS].max() < cut.at
    assert len(hist) == 7


def test_target_is_orders_in_window(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-04"))
    tgt = target(tiny_interactions, cut)
    # orders on 09-04 and 09-05 are in [09-04, 09-07); the one at exactly 09-07 00:00 is not; views never count
    assert sorted(map(tuple, tgt[[C.USER, C.ITEM]].to_numpy().tolist())) == [(0, 1), (1, 2)]


def test_history_unsorted_input_gives_same_rows(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-03"))
    shuffled = tiny_interactions.sample(frac=1.0, random_state=0)
    assert len(history(shuffled, cut)) == len(history(tiny_interactions, cut)) == 5


def test_make_cuts_walk_back_without_overlap():
    end = pd.Timestamp("2024-09-29")
    cuts = make_cuts(end, n_train=2)
    assert cuts["final"].at == end
    assert cuts["valid"].at == pd.Timestamp("2024-09-26")
    assert cuts["train"].at == pd.Timestamp("2024-09-23")
    assert cuts["train2"].at == pd.Timestamp("2024-09-20")
    # a training target window never reaches into the validation window
    assert cuts["train"].target_end == cuts["valid"].at
