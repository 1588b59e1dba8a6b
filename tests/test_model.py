"""The two-stage model object: fitted in one process, it recommends for any users with the flow's own recipe."""

import numpy as np
import pandas as pd
import pytest

from recsys.candidates import SOURCES, candidates_of
from recsys.model import SecondStage, TwoStageModel, predict
from recsys.reranker import TrialParams
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import make_cuts
from recsys.training import shard_data

K = 10


@pytest.fixture(scope="module")
def model(tiny_dataset):
    params = TrialParams("Logloss", depth=3, iterations=40, train_cuts=2)
    settings = RunSettings(top_users=100, candidates=20, pool_size=300, train_cuts=2, buyer_cuts=1, valid_windows=1)
    return TwoStageModel.fit(tiny_dataset, settings, params)


def test_fit_keeps_every_registered_source_fitted_at_the_end_of_the_log(model, tiny_dataset):
    assert list(model.sources) == sorted(SOURCES)
    assert model.now == tiny_dataset.end and model.history[C.TS].max() < model.now
    assert model.reranker.model_ is not None and model.buyer_model.model_ is not None


def test_recommend_gives_k_distinct_items_to_the_chosen_users(model, tiny_dataset):
    users = np.arange(60)
    recs = model.recommend(users, K, top_users=20)
    assert len(recs) == 20 and set(recs) <= set(users)
    assert all(len(items) == K == len(set(items)) for items in recs.values())
    assert all(0 <= i < len(tiny_dataset.items) for items in recs.values() for i in items)


def test_recommend_equals_the_prediction_from_the_cut_table(model, tiny_dataset):
    """What the flow's final step does (the cut's table from the branches' candidates, then ``predict``) and what
    the served model does (``recommend``, features recomputed for the users asked for) agree."""
    ds = tiny_dataset
    cut = make_cuts(ds.end)["final"]
    pool = np.arange(0, 200, 2)
    cands = {n: s.recommend(pool, candidates_of(n, model.n_candidates)) for n, s in model.sources.items()}
    data = shard_data(ds, cut, pool, cands)
    pred = predict(model.reranker, model.buyer_model, data.table, data.inputs, K, 30)
    expected = pred.recs(model.strategy, model.padding, K)
    assert model.recommend(pool, K, top_users=30) == expected


def test_a_users_list_does_not_depend_on_who_else_is_asked(model):
    users = np.arange(0, 40)
    together = model.predict(users, K).lists
    alone = model.predict(users[:1], K).lists
    pd.testing.assert_frame_equal(alone, together[together[C.USER] == users[0]].reset_index(drop=True))


def test_unknown_strategy_is_refused(model):
    with pytest.raises(ValueError, match="unknown strategy"):
        TwoStageModel(
            sources=model.sources, recipe=model.recipe, stage=SecondStage(model.reranker, model.buyer_model, "magic"),
            history=model.history, n_candidates=5, padding=model.padding,
        )  # fmt: skip


def test_a_pickled_model_recommends_the_same(model):
    """A model travels packed (its log as zstd Arrow) between the flow's steps and into MLflow: it comes back
    with the same history and the same lists."""
    import pickle

    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(again.history, model.history)
    users = np.arange(0, 80)
    assert again.recommend(users, K, top_users=30) == model.recommend(users, K, top_users=30)


def test_the_model_from_its_stored_parts_and_sources_is_the_model(model):
    """The flow's ``final`` step stores the parts beside the sources and ``track`` puts them together again: the
    same history (not copied on the way), the same second stage and the same lists."""
    import pickle

    parts = pickle.loads(pickle.dumps(model.parts))
    sources = pickle.loads(pickle.dumps(model.sources))
    again = TwoStageModel.from_parts(parts, sources)
    assert again.history is parts.history
    pd.testing.assert_frame_equal(again.history, model.history)
    np.testing.assert_array_equal(again.padding, model.padding)
    assert (again.strategy, again.n_candidates, list(again.sources)) == (
        model.strategy,
        model.n_candidates,
        list(model.sources),
    )
    users = np.arange(0, 80)
    assert again.recommend(users, K, top_users=30) == model.recommend(users, K, top_users=30)


def test_shard_tables_scored_one_by_one_predict_as_the_whole_table(model, tiny_dataset):
    pool = np.arange(0, 240, 2)
    table, inputs = model.features(pool)
    whole = model.rank(table, inputs, K, 40)
    parts = [table[table[C.USER].isin(users)] for users in np.array_split(pool, 4)]
    sharded = model.rank(iter(parts), inputs, K, 40)
    pd.testing.assert_frame_equal(sharded.lists, whole.lists)
    pd.testing.assert_series_equal(sharded.recall_given_buy, whole.recall_given_buy)
    assert all(sharded.selected[s].equals(whole.selected[s]) for s in whole.selected)
