import numpy as np
import pandas as pd
import pytest

from recsys.reranker import (
    YETIRANK_PERMUTATIONS,
    Reranker,
    TrialParams,
    cap_train_cuts,
    fit_platt,
    learnable_rows,
    parse_grid,
    sample_negatives,
    sigmoid,
    split_groups,
    stack,
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


def test_trials_capped_to_the_training_cuts_a_short_log_holds():
    trials = [
        TrialParams(train_cuts=6),
        TrialParams(train_cuts=4),
        TrialParams(train_cuts=1),
        TrialParams(depth=4, train_cuts=5),
    ]
    capped = cap_train_cuts(trials, 4)
    assert [t.train_cuts for t in capped] == [4, 1, 4]  # the first two became one trial
    assert capped[2].depth == 4 and capped[0].depth == trials[0].depth


@pytest.mark.parametrize("objective", ["YetiRank", "Logloss"])
def test_reranker_ranks_unseen_users_by_the_signal(objective):
    """Trained on one table, measured on another (other users, other draws): it learned the signal, not the rows."""
    train, test = synthetic_table(seed=0), synthetic_table(seed=7)
    model = Reranker(TrialParams(objective, depth=3, iterations=60), seed=0, threads=1).fit([train])
    scores = model.raw(test)
    assert auc(scores, test[C.TARGET].to_numpy()) > 0.9
    assert abs(np.corrcoef(scores, test["noise"])[0, 1]) < 0.2
    importance = model.feature_importance()
    assert importance.index[0] == "signal" and importance["signal"] > importance["noise"]
    # the calibration maps scores to probabilities that order like the scores
    probs = model.proba(scores)
    assert ((probs >= 0) & (probs <= 1)).all() and np.all(np.diff(probs[np.argsort(scores)]) >= 0)
    expected = f"YetiRank:permutations={YETIRANK_PERMUTATIONS}" if objective == "YetiRank" else "Logloss"
    assert model.model_.get_params()["loss_function"] == expected


def test_calibrated_probabilities_match_observed_rates():
    train, test = synthetic_table(n_users=200, seed=0), synthetic_table(n_users=200, seed=3)
    model = Reranker(TrialParams("Logloss", depth=3, iterations=60), threads=1).fit([train])
    probs, bought = model.proba(model.raw(test)), test[C.TARGET].to_numpy()
    for low, high in [(0.0, 0.2), (0.5, 1.0)]:  # rows the model calls unlikely are rarely bought, and vice versa
        mask = (probs >= low) & (probs < high)
        assert mask.sum() > 20 and abs(bought[mask].mean() - probs[mask].mean()) < 0.15


def test_early_stopping_stops_when_the_held_out_users_stop_improving():
    table = synthetic_table(n_users=200, seed=0)
    # labels that no feature explains: every tree after the first few only fits noise
    table[C.TARGET] = (np.random.default_rng(5).random(len(table)) < 0.2).astype(int)
    params = TrialParams("Logloss", depth=6, learning_rate=0.3, iterations=400, negatives=1.0)
    model = Reranker(params, threads=1).fit([table])
    assert model.best_iteration_ < 100 and model.model_.tree_count_ == model.best_iteration_ + 1


def test_a_refit_with_a_tree_count_grows_exactly_that_many_on_every_group():
    table = synthetic_table(n_users=200, seed=0)
    table[C.TARGET] = (np.random.default_rng(5).random(len(table)) < 0.2).astype(int)  # would stop early
    params = TrialParams("Logloss", depth=6, learning_rate=0.3, iterations=400, negatives=1.0)
    model = Reranker(params, threads=1).fit([table], trees=150)
    assert model.model_.tree_count_ == 150 and model.best_iteration_ == 149
    with pytest.raises(ValueError, match="trees must be at least 1"):
        Reranker(params, threads=1).fit([table], trees=0)


def test_the_fingerprint_tells_equal_fits_from_different_ones():
    """What the trial join checks: two seeded fits on the same rows are the same model, another seed is not."""
    table = synthetic_table(n_users=200, seed=0)
    params = TrialParams("Logloss", depth=3, iterations=40)
    one, two = (Reranker(params, seed=0).fit([table]) for _ in range(2))
    other = Reranker(params, seed=1).fit([table])
    assert one.fingerprint() == two.fingerprint() != other.fingerprint()
    assert np.array_equal(one.raw(table), two.raw(table))


def test_learnable_rows_drop_users_without_positive():
    table = pd.DataFrame({C.USER: [0, 0, 1, 1], C.ITEM: [1, 2, 1, 2], C.TARGET: [0, 1, 0, 0]})
    assert learnable_rows(table)[C.USER].tolist() == [0, 0]
    with pytest.raises(ValueError, match="no bought item"):
        Reranker(TrialParams(iterations=5)).fit([table[table[C.USER] == 1].assign(x=1.0)])


def test_negative_sampling_keeps_every_positive_and_a_negative_per_group():
    table = synthetic_table(n_users=80, seed=2)
    rows = learnable_rows(table)
    kept = sample_negatives(rows, 0.2, seed=0)
    assert kept[C.TARGET].sum() == rows[C.TARGET].sum()
    negatives = kept[kept[C.TARGET] == 0]
    assert set(negatives[C.USER]) == set(rows.loc[rows[C.TARGET] == 0, C.USER])  # one negative per group at least
    share = len(negatives) / (rows[C.TARGET] == 0).sum()
    assert 0.15 < share < 0.4
    pd.testing.assert_frame_equal(kept, sample_negatives(rows, 0.2, seed=0))  # seeded
    assert sample_negatives(rows, 1.0, seed=0) is rows


def test_holdout_keeps_whole_groups_on_one_side():
    rows = learnable_rows(synthetic_table(n_users=100, seed=4))
    fit, held = split_groups(rows, seed=0)
    assert (fit ^ held).all() and held.any()
    assert not set(rows.loc[fit, C.USER]) & set(rows.loc[held, C.USER])


def test_platt_recovers_logistic_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = rng.random(20_000) < sigmoid(2.0 * x - 1.0)
    a, b = fit_platt(x, y)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_platt_stays_finite_when_the_scores_separate_the_rows():
    """A reranker that learnt its own training rows can separate them perfectly: with 0 / 1 targets Newton's method
    diverged and every probability came out NaN (seen with 10% negatives); Platt's smoothed targets keep it finite."""
    x = np.r_[np.zeros(50), np.full(50, 5.0)]
    y = np.r_[np.zeros(50), np.ones(50)]
    a, b = fit_platt(x, y)
    p = sigmoid(a * x + b)
    assert np.isfinite([a, b]).all() and a > 0
    assert p[:50].max() < 0.05 and p[50:].min() > 0.95  # near the smoothed targets 1/52 and 51/52
    assert np.isfinite(fit_platt(np.zeros(10), np.ones(10))).all()  # one class only: finite too


def test_stacked_cuts_form_one_group_per_user_and_cut():
    a, b = synthetic_table(seed=0), synthetic_table(seed=1)  # the same users in two cuts
    rows = learnable_rows(stack([a, b]))
    groups = list(zip(rows["cut_id"], rows[C.USER], strict=True))
    assert groups == sorted(groups)  # contiguous groups, as ranking losses require
    # a user who bought only in the second cut has no group in the first
    assert set(rows.loc[rows["cut_id"] == 0, C.USER]) == set(a.loc[a[C.TARGET] == 1, C.USER])
    model = Reranker(TrialParams("YetiRank", depth=3, iterations=40, train_cuts=2), threads=1).fit([a, b])
    test = synthetic_table(seed=9)
    assert auc(model.raw(test), test[C.TARGET].to_numpy()) > 0.85
