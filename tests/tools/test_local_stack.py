"""tools/local_stack.py: the loopback stack of the cluster path really works. One stack for the module: an object
put on its S3 reads back, an MLflow run logged on its server lands in its PostgreSQL database with the artifact on
its S3, Metaflow's S3 client reaches it with ``env()``, and once stopped no port answers and no process is left."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tools.local_stack import Stack

pytestmark = pytest.mark.slow

TOOL = Path(__file__).resolve().parents[2] / "tools" / "local_stack.py"


@pytest.fixture(scope="module")
def children_before() -> set[int]:
    """The processes that were this process's children before the stack started."""
    psutil = pytest.importorskip("psutil")
    return {child.pid for child in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, children_before):
    with Stack(tmp_path_factory.mktemp("stack"), bucket="recsys-test") as running:
        yield running


def test_bad_bucket_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="bucket name"):
        Stack(tmp_path, bucket="ab")
    with pytest.raises(ValueError, match="s3_endpoint"):
        Stack(tmp_path, s3_endpoint="https://s3.amazonaws.com")


def test_without_the_cluster_packages_it_imports_and_says_what_to_install(tmp_path, monkeypatch):
    for name in ("boto3", "moto", "psycopg2"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` fails, find_spec finds nothing
    spec = importlib.util.spec_from_file_location("local_stack_alone", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(module.StackError, match=r"needs moto, boto3, psycopg2: .*`poetry install --with cluster`"):
        module.Stack(tmp_path / "stack").start()
    assert not (tmp_path / "stack").exists()  # refused before anything started


def test_an_object_put_on_s3_reads_back(stack):
    client = stack.s3.client()
    client.put_object(Bucket=stack.bucket, Key="check/hello.txt", Body=b"hello")
    assert client.get_object(Bucket=stack.bucket, Key="check/hello.txt")["Body"].read() == b"hello"


def test_an_mlflow_run_goes_to_postgres_and_its_artifact_to_s3(stack, tmp_path):
    import psycopg2
    from mlflow import MlflowClient

    client = MlflowClient(stack.tracking_uri)
    run = client.create_run(client.create_experiment("local-stack"))
    client.log_param(run.info.run_id, "alpha", "0.5")
    client.log_metric(run.info.run_id, "recall", 0.25)
    (tmp_path / "notes.txt").write_text("a small artifact")
    client.log_artifact(run.info.run_id, str(tmp_path / "notes.txt"))
    client.set_terminated(run.info.run_id)

    logged = client.get_run(run.info.run_id)
    assert logged.data.params == {"alpha": "0.5"} and logged.data.metrics == {"recall": 0.25}
    assert logged.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied: the client needs no S3 access
    listed = stack.s3.client().list_objects_v2(Bucket=stack.bucket, Prefix="mlflow/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(run.info.run_id in key and key.endswith("artifacts/notes.txt") for key in keys), keys

    pg = stack.postgres  # the backend store: the run is a row of PostgreSQL's `runs` table
    login = {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password, "dbname": pg.dbname}
    with closing(psycopg2.connect(**login)) as db, db.cursor() as cursor:
        cursor.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cursor.fetchall() == [("FINISHED",)]


def test_metaflow_reaches_the_stack_with_its_env(stack):
    """``env()`` is all Metaflow needs: its S3 client writes and reads the bucket, and its data and card roots
    are on it."""
    script = (
        "from metaflow import S3\n"
        "from metaflow import metaflow_config as c\n"
        f"with S3(s3root='{stack.metaflow_root}/data/check') as s3:\n"
        "    s3.put('key', 'value')\n"
        "    print(s3.get('key').text)\n"
        "print(c.DEFAULT_DATASTORE, c.DATATOOLS_S3ROOT, c.CARD_S3ROOT)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAFLOW_"))} | stack.env()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    root = stack.metaflow_root
    assert done.stdout.split("\n")[:2] == ["value", f"s3 {root}/data {root}/mf.cards"]
    listed = stack.s3.client().list_objects_v2(Bucket=stack.bucket, Prefix="metaflow/data/check/")
    assert [item["Key"] for item in listed["Contents"]] == ["metaflow/data/check/key"]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie has exited (the postmaster is not our child: init reaps it, in its time)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def test_stopping_leaves_no_port_open_and_no_process(stack, children_before):
    """Runs last: it stops the module's stack (stopping again, in the fixture, does nothing)."""
    import psutil

    ports = [stack.s3.port, stack.postgres.port, stack.mlflow.port]
    children = {child.pid for child in psutil.Process().children(recursive=True)} - children_before
    servers = children | {stack.postgres.pid}
    assert len(children) >= 3 and None not in servers  # moto, `mlflow server` and its uvicorn; the postmaster
    stack.stop()
    stack.stop()
    assert all(refuses(port) for port in ports)
    assert not [pid for pid in servers if running(pid)]
    assert {child.pid for child in psutil.Process().children(recursive=True)} <= children_before
    # nothing runs from the stack's folder (PostgreSQL's command line names it)
    folder = str(stack.directory)
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if folder in " ".join(p.info["cmdline"] or ())]
    assert not [pid for pid in left if running(pid)]
