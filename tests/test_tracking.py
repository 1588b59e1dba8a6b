import pandas as pd
import pytest

from recsys.tracking import (
    DEFAULT_TRACKING_URI,
    TrackingUnavailableError,
    fail_flow_run,
    plot_bars,
    resolve_tracking_uri,
    start_flow_run,
)


def test_tracking_uri_precedence(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri("") == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert resolve_tracking_uri("") == "http://tracking:5000"
    assert resolve_tracking_uri("sqlite:///other.db") == "sqlite:///other.db"


def test_plot_is_a_png(tmp_path):
    path = plot_bars(pd.Series({"a": 1.0, "b": 3.0}), "title", "x", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_opens_running_and_fails_with_the_error(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = start_flow_run(tracking_uri=uri, experiment="t", run_name="r", tags={"a": "b"}, params={"k": 25})
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.params == {"k": "25"} and run.data.tags["a"] == "b"
    fail_flow_run(tracking_uri=uri, run_id=run_id, error="RecsysFlow/1/final/7: boom")
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "RecsysFlow/1/final/7: boom"


def test_an_unreachable_tracking_server_is_reported_with_its_uri():
    import socket

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(TrackingUnavailableError, match=f"MLflow tracking at '{uri}' is unavailable"):
        start_flow_run(tracking_uri=uri, experiment="t", run_name="r", tags={}, params={})
