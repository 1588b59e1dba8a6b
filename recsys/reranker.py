"""CatBoost reranker: learns which candidates a user buys, trained on earlier cuts, scored on the validation cut.

A trial is one set of hyperparameters (:class:`TrialParams`); the flow trains every trial of a grid in parallel
and keeps the one with the best validation recall.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recsys.features import CATEGORICAL_FEATURES, CUT_ID, feature_columns
from recsys.schema import Columns as C

OBJECTIVES = ("YetiRank", "Logloss")


@dataclass(frozen=True)
class TrialParams:
    """One reranker configuration. ``train_cuts``: how many stacked training cuts (newest first) it learns from."""

    objective: str = "YetiRank"
    depth: int = 6
    learning_rate: float = 0.08
    iterations: int = 300
    l2_leaf_reg: float = 3.0
    train_cuts: int = 1

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.depth < 1 or self.iterations < 1 or self.learning_rate <= 0 or self.train_cuts < 1:
            raise ValueError(f"invalid trial parameters: {self}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def label(self) -> str:
        return (
            f"{self.objective} d{self.depth} lr{self.learning_rate:g} it{self.iterations} "
            f"l2={self.l2_leaf_reg:g} cuts{self.train_cuts}"
        )


DEFAULT_GRID = json.dumps(
    {"objective": ["YetiRank", "Logloss"], "depth": [6], "learning_rate": [0.08], "iterations": [300]}
)


def parse_grid(spec: str) -> list[TrialParams]:
    """Trials from JSON: a dict of lists (their Cartesian product) or a list of dicts (each one trial)."""
    try:
        raw = json.loads(spec)
    except json.JSONDecodeError as err:
        raise ValueError(f"trial grid is not valid JSON: {err}: {spec[:200]!r}") from err
    fields = set(TrialParams.__dataclass_fields__)
    if isinstance(raw, dict):
        values = {k: v if isinstance(v, list) else [v] for k, v in raw.items()}
        combos = [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]
    elif isinstance(raw, list) and all(isinstance(r, dict) for r in raw):
        combos = raw
    else:
        raise ValueError("trial grid must be a JSON object of lists or a list of objects")
    trials = []
    for combo in combos:
        unknown = set(combo) - fields
        if unknown:
            raise ValueError(f"unknown trial parameter(s) {sorted(unknown)}; known: {sorted(fields)}")
        trials.append(TrialParams(**combo))
    if not trials:
        raise ValueError("trial grid is empty")
    return list(dict.fromkeys(trials))


def learnable_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of users with at least one bought candidate (the others carry no ranking signal), sorted by group.

    A group is a user of one cut: with stacked cuts (``cut_id``) the same user forms one group per cut.
    """
    keys = [CUT_ID, C.USER] if CUT_ID in table else [C.USER]
    positives = table.groupby(keys)[C.TARGET].transform("max") > 0
    return table[positives].sort_values([*keys, C.ITEM], kind="stable")


def fit_reranker(train: pd.DataFrame, params: TrialParams, seed: int = 0, threads: int = 2):
    """Fit CatBoost on labelled candidate rows (``learnable_rows`` of the training cuts)."""
    from catboost import CatBoost, Pool

    rows = learnable_rows(train)
    if rows.empty or rows[C.TARGET].sum() == 0:
        raise ValueError("no bought item among the training candidates: cannot train the reranker")
    features = feature_columns(rows)
    cat = [c for c in CATEGORICAL_FEATURES if c in features]
    # users of different cuts are different groups: the group id combines the cut and the user
    group = rows[CUT_ID].astype(np.int64) * 10**9 + rows[C.USER] if CUT_ID in rows else rows[C.USER]
    pool = Pool(rows[features], label=rows[C.TARGET], group_id=group.to_numpy(), cat_features=cat)
    model = CatBoost(
        {
            "loss_function": params.objective,
            "depth": params.depth,
            "learning_rate": params.learning_rate,
            "iterations": params.iterations,
            "l2_leaf_reg": params.l2_leaf_reg,
            "random_seed": seed,
            "thread_count": threads,
            "verbose": False,
            "allow_writing_files": False,
        }
    )
    model.fit(pool)
    return model


def predict(model, table: pd.DataFrame) -> np.ndarray:
    """Raw scores (higher = more likely bought) for candidate rows."""
    return model.predict(table[model.feature_names_], prediction_type="RawFormulaVal")


def top_k(table: pd.DataFrame, scores: np.ndarray, k: int) -> pd.DataFrame:
    """The ``k`` best-scored candidates per user: ``user, item, score, rank``."""
    frame = pd.DataFrame({C.USER: table[C.USER].to_numpy(), C.ITEM: table[C.ITEM].to_numpy(), C.SCORE: scores})
    frame = frame.sort_values([C.USER, C.SCORE, C.ITEM], ascending=[True, False, True], kind="stable")
    frame[C.RANK] = frame.groupby(C.USER, sort=False).cumcount() + 1
    return frame[frame[C.RANK] <= k].reset_index(drop=True)


def fit_platt(scores: np.ndarray, labels: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """``(a, b)`` of ``P(label) = sigmoid(a * score + b)`` by Newton's method on the log-loss."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    a, b = 1.0, float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
    for _ in range(steps):
        p = sigmoid(a * x + b)
        w = np.maximum(p * (1 - p), 1e-9)
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def feature_importance(model) -> pd.Series:
    """How much each feature moves the predictions (CatBoost's PredictionValuesChange), descending.

    That type needs no data and works for ranking and classification losses alike.
    """
    values = model.get_feature_importance(type="PredictionValuesChange")
    return pd.Series(values, index=model.feature_names_).sort_values(ascending=False)
