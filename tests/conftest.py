"""Shared fixtures: small hand-made interaction tables in the internal schema.

Metaflow reads its S3 endpoint once, when first imported: the loopback S3 server of the cluster tests
(``tests/flows/test_cluster.py``) gets its address here, before any test module imports Metaflow (nothing
imported here does), and starts only when a test needs it. Dummy credentials keep every S3 call of the tests
away from a real account."""

from __future__ import annotations

import os
import socket

import numpy as np
import pandas as pd
import pytest

from recsys.schema import ACTION_DTYPE, ITEM_DTYPE, NO_ITEM, USER_DTYPE
from recsys.schema import Columns as C


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


os.environ.setdefault("METAFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def make_interactions(rows) -> pd.DataFrame:
    """Internal interactions from ``(user, item, action, 'YYYY-MM-DD HH:MM'[, page])`` tuples, sorted by ts."""
    frame = pd.DataFrame(
        [
            (
                r[0],
                NO_ITEM if r[1] is None else r[1],
                int(r[2]),
                pd.Timestamp(r[3]),
                r[4] if len(r) > 4 else i,
            )
            for i, r in enumerate(rows)
        ],
        columns=[C.USER, C.ITEM, C.ACTION, C.TS, C.PAGE],
    )
    frame = frame.astype({C.USER: USER_DTYPE, C.ITEM: ITEM_DTYPE, C.ACTION: ACTION_DTYPE, C.PAGE: np.int64})
    return frame.sort_values(C.TS, kind="stable").reset_index(drop=True)


def make_items(n: int, categories=None) -> pd.DataFrame:
    """An item table of ``n`` items, product ids 'p0'.., categories cycling over 2 unless given."""
    categories = list(categories) if categories is not None else [i % 2 for i in range(n)]
    return pd.DataFrame(
        {
            C.PRODUCT_ID: [f"p{i}" for i in range(n)],
            C.CATEGORY: np.asarray(categories, dtype=np.int32),
            C.PRICE: np.full(n, 1000.0, dtype=np.float32),
            C.VECTOR_ROW: np.arange(n, dtype=np.int32),
            C.IN_CATALOG: True,
        }
    )


@pytest.fixture
def tiny_interactions() -> pd.DataFrame:
    from recsys.schema import Action as A

    return make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-01 10:00"),
            (0, 1, A.ADD_BASKET, "2024-09-01 10:05"),
            (0, 2, A.VIEW, "2024-09-02 09:00"),
            (1, 3, A.VIEW, "2024-09-02 12:00"),
            (1, None, A.VISIT, "2024-09-02 12:01"),
            (2, 3, A.ORDER, "2024-09-03 08:00"),
            (2, 4, A.ORDER, "2024-09-03 08:00"),
            (0, 1, A.ORDER, "2024-09-04 11:00"),  # after the cut used in tests (2024-09-04)
            (1, 2, A.ORDER, "2024-09-05 11:00"),
            (3, 4, A.ORDER, "2024-09-07 00:00"),  # exactly at the end of a 3-day window: outside it
        ]
    )


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    """The embedded ``tiny`` synthetic dataset written once per test session."""
    from recsys.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synthetic") / "tiny", "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_dir):
    from recsys.data import load_dataset

    return load_dataset(tiny_dataset_dir, progress=False)


@pytest.fixture(scope="session")
def setup(tiny_dataset):
    """The tiny dataset with one training cut, one validation window and the final cut, and each cut's 400 users
    scored (by activity: no buyer model), as the training and experiment tests share them."""
    from recsys import training
    from recsys.split import make_cuts

    cuts = make_cuts(tiny_dataset.end, n_train=1)
    return tiny_dataset, cuts, training.user_pools(tiny_dataset, cuts, 400)


# -- the scoring tests' shared state (tests/scoring.py): computed once per session ------------------------------------


@pytest.fixture(scope="session")
def scope(setup):
    from recsys import validation
    from tests.scoring import SETTINGS

    ds, cuts, _ = setup
    return validation.Scope.of(ds, cuts, SETTINGS)


@pytest.fixture(scope="session")
def candidates(setup):
    """Every branch's candidates at the ``setup`` cuts (a :class:`recsys.training.BranchResult`)."""
    from recsys import training
    from recsys.candidates import branches
    from tests.scoring import SETTINGS

    ds, cuts, pools = setup
    return training.join_branches([training.branch_candidates(b, ds, cuts, pools, SETTINGS) for b in branches()])


@pytest.fixture(scope="session")
def data(setup, candidates):
    """Each ``setup`` cut's shard data (one shard: the whole pool)."""
    from recsys.training import shard_data

    ds, cuts, pools = setup
    return {n: shard_data(ds, cut, pools[n], candidates.by_cut()[n]) for n, cut in cuts.items()}


@pytest.fixture(scope="session")
def buyer_model(setup):
    """The buyer model as the flow learns it: from a labelled cut's whole pool."""
    from recsys import training
    from recsys.buyers import BuyerModel

    ds, cuts, _ = setup
    return BuyerModel().fit([training.labelled_buyer_inputs(ds, cuts["train"], 400)])
