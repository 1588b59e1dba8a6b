"""The packaged recommender: same lists as the flow's path, clear refusals, the pyfunc model and the HTTP server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import training
from recsys.model import rank_final
from recsys.reranker import TrialParams
from recsys.schema import DEFAULT_K
from recsys.server import wait_until_ready
from recsys.serving import (
    FROM_FALLBACK,
    FROM_MODEL,
    MAX_K,
    MAX_USERS_PER_REQUEST,
    OUTPUT_COLUMNS,
    Recommender,
    RequestError,
    json_safe,
    request_user_ids,
)
from recsys.split import make_cuts
from recsys.submission import final_submission

K, TOP_USERS, CANDIDATES = 10, 60, 30


@pytest.fixture(scope="module")
def trained(tiny_dataset):
    """The run's model, trained in one process (``TwoStageModel.fit``, the flow's own pieces), and the submission
    the flow's final step writes with it from the final cut's table."""
    from recsys.model import TwoStageModel
    from recsys.settings import RunSettings

    ds = tiny_dataset
    settings = RunSettings(
        top_users=TOP_USERS, k=K, candidates=CANDIDATES, pool_size=300, train_cuts=1, buyer_cuts=4, valid_windows=1
    )
    model = TwoStageModel.fit(ds, settings, TrialParams(depth=4, iterations=30, train_cuts=1))
    cuts, _ = training.run_cuts(ds, settings)
    pool = training.user_pools(ds, {"final": cuts["final"]}, settings.pool, {"final": model.buyer_model})["final"]
    data = training.shard_data(ds, cuts["final"], pool, model.candidates(pool))
    ranking = rank_final(model.stage, [data.table], data.inputs, K, TOP_USERS)
    final = final_submission(ds.catalog, model.parts, ranking, K, TOP_USERS)
    return ds, final, Recommender.from_catalog(ds.catalog, model, pool, K, TOP_USERS)


def lists_of(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {u: g.sort_values("rank")["product_id"].tolist() for u, g in frame.groupby("user_id")}


def test_rebuilds_the_flow_submission(trained):
    _, final, rec = trained
    pd.testing.assert_frame_equal(rec.submission(), final.submission)


def test_recommendations_equal_the_submission_lists(trained):
    _, final, rec = trained
    users = final.submission["user_id"].tolist()[:15]
    out = rec.recommend(users, K)
    assert list(out.columns) == OUTPUT_COLUMNS
    expected = dict(zip(final.submission["user_id"], final.submission["products"], strict=True))
    assert lists_of(out) == {u: expected[u] for u in users}
    assert out["p_buy"].between(0, 1).all() and (out.groupby("user_id")["rank"].max() == K).all()


def test_unknown_user_gets_a_marked_popularity_fallback(trained):
    ds, _, rec = trained
    known = ds.users["user_id"].iloc[0]
    out = rec.recommend(["never-seen", known], 5)
    unknown = out[out["user_id"] == "never-seen"]
    assert len(unknown) == 5 and (unknown["source"] == FROM_FALLBACK).all()
    assert unknown["p_buy"].isna().all() and unknown["score"].isna().all()
    assert unknown["product_id"].tolist() == list(rec.product_ids[rec.model.padding[:5]])
    assert (out[out["user_id"] == known]["source"] != FROM_FALLBACK).all()


def test_scores_are_descending_probabilities(trained):
    _, final, rec = trained
    out = rec.recommend(final.submission["user_id"].tolist()[:5], K)
    model_rows = out[out["source"] == FROM_MODEL]
    assert model_rows["score"].between(0, 1).all()
    for _, group in model_rows.groupby("user_id"):
        assert group["score"].is_monotonic_decreasing


def test_save_and_load_keep_the_answers(trained, tmp_path):
    _, final, rec = trained
    users = final.submission["user_id"].tolist()[:5] + ["never-seen"]
    again = Recommender.load(rec.save(tmp_path / "rec.pkl"))
    pd.testing.assert_frame_equal(again.recommend(users, 7), rec.recommend(users, 7))


def test_answers_do_not_depend_on_the_batch(trained):
    """A user's list is the same alone or among others (features are per user, items precomputed)."""
    _, final, rec = trained
    users = final.submission["user_id"].tolist()[:8]
    together = lists_of(rec.recommend(users, K))
    assert all(lists_of(rec.recommend([u], K))[u] == together[u] for u in users[:3])


