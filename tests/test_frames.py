import pickle

import numpy as np
import pandas as pd
import pytest

from recsys.frames import PackedFrame


def table(index=None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 1000
    return pd.DataFrame(
        {
            "user": rng.integers(0, 50, n).astype(np.int32),
            "item": rng.integers(0, 500, n).astype(np.int32),
            "score": rng.random(n).astype(np.float32),
            "rank": np.where(rng.random(n) < 0.3, np.nan, rng.integers(1, 50, n)).astype(np.float32),
            "target": (rng.random(n) < 0.1).astype(np.int8),
            "category": rng.integers(-1, 20, n).astype(np.int32),
        },
        index=index,
    )


@pytest.mark.parametrize("index", [None, np.arange(1000)[::-1] * 3])  # a table's RangeIndex, learnable rows' picks
def test_a_packed_frame_comes_back_exactly_and_smaller(index):
    frame = table(index)
    packed = pickle.dumps(PackedFrame(frame))
    back = pickle.loads(packed).frame
    pd.testing.assert_frame_equal(back, frame)  # values, NaNs, dtypes, column order and index
    assert len(packed) < 0.75 * len(pickle.dumps(frame))  # random values: real tables shrink ~10x


def test_only_dataframes_are_packed():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        PackedFrame(np.zeros(3))
    assert repr(PackedFrame(table())) == "PackedFrame(1,000 rows x 6 columns)" and len(PackedFrame(table())) == 1000


@pytest.mark.parametrize("index", [None, np.arange(1000)[::-1] * 3])
def test_select_decodes_only_the_columns_asked_for_with_the_index(index):
    frame = table(index)
    loaded = pickle.loads(pickle.dumps(PackedFrame(frame)))
    picked = loaded.select(["target", "user", "not a column"])
    pd.testing.assert_frame_equal(picked, frame[["user", "target"]])  # the frame's order, its index, exact values
    assert loaded._frame is None  # nothing else was decoded
    pd.testing.assert_frame_equal(PackedFrame(frame).select(["score"]), frame[["score"]])  # never pickled: the same
    pd.testing.assert_frame_equal(loaded.frame, frame)  # and the whole frame on first use


def test_an_unpickled_frame_pickles_to_the_same_bytes_until_it_is_decoded():
    packed = pickle.dumps(PackedFrame(table()))
    again = pickle.dumps(pickle.loads(packed))
    assert again == packed
    loaded = pickle.loads(packed)
    pd.testing.assert_frame_equal(loaded.frame, table())
    with pytest.raises(ValueError, match="read-only"):  # the decoded columns are Arrow's memory, not copies
        loaded.frame.loc[0, "score"] = 2.0
    changed = loaded.frame.copy()
    changed.loc[0, "score"] = 2.0  # a copy can change, and packs anew with the change
    assert pickle.loads(pickle.dumps(PackedFrame(changed))).frame.loc[0, "score"] == 2.0
