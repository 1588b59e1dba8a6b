import numpy as np
import pandas as pd
import pytest

from recsys.reranker import (
    TrialParams,
    feature_importance,
    fit_platt,
    fit_reranker,
    learnable_rows,
    parse_grid,
    predict,
    sigmoid,
    top_k,
)
from recsys.schema import Columns as C


def test_parse_grid_product_and_list():
    trials = parse_grid('{"objective": ["YetiRank", "Logloss"], "depth": [4, 6]}')
    assert len(trials) == 4 and trials[0] == TrialParams("YetiRank", 4)
    assert parse_grid('[{"depth": 3}, {"depth": 3}]') == [TrialParams(depth=3)]  # duplicates dropped


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"depht": [3]}', "unknown trial parameter"),
        ('{"objective": ["RMSE"]}', "objective must be"),
        ('{"depth": [0]}', "invalid trial parameters"),
        ("[]", "empty"),
        ("3", "must be a JSON object"),
    ],
)
def test_parse_grid_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(spec)


def auc(scores, labels):
    """Probability that a random positive is scored above a random negative."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] > neg[None, :]).mean())


def synthetic_table(n_users=60, n_items=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, 8, replace=False):
            signal = rng.normal()
            rows.append((u, i, signal, rng.normal(), int(signal > 1.0)))
    return pd.DataFrame(rows, columns=[C.USER, C.ITEM, "signal", "noise", C.TARGET])


@pytest.mark.parametrize("objective", ["YetiRank", "Logloss"])
def test_reranker_learns_the_signal(objective):
    table = synthetic_table()
    model = fit_reranker(table, TrialParams(objective, depth=3, iterations=60), seed=0, threads=1)
    scores = predict(model, table)
    assert auc(scores, table[C.TARGET].to_numpy()) > 0.95
    assert abs(np.corrcoef(scores, table["noise"])[0, 1]) < 0.2
    importance = feature_importance(model)
    assert importance.index[0] == "signal" and importance["signal"] > importance["noise"]
    top = top_k(table, scores, 1)
    assert top[C.RANK].eq(1).all() and top[C.USER].is_unique


def test_learnable_rows_drop_users_without_positive():
    table = pd.DataFrame({C.USER: [0, 0, 1, 1], C.ITEM: [1, 2, 1, 2], C.TARGET: [0, 1, 0, 0]})
    assert learnable_rows(table)[C.USER].tolist() == [0, 0]
    with pytest.raises(ValueError, match="no bought item"):
        fit_reranker(table[table[C.USER] == 1].assign(x=1.0), TrialParams(iterations=5))


def test_platt_recovers_logistic_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = rng.random(20_000) < sigmoid(2.0 * x - 1.0)
    a, b = fit_platt(x, y)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_stacked_cuts_form_one_group_per_user_and_cut():
    from recsys.pipeline import stack

    a, b = synthetic_table(seed=0), synthetic_table(seed=1)  # the same users in two cuts
    rows = learnable_rows(stack([a, b]))
    groups = list(zip(rows["cut_id"], rows[C.USER], strict=True))
    assert groups == sorted(groups)  # contiguous groups, as ranking losses require
    # a user who bought only in the second cut has no group in the first
    assert set(rows.loc[rows["cut_id"] == 0, C.USER]) == set(a.loc[a[C.TARGET] == 1, C.USER])
    model = fit_reranker(stack([a, b]), TrialParams("YetiRank", depth=3, iterations=20), threads=1)
    assert auc(predict(model, b), b[C.TARGET].to_numpy()) > 0.9
