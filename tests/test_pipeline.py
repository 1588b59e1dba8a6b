"""The flow's glue: the ``track`` step saves the run's recommender and lets the model go before MLflow reloads it."""

import gc
import weakref
from types import SimpleNamespace

import numpy as np

from recsys.pipeline import saved_recommender
from recsys.reranker import TrialParams
from recsys.serving import Recommender
from recsys.settings import RunSettings


def test_the_saved_recommender_is_the_model_and_the_model_is_let_go(tiny_dataset, tmp_path):
    from recsys.model import TwoStageModel

    settings = RunSettings(top_users=50, candidates=20, pool_size=200, train_cuts=1, buyer_cuts=1, valid_windows=1)
    built = []

    def model_of():
        model = TwoStageModel.fit(tiny_dataset, settings, TrialParams("Logloss", depth=3, iterations=20, train_cuts=1))
        built.append(weakref.ref(model))
        return model

    pool = np.arange(0, 120)
    run = SimpleNamespace(
        start=SimpleNamespace(catalog=tiny_dataset.catalog),
        candidates=SimpleNamespace(pools={"final": pool}),
        params=SimpleNamespace(k=5, top_users=30),
    )
    saved = saved_recommender(run, model_of, tmp_path)
    gc.collect()
    assert len(built) == 1 and built[0]() is None  # nothing holds the model once its file is written
    again = Recommender.load(saved.path)
    assert saved.reranker.model_ is not None and again.model.reranker.model_ is not None
    users, params = saved.example
    assert params == {"k": 3} and users["user_id"].iloc[0] == str(tiny_dataset.catalog.user_ids[pool[0]])
    assert again.model.recommend(pool, 5, top_users=30)  # the file is a working recommender
