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


PARAMS = TrialParams("Logloss", depth=3, iterations=40, train_cuts=2)
SETTINGS = RunSettings(top_users=100, candidates=20, pool_size=300, train_cuts=2, buyer_cuts=1, valid_windows=1)


@pytest.fixture(scope="module")
def model(tiny_dataset):
    return TwoStageModel.fit(tiny_dataset, SETTINGS, PARAMS)


def flow_steps_model(ds, settings, params, strategy="expected_recall"):
    """The model as the flow's steps build it, without Metaflow: the cuts, the buyer inputs per group of one daily
    cut (``buyer_days``) and the buyer models (``buyer_model``), the pools and each branch per group of one cut
    (``fit_cuts`` and the branches), the groups joined (``join_branches``, ``join_candidates``), the tables shard by
    shard (``build_table``, shards of 70 users), and the reranker on the final model's cuts with the parts assembled
    as ``final`` and ``track`` do."""
    from recsys import shards, training
    from recsys.candidates import branches
    from recsys.model import ModelParts

    cuts, _ = training.run_cuts(ds, settings)
    daily = training.buyer_cuts(ds, cuts, settings)
    plan = training.buyer_plan(ds, daily, 1)
    assert all(len(group) == 1 for group in plan)
    inputs = {at: i for group in plan[::-1] for at, i in training.daily_inputs(ds, group, settings.pool).items()}
    buyer = training.learn_buyer_models(daily, inputs, settings.seed)
    groups = [{n: cuts[n] for n in g} for g in training.fit_groups(training.history_rows(ds, cuts), 1)]
    group_pools = [training.user_pools(ds, g, settings.pool, buyer.models) for g in groups]
    pools = training.join_cuts(group_pools[::-1], cuts)
    assert list(pools) == list(cuts)
    joined = [
        training.join_branches([training.branch_candidates(b, ds, g, p, settings) for b in branches()])
        for g, p in zip(groups, group_pools, strict=True)
    ]
    by_cut = {cut: c for j in joined for cut, c in j.by_cut().items()}
    sources = dict(sorted((s, src) for j in joined for s, src in j.final_sources.items()))
    plan = shards.plan(pools, 70)
    learnt = training.final_cuts(cuts, params)
    rows = []
    for name in learnt:
        parts = [
            training.shard_data(ds, cuts[name], s.users(pools[name]), by_cut[name])
            for s in shards.shards_of(plan, name)
        ]
        rows.append(shards.concat_tables([p.rows for p in parts]))
    stage = SecondStage.learn(params, rows, buyer.models["final"], strategy, settings.seed)
    return TwoStageModel.from_parts(ModelParts.at_cut(ds, cuts["final"], stage, settings.candidates), sources)


def test_the_flows_steps_compose_the_model_fit_trains(model, tiny_dataset):
    """One composition: the pieces the flow's steps call, in their order and in groups and shards, give the model
    ``TwoStageModel.fit`` trains in one process (the same reranker trees, sources and lists)."""
    stepped = flow_steps_model(tiny_dataset, SETTINGS, PARAMS)
    assert list(stepped.sources) == list(model.sources)
    assert stepped.reranker.best_iteration_ == model.reranker.best_iteration_
    users = np.sort(tiny_dataset.interactions[C.USER].unique())[:150]
    assert stepped.recommend(users, K) == model.recommend(users, K)


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
