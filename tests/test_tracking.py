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


def test_the_registered_model_says_what_each_champion_is(tmp_path):
    """Tags on the registered model (not only on its versions): the lineage, data and validation recall of its
    lineage's champion and of the serving champion, kept when a worse version is registered."""
    from types import SimpleNamespace

    import mlflow
    from mlflow import MlflowClient

    from recsys.promotion import STANDING_FILE, Standing
    from recsys.tracking import _promote

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    client.create_registered_model("m")
    mlflow.set_tracking_uri(uri)

    def register(recall: float, **kw) -> str:
        fields = {"lineage": "test", "fingerprint": "f1", "synthetic": True} | kw
        recalls = {"2026-01-01T00:00:00": pd.Series([recall, recall], index=[0, 1])}
        standing = Standing(**fields, recall=recall, baseline=recall / 2, lift=(recall / 2, 0.001),
                            buyer_recalls=recalls)  # fmt: skip
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_dict(standing.to_json(), STANDING_FILE)
        version = client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id).version
        _promote(client, SimpleNamespace(standing=standing, model_name="m", promote="if-better"), str(version))
        return str(version)

    def tags() -> dict:
        return client.get_registered_model("m").tags

    register(0.1)
    assert tags() == {
        **{f"champion-test.{k}": v for k, v in (("version", "1"), ("lineage", "test"), ("data_fingerprint", "f1"))},
        **{f"champion.{k}": v for k, v in (("version", "1"), ("lineage", "test"), ("data_fingerprint", "f1"))},
        "champion-test.valid_recall": "0.100000",
        "champion.valid_recall": "0.100000",
    }
    register(0.05)  # same data, worse: registered, the champions and their tags stay
    assert tags()["champion-test.version"] == tags()["champion.version"] == "1"
    register(0.08, lineage="shop", fingerprint="f2", synthetic=False)  # real data takes the serving alias
    assert (tags()["champion.version"], tags()["champion.lineage"], tags()["champion.valid_recall"]) == (
        "3",
        "shop",
        "0.080000",
    )
    assert tags()["champion-shop.data_fingerprint"] == "f2" and tags()["champion-test.version"] == "1"
