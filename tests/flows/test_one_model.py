"""One model, trained by the flow in user shards: a run with many shards per cut is the run with one, to the bit,
and the model the run registers is what ``TwoStageModel.fit`` trains in one process with the same pieces."""

import numpy as np
import pandas as pd
import pytest

from tests.flows.runner import TOP_USERS, K, run_flow

pytestmark = pytest.mark.slow


def test_a_run_in_user_shards_is_the_run_in_one_to_the_bit(clean_run, tmp_path):
    clean_dir, clean = clean_run
    result = run_flow(tmp_path, shard_size=70)  # the tiny pools (300 users) in 5 shards per cut
    assert result.status == "successful", result.stderr[-3000:]
    assert len(list(result.run["build_table"])) > len(list(clean["build_table"]))
    assert (tmp_path / "submission.csv").read_bytes() == (clean_dir / "submission.csv").read_bytes()
    a, b = clean["end"].task.data, result.run["end"].task.data
    assert a.valid_recall == b.valid_recall and a.test_results == b.test_results
    pd.testing.assert_frame_equal(a.trial_table, b.trial_table)
    pd.testing.assert_frame_equal(a.hypotheses, b.hypotheses)
    pd.testing.assert_frame_equal(a.buyer_recalls, b.buyer_recalls)
    pd.testing.assert_frame_equal(a.selection_scores, b.selection_scores)


def test_the_registered_model_is_what_two_stage_model_fit_trains(clean_run):
    from recsys.model import TwoStageModel
    from recsys.pipeline import served_model
    from recsys.shards import ArtifactReader

    _, run = clean_run
    data = run["end"].task.data
    pool = np.asarray(data.pools["final"])
    again = TwoStageModel.fit(data.ds, data.settings, data.best_params, data.best_strategy)
    final = run["final"].task.data
    submitted = served_model(ArtifactReader(final, final.shard_plan))  # what wrote the submission, then registered
    assert again.recommend(pool, K, TOP_USERS) == submitted.recommend(pool, K, TOP_USERS)
    raw = data.ds.raw_recs(again.recommend(pool, K, TOP_USERS))
    assert list(raw.items()) == list(zip(data.submission["user_id"], data.submission["products"], strict=True))
