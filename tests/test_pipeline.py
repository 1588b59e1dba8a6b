"""The per-cut pipeline on the tiny synthetic dataset: no leakage, and every step's output shape."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recsys import pipeline
from recsys.buyers import rank_users
from recsys.reranker import TrialParams
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.split import make_cuts


def tamper_after(ds, cut, seed=1):
    """A copy of ``ds`` whose events at or after ``cut`` are replaced by different ones (same log end)."""
    rng = np.random.default_rng(seed)
    inter = ds.interactions
    before = inter[inter[C.TS] < cut.at]
    after = inter[inter[C.TS] >= cut.at].copy()
    after[C.USER] = rng.permutation(after[C.USER].to_numpy())
    after[C.ITEM] = np.where(after[C.ITEM] >= 0, rng.integers(0, len(ds.items), len(after)), after[C.ITEM])
    after[C.ACTION] = np.where(after[C.ACTION] == int(Action.VIEW), int(Action.ORDER), after[C.ACTION])
    after[C.ACTION] = after[C.ACTION].astype(inter[C.ACTION].dtype)
    after[C.ITEM] = after[C.ITEM].astype(inter[C.ITEM].dtype)
    changed = pd.concat([before, after], ignore_index=True)
    return dataclasses.replace(ds, interactions=changed)


@pytest.fixture(scope="module")
def setup(tiny_dataset):
    cuts = make_cuts(tiny_dataset.end, n_train=1)
    pools = pipeline.user_pools(tiny_dataset, cuts, 400)
    return tiny_dataset, cuts, pools


@pytest.mark.parametrize("branch", list(pipeline.BRANCHES))
def test_events_after_a_cut_change_nothing_computed_for_it(setup, branch):
    ds, cuts, _ = setup
    cut = {"valid": cuts["valid"]}
    tampered = tamper_after(ds, cuts["valid"])
    assert tampered.end == ds.end
    assert not tampered.interactions.equals(ds.interactions)
    pools = pipeline.user_pools(ds, cut, 400)
    pools_t = pipeline.user_pools(tampered, cut, 400)
    np.testing.assert_array_equal(pools["valid"], pools_t["valid"])

    cands, _ = pipeline.run_branch(branch, ds, cut, pools, 30)
    cands_t, _ = pipeline.run_branch(branch, tampered, cut, pools, 30)
    for source in cands:
        pd.testing.assert_frame_equal(cands[source]["valid"], cands_t[source]["valid"])

    table = pipeline.cut_table(ds, cuts["valid"], {s: c["valid"] for s, c in cands.items()})
    table_t = pipeline.cut_table(tampered, cuts["valid"], {s: c["valid"] for s, c in cands_t.items()})
    pd.testing.assert_frame_equal(table.drop(columns=C.TARGET), table_t.drop(columns=C.TARGET))
    assert not table[C.TARGET].equals(table_t[C.TARGET])  # only the labels may (and here do) change

    setup_ = pipeline.buyer_setup(ds, cuts["valid"], pools["valid"], table)
    setup_t = pipeline.buyer_setup(tampered, cuts["valid"], pools["valid"], table_t)
    pd.testing.assert_frame_equal(setup_.table, setup_t.table)


def test_cut_pipeline_end_to_end(setup):
    ds, cuts, pools = setup
    cands = {}
    metrics = {}
    for branch in pipeline.BRANCHES:
        c, m = pipeline.run_branch(branch, ds, cuts, pools, 30)
        cands.update(c)
        metrics.update(m)
    assert set(cands) == {"history", "covisit", "als", "faiss", "popular", "popular_category"}
    assert "history.valid.recall_at_25" in metrics and "history.final.recall_at_25" not in metrics
    tables = {n: pipeline.cut_table(ds, cut, {s: c[n] for s, c in cands.items()}) for n, cut in cuts.items()}
    assert C.TARGET not in tables["final"] and tables["train"][C.TARGET].sum() > 0
    setups = {n: pipeline.buyer_setup(ds, cut, pools[n], tables[n]) for n, cut in cuts.items()}
    buyer_model = pipeline.fit_buyers([setups["train"]])
    params = TrialParams("Logloss", depth=3, iterations=30)
    model, platt = pipeline.train_trial(params, [tables["train"]], threads=1)
    pred = pipeline.predict_cut(model, platt, buyer_model, tables["valid"], setups["valid"], 10, 50)
    results = pipeline.evaluate(ds, cuts["valid"], pred, pipeline.valid_padding(ds, cuts["valid"], 10), 10, 50)
    for diag in results.values():
        assert diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1.0
    # expected recall beats ranking users at random: the buyer model carries signal
    assert results["expected_recall"]["selected_precision"] > diag["buyers"] / len(pools["valid"])

    final = pipeline.final_submission(ds, cuts, tables, setups, params, "expected_recall", 10, 50)
    assert len(final.submission) == 50 and final.submission["products"].map(len).eq(10).all()
    assert final.feature_importance.index[0] in tables["final"].columns


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_users": 0}, "--top-users must be at least 1"),
        ({"k": 0}, "--k must be at least 1"),
        ({"train_cuts": 0}, "--train-cuts"),
        ({"pool_size": 10}, "smaller than --top-users"),
        ({"pool_size": -1}, "--pool-size must be 0"),
        ({"candidates": 0}, "--candidates"),
        ({"trials": [TrialParams(train_cuts=2)]}, "more training cuts than --train-cuts 1"),
    ],
)
def test_bad_run_parameters_are_refused(kwargs, message):
    params = {"top_users": 100, "k": 25, "train_cuts": 1, "pool_size": 0, "candidates": 50, **kwargs}
    with pytest.raises(ValueError, match=message):
        pipeline.check_parameters(**params)
    pipeline.check_parameters(top_users=100, k=25, train_cuts=1, pool_size=0, candidates=50)  # valid ones pass


def test_pool_size_default_is_a_multiple_of_the_budget():
    assert pipeline.pool_size(0, 3000) == pipeline.POOL_FACTOR * 3000
    assert pipeline.pool_size(5000, 3000) == 5000


def test_drop_source_removes_its_rows_and_features_and_recounts_sources():
    from recsys.features import merge_candidates

    def cands(rows):
        return pd.DataFrame(rows, columns=[C.USER, C.ITEM, C.SCORE, C.RANK])

    table = merge_candidates(
        {"a": cands([(0, 1, 0.9, 1), (0, 2, 0.5, 2)]), "b": cands([(0, 2, 0.7, 1), (0, 3, 0.6, 2)])}
    )
    without_a = pipeline.drop_source(table, "a")
    assert without_a[C.ITEM].tolist() == [2, 3]  # item 1 only came from a
    assert not any(c.startswith("s_a_") for c in without_a.columns)
    assert without_a["n_sources"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="no candidate source 'c'"):
        pipeline.drop_source(table, "c")


@pytest.fixture(scope="module")
def tables(setup):
    ds, cuts, pools = setup
    cands = {}
    for branch in pipeline.BRANCHES:
        cands.update(pipeline.run_branch(branch, ds, cuts, pools, 30)[0])
    return {n: pipeline.cut_table(ds, cut, {s: c[n] for s, c in cands.items()}) for n, cut in cuts.items()}


def test_source_removed_retrains_without_the_source_deterministically(setup, tables):
    ds, cuts, pools = setup
    params = TrialParams("Logloss", depth=3, iterations=30)
    args = (ds, cuts, pools, tables, ["train"], params, "p_buy")
    removed = pipeline.sources_removed(*args, ["history", "popular"], 10, 50)
    assert list(removed) == ["history", "popular"]
    for diag in removed.values():
        assert diag["selected"] == 50 and 0.0 <= diag["recall"] <= diag["buyers_captured"] <= 1.0
    assert pipeline.source_removed(*args, "history", 10, 50) == removed["history"]  # same seed, same result
    # without the user's own history the lists lose most of what buyers buy (the tiny shop's strongest source)
    setups = {n: pipeline.buyer_setup(ds, cuts[n], pools[n], tables[n]) for n in ("train", "valid")}
    model, platt = pipeline.train_trial(params, [tables["train"]])
    pred = pipeline.predict_cut(
        model, platt, pipeline.fit_buyers([setups["train"]]), tables["valid"], setups["valid"], 10, 50
    )
    full = pipeline.evaluate(ds, cuts["valid"], pred, pipeline.valid_padding(ds, cuts["valid"], 10), 10, 50)
    assert removed["history"]["recall_selected"] < full["p_buy"]["recall_selected"]

    scores = pipeline.selection_scores(pred, setups["valid"])
    assert set(scores.columns) == {"expected_recall", "p_buy", "activity", "bought"}
    assert len(scores) == len(pools["valid"]) and scores["bought"].sum() > 0
    for strategy, users in pred.selected.items():  # the stored scores rank users exactly as the selection did
        assert rank_users(scores[strategy])[:50].equals(users)