@pytest.mark.parametrize(
    ("model_input", "k", "message"),
    [
        ("u1", None, "must be a list"),
        ({"user_id": "u1"}, None, "must be a list"),
        ({"uid": ["u1"]}, None, "exactly one field 'user_id'"),
        (pd.DataFrame({"uid": ["u1"]}), None, "exactly one column 'user_id'"),
        ({"user_id": [None]}, None, "non-empty strings"),
        ({"user_id": [5]}, None, "non-empty strings"),
        ({"user_id": [""]}, None, "non-empty strings"),
        ({"user_id": [["a"]]}, None, "must be a list"),
        ([f"u{i}" for i in range(MAX_USERS_PER_REQUEST + 1)], None, "the limit is"),
        (["u1"], 0, "between 1 and"),
        (["u1"], MAX_K + 1, "between 1 and"),
        (["u1"], "5", "between 1 and"),
        (["u1"], True, "between 1 and"),
        (["x" * 201], None, "longer than 200 characters"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(trained, model_input, k, message):
    _, _, rec = trained
    with pytest.raises(RequestError, match=message):
        rec.recommend(request_user_ids(model_input), k)


def test_accepted_request_shapes(trained):
    assert request_user_ids({"user_id": np.array(["a", "b"])}) == ["a", "b"]
    assert request_user_ids(np.array(["a"])) == ["a"]
    assert request_user_ids(pd.DataFrame({"user_id": ["a"]})) == ["a"]
    assert trained[2].recommend([], 3).empty


def test_refresh_on_the_same_log_reproduces_the_submission(trained):
    """Refitting every candidate source on the same log gives back the same state (fits are deterministic)."""
    ds, final, rec = trained
    pd.testing.assert_frame_equal(rec.refresh(ds).submission(), final.submission)


def test_refresh_on_another_log_predicts_from_its_end(trained):
    import dataclasses

    from recsys.split import history
    from recsys.submission import validate_submission

    ds, final, rec = trained
    valid = make_cuts(ds.end)["valid"]
    shorter = dataclasses.replace(ds, interactions=history(ds.interactions, valid))
    again = rec.refresh(shorter)
    assert again.now == valid.at and again.model.history["ts"].max() < valid.at
    assert again.model.reranker is rec.model.reranker and again.model.buyer_model is rec.model.buyer_model
    sub = again.submission()
    validate_submission(sub, ds.items["product_id"], K, TOP_USERS)
    assert not sub.equals(final.submission)


# -- MLflow: the logged pyfunc model and the scoring server -----------------------------------------------------


def a_standing(recall: float, **kw):
    """A run's standing for the champion gate: one window whose two buyers both got ``recall``."""
    from recsys.promotion import Standing

    fields = {"lineage": "test", "fingerprint": "f1", "synthetic": True} | kw
    recalls = {"2026-01-01T00:00:00": pd.Series([recall, recall], index=[0, 1])}
    return Standing(**fields, recall=recall, baseline=recall / 2, lift=(recall / 2, 0.001), buyer_recalls=recalls)


def log_run(uri: str, rec, standing, promote: str = "if-better", submission=None) -> dict:
    """One flow run's logging, the way the ``track`` step does it."""
    from recsys.tracking import RunLog, RunReport, log_flow_run, start_flow_run

    run_id = start_flow_run(tracking_uri=uri, experiment="test", run_name="t", tags={}, params={"k": K})
    report = RunReport({"strategy": "expected_recall"}, {"valid.recall": standing.recall}, {}, {}, None)
    with tempfile.TemporaryDirectory() as tmp:
        saved = rec.saved(Path(tmp) / "recommender.pkl")
        record = RunLog(report, submission, saved, "test-recommender", standing, promote=promote)
        return log_flow_run(uri, run_id, {"metaflow_run_id": "1"}, record)


@pytest.fixture(scope="module")
def logged(trained, tmp_path_factory):
    """The recommender logged and registered the way the flow's ``track`` step does it."""
    from mlflow import MlflowClient

    _, final, rec = trained
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    # artifacts beside the database, not in ./mlruns of the working directory
    MlflowClient(uri).create_experiment("test", artifact_location=(tmp / "artifacts").as_uri())
    return uri, log_run(uri, rec, a_standing(0.1), submission=final.submission)


@pytest.mark.slow
def test_every_logged_run_registers_a_version_and_the_champion_moves_only_when_better(trained, logged, tmp_path):
    from mlflow import MlflowClient

    _, _, rec = trained
    uri, first = logged
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(first["run_id"])
    assert run.info.status == "FINISHED" and run.data.metrics["valid.recall"] == 0.1
    assert run.data.params["strategy"] == "expected_recall" and run.data.tags["metaflow_run_id"] == "1"
    assert {a.path for a in client.list_artifacts(first["run_id"], "outputs")} == {"outputs/submission.csv"}
    assert {"reranker", "recommender"} <= {m.name for m in client.search_logged_models([run.info.experiment_id])}
    assert first["aliases"] == ["champion-test", "champion"] and run.data.tags["promotion.rule"] == "first"

    def holder(alias: str = "champion") -> str:
        return str(client.get_model_version_by_alias("test-recommender", alias).version)

    worse = log_run(uri, rec, a_standing(0.05))  # same data, lower: registered, champions stay
    assert (worse["model_version"], worse["aliases"], holder(), holder("champion-test")) == ("2", [], "1", "1")
    tags = client.get_run(worse["run_id"]).data.tags
    assert (tags["promotion.decision"], tags["promotion.rule"]) == ("kept", "same data")
    version = client.get_model_version("test-recommender", "2")
    assert version.tags["lineage"] == "test" and version.tags["data_fingerprint"] == "f1"
    real = log_run(uri, rec, a_standing(0.08, lineage="shop", synthetic=False))  # real data: its own champion
    assert real["aliases"] == ["champion-shop", "champion"] and holder("champion-test") == "1"
    better = log_run(uri, rec, a_standing(0.2))  # better synthetic: its lineage's champion, not the server's
    assert better["aliases"] == ["champion-test"] and holder() == "3" and holder("champion-test") == "4"
    assert "stays on version 3 of lineage shop" in " ".join(better["promotion"])
    forced = log_run(uri, rec, a_standing(0.01), promote="always")
    assert holder() == holder("champion-test") == forced["model_version"] == "5"


@pytest.mark.slow
def test_a_version_without_a_standing_stands_as_unknown_lineage(logged):
    """Versions registered before standings were recorded: any lineage may take the serving alias from them."""
    import mlflow
    from mlflow import MlflowClient

    from recsys.tracking import champion_standing

    uri, _ = logged
    client = MlflowClient(tracking_uri=uri)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=client.get_experiment_by_name("test").experiment_id) as run:
        pass
    old = client.create_model_version("test-recommender", f"runs:/{run.info.run_id}/none", run.info.run_id)
    client.set_registered_model_alias("test-recommender", "champion-old", old.version)
    standing = champion_standing(client, "test-recommender", "champion-old")
    assert (standing.lineage, standing.synthetic, standing.version) == ("unknown", True, str(old.version))
    assert champion_standing(client, "test-recommender", "champion-nobody") is None


@pytest.mark.slow
def test_pyfunc_model_answers_like_the_recommender(trained, logged):
    import mlflow
    from mlflow.exceptions import MlflowException

    _, final, rec = trained
    uri, info = logged
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/test-recommender@champion")
    users = final.submission["user_id"].tolist()[:5] + ["never-seen"]
    out = model.predict(pd.DataFrame({"user_id": users}), params={"k": 6})
    pd.testing.assert_frame_equal(out, json_safe(rec.recommend(users, 6)))
    assert out.loc[out["user_id"] == "never-seen", "score"].map(lambda v: v is None).all()  # null in JSON
    with pytest.raises(MlflowException, match="between 1 and") as err:
        model.predict({"user_id": ["x"]}, params={"k": 0})
    assert err.value.get_http_status_code() == 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strict_json(text):
    """JSON as a strict parser reads it: a bare NaN or Infinity is an error."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def post_raw(port: int, body, headers: dict | None = None) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post(port: int, body, headers: dict | None = None) -> tuple[int, dict]:
    status, raw = post_raw(port, body, headers)
    return status, strict_json(raw)


@pytest.fixture(scope="module", params=["recsys", "mlflow"])
def server(request, logged, tmp_path_factory):
    """The registered model served on a free loopback port, by ``python -m recsys serve`` (the hardened server)
    and by ``mlflow models serve --env-manager local``: both must answer the same."""
    uri, _ = logged
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    if request.param == "recsys":
        cmd = [sys.executable, "-m", "recsys", "serve", "--model", "models:/test-recommender@champion"]
        cmd += ["--tracking-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", "models:/test-recommender@champion"]
        cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the server did not answer /ping:\n{log.read_text()[-3000:]}")
        yield port if request.param == "mlflow" else HardenedPort(port, proc.pid, log)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


class HardenedPort(int):
    """The port of the hardened server, its process id (for the load test's memory check) and its log."""

    def __new__(cls, port: int, pid: int, log: Path):
        obj = super().__new__(cls, port)
        obj.pid, obj.log = pid, log
        return obj


@pytest.mark.slow
def test_server_answers_with_the_submission_lists(trained, server):
    _, final, _ = trained
    users = final.submission["user_id"].tolist()[:10]
    status, body = post(server, {"inputs": {"user_id": [*users, "never-seen"]}, "params": {"k": K}})
    assert status == 200
    out = pd.DataFrame(body["predictions"])
    expected = dict(zip(final.submission["user_id"], final.submission["products"], strict=True))
    got = lists_of(out)
    assert {u: got[u] for u in users} == {u: expected[u] for u in users}
    unknown = out[out["user_id"] == "never-seen"]
    assert set(unknown["source"]) == {FROM_FALLBACK}
    assert unknown["score"].isna().all() and unknown["p_buy"].isna().all()  # JSON null, read strictly
    status, body = post(server, {"dataframe_split": {"columns": ["user_id"], "data": [[users[0]]]}})
    assert status == 200 and len(body["predictions"]) == DEFAULT_K  # the signature's default k


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": {"uid": ["x"]}}, "exactly one field 'user_id'"),
        ({"inputs": {"user_id": "x"}}, "must be a list"),
        ({"inputs": {"user_id": [None, 5]}}, "non-empty strings"),
        ({"inputs": {"user_id": ["x"]}, "params": {"k": 1000}}, "between 1 and"),
        ({"inputs": {"user_id": [f"u{i}" for i in range(MAX_USERS_PER_REQUEST + 1)]}}, "the limit is"),
        ({"users": ["x"]}, "input fields"),
        ('{"inputs": ', "valid JSON"),
    ],
)
def test_server_refuses_malformed_requests_with_a_400(server, body, message):
    status, answer = post(server, body)
    assert status == 400, answer
    assert message in answer["message"]
    assert "stack_trace" not in answer and "Traceback" not in answer["message"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"inputs": {"user_id": ["x"]}, "params": {"kk": 5}}, 400, "unknown parameter(s) ['kk']; accepted: ['k']"),
        ({"inputs": {"user_id": ["x"]}, "params": [5]}, 400, "'params' must be an object"),
        ({"inputs": {"user_id": ["x" * 5_000_000]}}, 400, "the limit is 2,000,000 bytes"),
        ({"inputs": {"user_id": ["x" * 300]}}, 400, "longer than 200 characters"),
    ],
)
@pytest.mark.parametrize("server", ["recsys"], indirect=True)  # limits of the hardened server only
def test_hardened_server_limits(server, body, status, message):
    assert isinstance(server, HardenedPort)
    got, answer = post(server, body)
    assert got == status and message in answer["message"], answer


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        {"inputs": {"user_id": ["x" * 1_000_000]}},  # one 1 MB id, under the body limit
        {"inputs": {"user_id": ["ok", None, "y" * 5_000]}},
        {"inputs": {"user_id": "z" * 100_000}},
        {"inputs": {"uid" + "w" * 10_000: ["x"]}},
        {"inputs": {"user_id": ["x"]}, "params": {"k": "q" * 10_000}},
        {"inputs": {"user_id": ["x"]}, "params": {"k" + "p" * 10_000: 1}},
        {"dataframe_split": {"columns": ["v" * 10_000], "data": [["x"]]}},
        {"users" + "u" * 10_000: ["x"]},
        '{"inputs": "' + "t" * 50_000,
    ],
    ids=["long-id", "null-id", "string", "field", "k", "param", "column", "top-field", "not-json"],
)
@pytest.mark.parametrize("server", ["recsys"], indirect=True)
def test_hardened_server_errors_are_brief_json_and_never_echo_the_input(server, body):
    status, raw = post_raw(server, body)
    assert status == 400 and len(raw) <= 1024, raw[:300]
    answer = strict_json(raw)
    assert set(answer) == {"error_code", "message"} and answer["message"]
    assert not re.search(r"(.)\1{20}", answer["message"]), answer  # no run of the input's repeated character
    assert "array(" not in answer["message"] and "Traceback" not in answer["message"]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["recsys"], indirect=True)
