"""The in-memory dataset: what travels between the flow's steps comes back exactly, in a fraction of the bytes."""

import pickle

import numpy as np
import pandas as pd


def test_a_pickled_dataset_comes_back_exactly_and_packed(tiny_dataset):
    ds = tiny_dataset
    blob = pickle.dumps(ds, protocol=4)  # Metaflow's protocol
    again = pickle.loads(blob)
    for name in ("interactions", "users", "items", "user_locs"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(ds, name), check_exact=True)
    np.testing.assert_array_equal(again.vectors, ds.vectors)
    assert again.vectors.dtype == ds.vectors.dtype
    assert (again.report, again.stitch_identities, again.end) == (ds.report, ds.stitch_identities, ds.end)
    plain = pickle.dumps(dict(vars(ds)), protocol=4)
    assert len(blob) < len(plain) / 2
    assert again.catalog.raw_recs({0: [1, 2]}) == ds.catalog.raw_recs({0: [1, 2]})
