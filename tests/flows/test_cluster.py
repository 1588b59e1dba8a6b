"""The cluster path, on loopback: the flow on an S3 datastore (moto's standalone server stands in for S3) with a
killed task and ``resume``, tracked on a team's MLflow server (a real PostgreSQL backend store, artifacts on the
same S3), the registered champion served from that server, and the flow compiled for Argo Workflows.

What a real cluster adds and these tests cannot reach (Kubernetes scheduling, AWS itself) is listed in
docs/cluster.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from recsys.submission import validate_submission
from tests.flows.runner import FLOW, TOP_USERS, K, flow_command, run_flow

pytestmark = pytest.mark.slow

MODEL = "stokman-recommender"
BRANCHES = ("history", "covisit", "als", "faiss", "popularity")
#: The foreach steps and the step that fans out into each.
FAN_OUTS = {
    "buyer-days": "start",
    "build-table": "plan-tables",
    "train-trial": "prepare-trials",
    "train-more": "propose",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """S3, PostgreSQL and an MLflow server on loopback (``tools/local_stack.py``), for the whole module."""
    from tools.local_stack import Stack, StackError, postgres_bindir, require

    try:
        require("boto3", "moto", "psycopg2", "kubernetes")
        postgres_bindir()
    except StackError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the cluster tests cannot run in CI ({err}): .ci/run installs what they need")
        pytest.skip(str(err))
    with Stack(tmp_path_factory.mktemp("stack"), s3_endpoint=os.environ["METAFLOW_S3_ENDPOINT_URL"]) as running:
        yield running


def on_stack(stack, workdir: Path, command: str = "run", **kwargs):
    """The tiny flow (or its resume) on the stack's S3 datastore, tracked on its MLflow server."""
    return run_flow(workdir, command, env=stack.env(), **kwargs)


@pytest.fixture(scope="module")
def resumed(stack, tmp_path_factory):
    """A run whose trial task is killed (SIGKILL: nothing saved), then resumed: ``(workdir, killed, resumed)``."""
    workdir = tmp_path_factory.mktemp("s3_run")
    killed = on_stack(stack, workdir, fail_step="train_trial:kill", ablation=False)
    assert killed.status == "failed", killed.stderr[-3000:]
    done = on_stack(stack, workdir, command="resume", origin_run_id=killed.run.id)
    assert done.status == "successful", done.stderr[-3000:]
    return workdir, killed.run, done.run


