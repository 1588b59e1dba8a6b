"""The two-stage model object: fitted in one process, it recommends for any users with the flow's own recipe."""

import numpy as np
import pandas as pd
import pytest

from recsys.candidates import SOURCES, candidates_of
from recsys.model import TwoStageModel, cut_data, predict
from recsys.reranker import TrialParams
from recsys.schema import Columns as C
from recsys.split import make_cuts

K = 10


@pytest.fixture(scope="module")
def model(tiny_dataset):
    params = TrialParams("Logloss", depth=3, iterations=40)
    return TwoStageModel.fit(tiny_dataset, params=params, n_candidates=20, pool_size=300, buyer_cuts=1)


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
    data = cut_data(ds, cut, pool, cands)
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
            sources=model.sources, recipe=model.recipe, reranker=model.reranker, buyer_model=model.buyer_model,
            strategy="magic", history=model.history, n_candidates=5, padding=model.padding,
        )  # fmt: skip
