"""Who to submit: the probability that a user buys in the next days, and a selection that maximises expected recall.

The metric averages recall over buyers, so a submitted user is worth ``P(buys) * E[recall | buys]``. The buyer
model estimates the first factor from user activity and candidate aggregates; the reranker's calibrated item
probabilities estimate the second (the expected share of the user's purchases its top-k list catches).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.baselines import user_activity_scores
from recsys.schema import Columns as C
from recsys.split import Cut, target

#: Selection strategies compared on validation: ``p_buy`` ranks by the buyer model alone, ``expected_recall``
#: by P(buy) * E[recall | buy], ``activity`` by the heuristic activity score (the baselines' ranking).
STRATEGIES = ("expected_recall", "p_buy", "activity")

#: Candidate-table columns aggregated per user for the buyer model (max over the user's candidates).
CANDIDATE_AGGREGATES = ("ui_in_basket", "ui_interest", "ui_addb", "ui_order", "n_sources")


def user_pool(history: pd.DataFrame, size: int) -> np.ndarray:
    """Users worth scoring: the ``size`` users with the highest recency-weighted activity (sorted codes).

    No hard time window: in a shop where people buy rarely, a buyer's last visit can be weeks old.
    """
    scores = user_activity_scores(history, half_life_days=7.0)
    return np.sort(scores.index.to_numpy()[:size])


def buyer_table(user_feats: pd.DataFrame, candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-user inputs of the buyer model: activity features plus aggregates of the user's candidate rows."""
    table = user_feats.copy()
    if candidates is not None and len(candidates):
        cols = [c for c in CANDIDATE_AGGREGATES if c in candidates]
        agg = candidates.groupby(C.USER)[cols].max().add_prefix("max_")
        agg["n_in_basket"] = candidates.groupby(C.USER)["ui_in_basket"].sum() if "ui_in_basket" in candidates else 0
        agg["n_candidates"] = candidates.groupby(C.USER).size()
        table = table.join(agg, how="left")
    return table.astype(np.float32)


def buyer_labels(interactions: pd.DataFrame, cut: Cut, users: np.ndarray) -> pd.Series:
    """1 for users of ``users`` who ordered in the cut's target window."""
    buyers = set(target(interactions, cut)[C.USER].unique())
    return pd.Series([int(u in buyers) for u in users], index=users, dtype=np.int8)


def fit_buyer_model(
    table: pd.DataFrame,
    labels: pd.Series,
    seed: int = 0,
    iterations: int = 400,
    depth: int = 5,
    learning_rate: float = 0.05,
    threads: int = 2,
):
    """CatBoost classifier of P(user buys in the window)."""
    from catboost import CatBoostClassifier

    y = labels.reindex(table.index).fillna(0).astype(int)
    if y.nunique() < 2:
        raise ValueError(f"buyer model needs buyers and non-buyers among the pool users, got {int(y.sum())} buyers")
    model = CatBoostClassifier(
        iterations=iterations,
        depth=depth,
        learning_rate=learning_rate,
        random_seed=seed,
        thread_count=threads,
        verbose=False,
        allow_writing_files=False,
        auto_class_weights=None,
    )
    model.fit(table, y)
    return model


def predict_buy(model, table: pd.DataFrame) -> pd.Series:
    return pd.Series(model.predict_proba(table[model.feature_names_])[:, 1], index=table.index)


def expected_recall(top_probs: pd.DataFrame, all_probs: pd.DataFrame) -> pd.Series:
    """E[recall | user buys] from calibrated P(item bought | user buys) of the candidates.

    Expected hits are the sum over the user's top-k list; the expected number of bought items is the sum over all
    their candidates, and at least one (a buyer buys something, possibly outside the candidates).
    """
    hits = top_probs.groupby(C.USER)[C.SCORE].sum()
    total = all_probs.groupby(C.USER)[C.SCORE].sum().reindex(hits.index)
    return (hits / np.maximum(total, 1.0)).clip(0, 1)


def selection_score(
    p_buy: pd.Series,
    strategy: str = "expected_recall",
    recall_given_buy: pd.Series | None = None,
    activity: pd.Series | None = None,
) -> pd.Series:
    """What ``strategy`` ranks the users of ``p_buy`` by (higher first)."""
    if strategy == "p_buy":
        return p_buy
    if strategy == "expected_recall":
        if recall_given_buy is None:
            raise ValueError("strategy 'expected_recall' needs recall_given_buy")
        return p_buy * recall_given_buy.reindex(p_buy.index).fillna(0)
    if strategy == "activity":
        if activity is None:
            raise ValueError("strategy 'activity' needs activity scores")
        return activity.reindex(p_buy.index).fillna(0)
    raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")


def rank_users(score: pd.Series) -> pd.Index:
    """Users by descending score, ties broken by the smaller user code (deterministic)."""
    order = np.lexsort((score.index.to_numpy(), -score.to_numpy()))
    return score.index[order]


def select_users(
    p_buy: pd.Series,
    top_users: int,
    strategy: str = "expected_recall",
    recall_given_buy: pd.Series | None = None,
    activity: pd.Series | None = None,
) -> pd.Index:
    """The ``top_users`` users with the highest selection score under ``strategy``, best first."""
    return rank_users(selection_score(p_buy, strategy, recall_given_buy, activity))[:top_users]
