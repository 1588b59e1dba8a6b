"""Shared by the report tests: a run summary (``report.summarize`` of the tiny dataset and hand-made results) and
the helpers that build its parts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys import hypotheses, records, report, trials, validation
from recsys.buyers import STRATEGIES
from recsys.reranker import TrialParams
from recsys.schema import Columns as C
from recsys.split import make_cuts

PNG = b"\x89PNG\r\n\x1a\n"
DIAG = {"recall": 0.2, "buyers": 40, "selected": 50, "selected_buyers": 20, "buyers_captured": 0.5}
DIAG.update({"selected_precision": 0.4, "recall_selected": 0.4, "recall_se": 0.01, "ceiling": 0.45})


def selection_scores(n_users: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({s: rng.random(n_users) for s in STRATEGIES}, index=pd.Index(np.arange(n_users) * 3))
    frame["p_buy"] = frame["p_buy"].round(1)  # ties, broken by user code as in select_users
    frame["bought"] = (rng.random(n_users) < 0.1).astype(np.int8)
    return frame


@pytest.fixture(scope="module")
def run_data(tiny_dataset):
    """A run's artifacts as the end step sees them (hand-made results on the tiny dataset) and its graph."""
    ds = tiny_dataset
    cuts = make_cuts(ds.end, n_train=1, n_valid=2)
    params = [TrialParams("YetiRank", depth=4), TrialParams("Logloss", depth=4)]
    results = {s: {**DIAG, "recall": 0.2 + 0.01 * i} for i, s in enumerate(STRATEGIES)}
    alone = {"history": {**DIAG, "recall": 0.15}, "als": {**DIAG, "recall": 0.1}}
    removed = {"history": {**DIAG, "recall": 0.12}, "als": {**DIAG, "recall": 0.19}}
    baselines = {"organisers": {**DIAG, "recall": 0.05}, "history_popularity": {**DIAG, "recall": 0.08}}
    graph = {
        "steps": {
            "start": {"next": ["a", "b"], "type": "split-static", "doc": "load"},
            "a": {"next": ["join"], "type": "linear", "doc": "branch a"},
            "b": {"next": ["join"], "type": "linear", "doc": "branch b"},
            "join": {"next": ["trial"], "type": "split-foreach", "doc": "join"},
            "trial": {"next": ["end"], "type": "join", "doc": "one trial"},
            "end": {"next": [], "type": "end", "doc": "summary"},
        }
    }
    data = SimpleNamespace(
        data_facts=report.summaries.data_facts(ds),
        resolved_data_dir="data/synthetic/tiny-seed0",
        top_users=50,
        k=10,
        cuts=cuts,
        pools={name: np.arange(100) for name in cuts},
        best_strategy="p_buy",
        best_params=params[0],
        valid_recall=results["p_buy"]["recall"],
        valid_results=results,
        baseline_results=baselines,
        source_metrics={
            "history.valid.recall_at_25": 0.3,
            "history.valid.recall_at_100": 0.4,
            "als.train.recall_at_25": 0.2,
            "als.valid.recall_at_25": 0.2,
            "als.valid.recall_at_100": 0.35,
        },
        trial_table=trials.trial_table(
            [
                trials.TrialOutcome(i, t, 30, validation.Validation(results, {"valid": results}, {}, None))
                for i, t in enumerate(params)
            ]
        ),
        valid_by_window={"valid": results, "valid2": results},
        hypotheses=hypotheses.hypothesis_table(
            results, "p_buy", baselines, alone, removed, {"recall": 0.15, "recall_se": 0.01}
        ),
        feature_importance=pd.Series([3.0, 2.0, 1.0], index=["ui_order", "u_view_all", "i_price"]),
        test_results={"recall": 0.21, "buyers": 40},
        mlflow={"run_id": "abc", "model_version": "3", "experiment": "x"},
        selection_scores=selection_scores(100),
        # what the report does not show but a run's records hold
        data_dir="",
        seed=0,
        trials_n=2,
        grid="{}",
        buyer_cuts=4,
        valid_windows=2,
        pool_size=100,
        candidates=30,
        stitch_identities=False,
        model_name="stokman-recommender",
        promote="if-better",
        output="submission.csv",
        data_lineage="synthetic-tiny-seed0",
        data_fingerprint="f0",
        mlflow_uri="sqlite:///mlflow.db",
        mlflow_run_id="abc",
        catalog=ds.catalog,
        n_train_cuts=1,
        submission=pd.DataFrame({"user_id": ["u1"], "product_id": ["p1 p2"]}),
        output_path="submission.csv",
        final_table_head=None,
    )
    return data, graph


@pytest.fixture(scope="module")
def summary(run_data):
    data, graph = run_data
    return report.summarize(records.read(data), "42", graph)


def _recalls(rows: dict[str, pd.Series]) -> pd.DataFrame:
    """A run's ``buyer_recalls`` table: each row's recall per buyer, the same on windows valid and valid2."""
    return pd.concat(
        pd.DataFrame({"row": r, "window": w, C.USER: v.index, "recall": v.to_numpy()})
        for r, v in rows.items()
        for w in ("valid", "valid2")
    )