def test_hardened_server_answers_an_unsupported_body_type_in_json(server):
    status, raw = post_raw(server, "user_id\nx", {"Content-Type": "text/plain"})
    assert status == 415 and strict_json(raw)["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/json" in strict_json(raw)["message"]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["recsys"], indirect=True)
def test_hardened_server_logs_one_line_per_request(trained, server):
    _, final, _ = trained
    users = final.submission["user_id"].tolist()[:3]
    before = server.log.read_text().count("recsys.server POST /invocations")
    assert post(server, {"inputs": {"user_id": users}})[0] == 200
    assert post(server, {"inputs": {"user_id": ["x"]}, "params": {"kk": 1}})[0] == 400
    for _ in range(50):  # the line is written after the reply is sent
        lines = [line for line in server.log.read_text().splitlines() if "recsys.server POST /invocations" in line]
        if len(lines) >= before + 2:
            break
        time.sleep(0.1)
    assert len(lines) == before + 2
    assert re.search(r"POST /invocations 200 users=3 [0-9.]+ ms$", lines[-2]), lines[-2]
    assert re.search(r"POST /invocations 400 users=1 [0-9.]+ ms$", lines[-1]), lines[-1]


@pytest.mark.slow
def test_hardened_server_stops_cleanly_on_sigterm(logged, tmp_path):
    uri, _ = logged
    port, log = free_port(), tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "recsys", "serve", "--model", "models:/test-recommender@champion"]
    cmd += ["--tracking-uri", uri, "--port", str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, stdout=out, stderr=out)
    try:
        wait_until_ready(proc, port, log, timeout_s=120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        proc.kill()
    assert f"server on 127.0.0.1:{port} stopped on SIGTERM" in log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("server", ["recsys"], indirect=True)
def test_hardened_server_refuses_a_body_without_length(server):
    assert isinstance(server, HardenedPort)
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", int(server), timeout=30)
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    body = b'{"inputs": {"user_id": ["x"]}}'
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    response = conn.getresponse()
    assert response.status == 411 and "Content-Length" in strict_json(response.read())["message"]


@pytest.mark.slow
def test_batch_command_writes_the_flow_submission(trained, logged, tmp_path, capsys):
    from recsys.cli import main
    from recsys.submission import read_submission

    _, final, _ = trained
    uri, _ = logged
    out = tmp_path / "batch.csv"
    code = main(["batch", "--model", "models:/test-recommender@champion", "--tracking-uri", uri, "--output", str(out)])
    assert code == 0
    pd.testing.assert_frame_equal(read_submission(out), read_submission_frame(final.submission, tmp_path))
    user = final.submission["user_id"].iloc[0]
    code = main(
        [
            "recommend",
            user,
            "never-seen",
            "--model",
            "models:/test-recommender@champion",
            "--tracking-uri",
            uri,
            "--k",
            "3",
            "--json",
        ]
    )  # noqa: E501
    assert code == 0
    printed = pd.DataFrame(json.loads(capsys.readouterr().out.split("\n", 1)[1]))
    assert printed.groupby("user_id").size().to_dict() == {user: 3, "never-seen": 3}


def read_submission_frame(frame: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    from recsys.submission import read_submission, write_submission

    return read_submission(write_submission(frame, tmp_path / "expected.csv"))


def test_commands_report_a_missing_model(tmp_path, capsys):
    from recsys.cli import main

    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["recommend", "u1", "--model", "models:/nothing@champion", "--tracking-uri", uri]) == 2
    assert "nothing" in capsys.readouterr().err