def s3_keys(stack, prefix: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=stack.s3_endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_a_killed_run_resumes_on_the_s3_datastore(clean_run, resumed, stack):
    clean_dir, _ = clean_run
    workdir, killed, run = resumed
    assert "join_tables" in {s.id for s in killed} and "choose" not in {s.id for s in killed}
    assert run["join_tables"].task.origin_pathspec is not None  # cloned from the killed run, not recomputed
    assert all(task.origin_pathspec is None for task in run["train_trial"])
    # every task's artifacts are on S3 (the client reads them from there), none in a local datastore
    assert {t.metadata_dict.get("ds-type") for s in run for t in s} == {"s3"}
    assert s3_keys(stack, "metaflow/RecsysFlow/data/") and not (workdir / ".metaflow" / "RecsysFlow").exists()
    assert len(run["end"].task.data.submission) == TOP_USERS
    # the same answer as the run on the local datastore, byte for byte
    assert (workdir / "submission.csv").read_bytes() == (clean_dir / "submission.csv").read_bytes()

    from mlflow import MlflowClient

    mlrun = MlflowClient(stack.tracking_uri).get_run(run["end"].task.data.mlflow["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.data.tags["metaflow_origin_run_id"] == killed.id
    assert mlrun.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server, stored on S3
    assert any(key.endswith("outputs/submission.csv") for key in s3_keys(stack, "mlflow/"))


def test_the_notebook_reads_the_s3_run(resumed, stack, monkeypatch):
    """notebooks/explore_run.ipynb, pointed at the S3 datastore, reads the resumed run's artifacts."""
    import nbformat
    from nbclient import NotebookClient

    _, _, run = resumed
    for name, value in {**stack.env(), "RECSYS_RUN_ID": run.id}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits the environment
    path = FLOW.parents[1] / "notebooks" / "explore_run.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert f"RecsysFlow/{run.id}" in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def without_s3_credentials() -> dict:
    """The environment of a client that reaches MLflow only over HTTP: no S3 credentials nor endpoint."""
    drop = ("AWS_", "MLFLOW_S3_", "METAFLOW_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def test_the_champion_serves_and_writes_a_batch_from_the_team_server(resumed, stack, tmp_path):
    from recsys.server import wait_until_ready
    from tests.test_serving import free_port

    workdir, _, _ = resumed
    sub = validate_submission(workdir / "submission.csv", k=K, top_users=TOP_USERS)
    model = ["--model", f"models:/{MODEL}@champion", "--tracking-uri", stack.tracking_uri]
    batch = subprocess.run(
        [sys.executable, "-m", "recsys", "batch", *model, "--output", str(tmp_path / "batch.csv")],
        env=without_s3_credentials(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert (tmp_path / "batch.csv").read_bytes() == (workdir / "submission.csv").read_bytes()

    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recsys", "serve", *model, "--port", str(port)],
            env=without_s3_credentials(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(proc, port, log, timeout_s=240)
        import urllib.request

        users = sub["user_id"].tolist()[:5]
        body = json.dumps({"dataframe_records": [{"user_id": u} for u in users], "params": {"k": K}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lists = {u: g.sort_values("rank")["product_id"].tolist() for u, g in served.groupby("user_id")}
    assert lists == dict(zip(sub["user_id"][:5], sub["products"][:5], strict=True))


def test_a_second_run_is_gated_against_the_champion_over_http(resumed, stack, tmp_path):
    """The same data and seed again: registered as the next version and compared with the champion's standing,
    read back from the server (the same buyers' recalls: at least as good, so it takes the champion aliases)."""
    from mlflow import MlflowClient

    _, _, first = resumed
    again = on_stack(stack, tmp_path, ablation=False, plain=False)
    assert again.status == "successful", again.stderr[-3000:]
    client = MlflowClient(stack.tracking_uri)
    first_version = first["end"].task.data.mlflow["model_version"]
    second = again.run["end"].task.data.mlflow
    assert int(second["model_version"]) == int(first_version) + 1
    mlrun = client.get_run(second["run_id"])
    assert mlrun.data.tags["promotion.rule"] == "same data" and mlrun.data.tags["promotion.decision"] == "promoted"
    assert client.get_model_version_by_alias(MODEL, "champion").version == second["model_version"]
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert {v.version for v in versions} >= {first_version, second["model_version"]}


class Refusing(BaseHTTPRequestHandler):
    """A tracking server that answers every request 403 Forbidden (a proxy without the team's credentials)."""

    def _refuse(self):
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error_code": "PERMISSION_DENIED", "message": "forbidden"}')

    do_GET = do_POST = do_PATCH = _refuse  # noqa: N815 (http.server's names)

    def log_message(self, *args):
        pass


def test_a_refusing_tracking_server_stops_the_run_in_start(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = run_flow(tmp_path, tracking_uri=uri)
    finally:
        server.shutdown()
    assert result.status == "failed" and [step.id for step in result.run] == ["start"]  # nothing trained
    error = result.run["start"].task.stderr
    assert f"MLflow tracking at '{uri}' is unavailable" in error and "PERMISSION_DENIED" in error


def flow_steps() -> dict:
    """The flow's steps and their decorators' attributes: ``{step: {decorator: attributes}}``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("recsys_flow_spec", FLOW)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flow = module.RecsysFlow
    steps = [name for name in dir(flow) if getattr(getattr(flow, name), "is_step", False)]
    return {name: {d.name: d.attributes for d in getattr(flow, name).decorators} for name in steps}


def test_the_flow_compiles_for_argo_workflows(stack):
    compiled = flow_command("argo-workflows", "create", "--only-json", env=stack.env())
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    template = json.loads(compiled.stdout)
    assert template["kind"] == "WorkflowTemplate"
    spec = template["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    dag = {task["name"]: task for task in templates[spec["entrypoint"]]["dag"]["tasks"]}
    after = {name: set(re.findall(r"([\w-]+)\.Succeeded", task.get("depends", ""))) for name, task in dag.items()}
    # a withParam fan-out over groups of daily cuts after the start (the buyer inputs), joined by the buyer model;
    # then one over the groups of cuts; in each group the five branches run side by side and join_branches waits for
    # all of them; join_candidates waits for every group
    groups = next(t for t in dag.values() if t["name"].startswith("plan-fits-foreach-"))
    assert groups["withParam"] == "{{tasks.plan-fits.outputs.parameters.num-splits}}"
    inner = {t["name"]: t for t in templates[groups["template"]]["dag"]["tasks"]}
    inner_after = {name: set(re.findall(r"([\w-]+)\.Succeeded", t.get("depends", ""))) for name, t in inner.items()}
    assert all(inner_after[b] == {"fit-cuts"} for b in BRANCHES) and inner_after["join-branches"] == set(BRANCHES)
    assert after["join-candidates"] == {groups["name"]}
    assert after["buyer-model"] == {next(n for n in dag if n.startswith("start-foreach-"))}
    # the chosen trial is retrained (final) while the rows beside it are scored (weigh); track joins the two
    assert after["weigh"] == after["final"] == {"choose"} and after["track"] == {"weigh", "final"}
    for step, parent in FAN_OUTS.items():  # a withParam fan-out over the parent's splits
        fan_out = next(t for t in dag.values() if t["name"].startswith(f"{parent}-foreach-"))
        assert fan_out["withParam"] == f"{{{{tasks.{parent}.outputs.parameters.num-splits}}}}"
        inner = templates[fan_out["template"]]["dag"]["tasks"]
        assert [t["template"] for t in inner] == [step]

    declared = flow_steps()
    containers = {t["name"]: t for t in spec["templates"] if "container" in t}
    assert {name.replace("_", "-") for name in declared} <= set(containers)
    for name, decorators in declared.items():
        task = containers[name.replace("_", "-")]
        requests = task["container"]["resources"]["requests"]
        wanted = decorators["resources"]
        assert float(requests["cpu"]) == wanted["cpu"] and requests["memory"] == f"{float(wanted['memory'])}M", name
        retries = task.get("retryStrategy", {}).get("limit", 0)
        assert int(retries) == int(decorators.get("retry", {}).get("times", 0)), name
    assert {n for n, d in declared.items() if "retry" not in d} == {"start", "track"}  # the two with side effects

    parameters = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    assert {"data-dir", "preset", "top-users", "k", "tracking-uri", "promote", "lineage"} <= set(parameters)
    assert parameters["top-users"] == "3000" and parameters["k"] == "25"
