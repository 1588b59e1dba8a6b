"""Scoring recommendations of a cut: against the cut's target from the log, or against a truth file."""

from __future__ import annotations

import pandas as pd

from recsys.baselines import history_popularity_baseline
from recsys.dataset import Dataset
from recsys.metrics import Diagnostics, buyer_recalls, diagnostics, paired_difference
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
    """Diagnostics against the truth of the days after the log (empty without one), next to the history +
    popularity baseline's submission from the same log: its recall (``baseline_recall``, ``baseline_recall_se``)
    and the difference buyer by buyer, model minus baseline (``baseline_difference``, ``baseline_difference_se``)."""
    if truth is None:
        return {}
    raw_truth = truth.rename(columns={C.USER_ID: C.USER, C.PRODUCT_ID: C.ITEM})
    submissions = {"model": recs, "baseline": history_popularity_baseline(ds.interactions, ds.items, top_users, k)}
    diags, per_buyer = {}, {}
    for name, lists in submissions.items():  # raw ids, so buyers never seen in the log count (as 0)
        raw = ds.raw_recs(lists)
        diags[name] = diagnostics(raw, raw_truth, top_users, k)
        per_buyer[name] = {"truth": buyer_recalls(raw, raw_truth, top_users, k)}
    difference, se = paired_difference(per_buyer["model"], per_buyer["baseline"])
    model, base = diags["model"].as_dict(), diags["baseline"]
    return {
        **model,
        "baseline_recall": base.recall,
        "baseline_recall_se": base.recall_se,
        "baseline_difference": difference,
        "baseline_difference_se": se,
    }
