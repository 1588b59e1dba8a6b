"""Scoring recommendations of a cut: against the cut's target from the log, or against a truth file."""

from __future__ import annotations

import pandas as pd

from recsys.dataset import Dataset
from recsys.metrics import Diagnostics, diagnostics
from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS
from recsys.schema import Columns as C
from recsys.split import Cut, target


def score_cut(ds: Dataset, cut: Cut, recs: dict, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K) -> Diagnostics:
    """Diagnostics of ``user code -> [item codes]`` against the orders logged after ``cut``."""
    return diagnostics(recs, target(ds.interactions, cut), top_users, k)


def score_against_truth(
    ds: Dataset, recs: dict, truth: pd.DataFrame, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K
) -> Diagnostics:
    """Diagnostics of ``user code -> [item codes]`` against a raw (user_id, product_id) truth table.

    Scored on raw ids, so buyers never seen in the log still count (as 0).
    """
    raw_truth = truth.rename(columns={C.USER_ID: C.USER, C.PRODUCT_ID: C.ITEM})
    return diagnostics(ds.raw_recs(recs), raw_truth, top_users, k)


def truth_file(data_dir) -> pd.DataFrame | None:
    """``<data_dir>/truth/truth.parquet`` when the data ships one (read in ``start``, so that later steps need
    nothing outside the datastore), else None."""
    from pathlib import Path

    from recsys.data import load_truth
    from recsys.schema import TRUTH_FILE

    path = Path(data_dir) / TRUTH_FILE
    return load_truth(path) if path.is_file() else None


def score_truth(ds: Dataset, truth: pd.DataFrame | None, recs: dict, k: int, top_users: int) -> dict[str, float]:
    """Diagnostics against the truth of the days after the log (empty without one)."""
    if truth is None:
        return {}
    return score_against_truth(ds, recs, truth, top_users, k).as_dict()
