import pandas as pd
import pytest

from recsys.reranker import TrialParams, fit_reranker
from recsys.tracking import DEFAULT_TRACKING_URI, log_flow_run, plot_bars, resolve_tracking_uri
from tests.test_reranker import synthetic_table


def test_tracking_uri_precedence(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri("") == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert resolve_tracking_uri("") == "http://tracking:5000"
    assert resolve_tracking_uri("sqlite:///other.db") == "sqlite:///other.db"


def test_plot_is_a_png(tmp_path):
    path = plot_bars(pd.Series({"a": 1.0, "b": 3.0}), "title", "x", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_each_run_registers_a_version_and_moves_the_champion(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    table = synthetic_table()
    model = fit_reranker(table, TrialParams(depth=2, iterations=5), threads=1)
    submission = tmp_path / "submission.csv"
    submission.write_text("user_id,products\n")
    common = dict(
        tracking_uri=uri,
        experiment="test",
        params={"k": 25},
        tables={"trials": pd.DataFrame({"recall": [0.1]})},
        plots={"importance": pd.Series({"signal": 1.0})},
        files=[submission],
        model=model,
        model_name="test-reranker",
    )
    first = log_flow_run(run_name="one", tags={"metaflow_run_id": "1"}, metrics={"valid.recall": 0.1}, **common)
    second = log_flow_run(run_name="two", tags={"metaflow_run_id": "2"}, metrics={"valid.recall": 0.2}, **common)
    assert (first["model_version"], second["model_version"]) == ("1", "2")
    client = MlflowClient(tracking_uri=uri)
    champion = client.get_model_version_by_alias("test-reranker", "champion")
    assert str(champion.version) == "2" and champion.run_id == second["run_id"]
    run = client.get_run(second["run_id"])
    assert run.data.metrics["valid.recall"] == 0.2 and run.data.tags["metaflow_run_id"] == "2"
    assert {a.path for a in client.list_artifacts(second["run_id"], "outputs")} == {"outputs/submission.csv"}
