"""A team's cluster stack on loopback: S3 (moto's server), PostgreSQL and an MLflow tracking server.

For the tests and for trying the cluster path locally (docs/cluster.md). Everything binds to 127.0.0.1, lives in one
folder (the PostgreSQL data, the logs: ``s3.log``, ``postgres.log``, ``mlflow.log``) and stops with its owner::

    with Stack(tmp_path) as stack:
        env = os.environ | stack.env()  # what a Metaflow flow and an MLflow client need to use it

As a script, ``python tools/local_stack.py [--dir DIR] [--bucket NAME]`` starts everything, prints the
``export`` lines to paste in another shell (also written to ``DIR/stack.env``) and waits for Ctrl-C or SIGTERM.

S3 lives in the moto server's memory: every start begins with empty buckets and a new database. The MLflow server
proxies artifacts (``--serve-artifacts``) to ``s3://BUCKET/mlflow``, so its clients need no S3 credentials.
PostgreSQL refuses to run as root: as root, its programs run as the ``postgres`` OS user, which then owns
``DIR/postgres``, and the folders above it get the ``o+x`` bit (traverse, not list) when they lack it.

Needs boto3, moto and psycopg2 (``poetry install --with cluster``): only a start looks for them (and for mlflow);
the servers import them, in their own processes, and this module only boto3, to create the bucket.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"
AWS_KEY = "testing"  # moto accepts any credentials
AWS_REGION = "us-east-1"
DB_NAME = DB_USER = DB_PASSWORD = "mlflow"
MARKER = ".local_stack"  # marks a folder as a stack's: a new start may clear its earlier database
INSTALL_HINT = "poetry install --with cluster"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class StackError(RuntimeError):
    """A server of the stack could not start (the message has the end of its log) or a tool is missing."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; another process may take it before we bind)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it is empty."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return "\n".join(text) if text else f"({path} is empty)"


def require(*modules: str) -> None:
    """Raise a clear ``StackError`` naming the install command when a Python package is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise StackError(f"the local stack needs {', '.join(missing)}: install them with `{INSTALL_HINT}`")


def aws_env(endpoint: str) -> dict[str, str]:
    """Dummy AWS credentials and region, and the S3 endpoint for MLflow (its server) and Metaflow."""
    return {
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_KEY,
        "AWS_DEFAULT_REGION": AWS_REGION,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "METAFLOW_S3_ENDPOINT_URL": endpoint,
    }


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux's /proc tells; elsewhere, whether it exists)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except ProcessLookupError:
        return False
    except (OSError, IndexError):
        return True
    return state != "Z"


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for process ``pid`` (not necessarily a child) to exit; whether it did."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def answers_http(url: str) -> bool:
    """Whether an HTTP server answers ``url`` with any status (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


class _Managed:
    """``start()`` (which stops what it started if it fails), ``stop()`` and ``with`` support."""

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def start(self):
        """Start; on failure (or Ctrl-C) stop what was started, then raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _ChildServer(_Managed):
    """A server run as a child process in a session of its own, logging to a file; stopping it signals the
    whole session (the server's own children too) and waits for it."""

    name = "server"

    def __init__(self, log: Path):
        self.log = Path(log)
        self.process: subprocess.Popen | None = None

    def spawn(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        """Start ``command`` with its output in the log (which it replaces)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                start_new_session=True,
            )  # fmt: skip
        atexit.register(self.stop)

    def launch(self) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        self.launch()
        self.wait_ready()

    def wait_until(self, ready, timeout: float) -> None:
        """Poll ``ready()`` until it is true; raise with the log's end if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with code {self.process.returncode}:\n{log_tail(self.log)}")
            if time.monotonic() > deadline:
                raise StackError(f"{self.name} did not answer within {timeout:.0f} s:\n{log_tail(self.log)}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the server's session, SIGKILL to what is left of it after ``timeout`` s; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the session's id is its leader's pid
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # the leader if it hung, a child it did not wait for
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class S3Server(_ChildServer):
    """moto's standalone server (``python -m moto.server``): S3 in memory on ``http://127.0.0.1:PORT``."""

    name = "the S3 server (moto)"

    def __init__(self, directory: Path, buckets: tuple[str, ...] = ("recsys",), port: int | None = None):
        super().__init__(Path(directory) / "s3.log")
        self.directory = Path(directory)
        self.buckets = tuple(buckets)
        self.port = port or free_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"

    def launch(self) -> None:
        """Start the server process without waiting for it."""
        require("moto", "boto3")
        command = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]
        self.spawn(command, dict(os.environ), self.directory)

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until it answers HTTP, then create the buckets."""
        self.wait_until(lambda: answers_http(self.endpoint + "/"), timeout)
        client = self.client()
        for bucket in self.buckets:
            client.create_bucket(Bucket=bucket)

    def client(self):
        """A boto3 S3 client on this server."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_KEY,
            region_name=AWS_REGION,
        )  # fmt: skip


def postgres_bindir() -> Path:
    """The folder of PostgreSQL's server programs: ``pg_config --bindir``, then ``initdb`` on PATH, then the newest
    ``/usr/lib/postgresql/*/bin``; the first that holds initdb, pg_ctl, postgres and psql."""
    candidates = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(result.stdout.strip())
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(re.sub(r"\D", "", p) or 0), reverse=True)
    for folder in filter(None, candidates):
        if all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return Path(folder)
    raise StackError("PostgreSQL's server programs (initdb, pg_ctl) were not found: `apt-get install -y postgresql`")


class Postgres(_Managed):
    """A PostgreSQL server of its own in ``DIRECTORY/postgres`` (data in ``data/``, its unix socket in ``run/``),
    listening on 127.0.0.1:PORT, with a role and a database ``mlflow`` (password ``mlflow``).

    Authentication (``pg_hba.conf`` from initdb): trust on the unix socket, which sits in a folder only the server's
    OS user can enter, for the superuser ``postgres`` that creates the role; scram-sha-256 passwords over TCP."""

    def __init__(self, directory: Path, port: int | None = None):
        self.root = Path(directory).resolve() / "postgres"
        self.data, self.socket_dir = self.root / "data", self.root / "run"
        self.log = Path(directory).resolve() / "postgres.log"
        self.port = port or free_port()
        self.host, self.user, self.password, self.dbname = LOOPBACK, DB_USER, DB_PASSWORD, DB_NAME
        self.url = f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"
        self.bindir: Path | None = None
        self.started = False

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (from ``postmaster.pid``), else None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if process_alive(pid) else None

    def _command(self, tool: str, *args: str) -> list[str]:
        """A PostgreSQL program's command line, run as the ``postgres`` OS user when we are root."""
        command = [str(self.bindir / tool), *args]
        if os.geteuid() != 0:
            return command
        if shutil.which("runuser"):
            return ["runuser", "-u", "postgres", "--", *command]
        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]

    def _run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL program to completion, its output appended to the log; raise with the log's end."""
        with self.log.open("ab") as log:
            code = subprocess.run(
                self._command(tool, *args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.root, check=False,
            ).returncode  # fmt: skip
        if code != 0:
            raise StackError(f"PostgreSQL: {tool} failed with code {code}:\n{log_tail(self.log)}")

    def _prepare_folders(self) -> None:
        """Create the folders and the log; as root, hand them to ``postgres`` and make their parents traversable."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.socket_dir):
            folder.chmod(0o700)  # the socket's folder: only the server's OS user reaches the trusted socket
        self.log.touch()
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > 100:
            raise StackError(f"the socket path {socket_path} is too long for a unix socket: choose a shorter folder")
        if os.geteuid() != 0:
            return
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            hint = "`apt-get install -y postgresql` creates it (or run as a normal user)"
            raise StackError(f"as root, PostgreSQL runs as the OS user postgres, missing: {hint}") from None
        for path in (self.root, self.socket_dir, self.log):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        with self.log.open("a") as log:
            for parent in self.root.parents:
                mode = parent.stat()
                if mode.st_uid != owner.pw_uid and not mode.st_mode & stat.S_IXOTH:
                    os.chmod(parent, mode.st_mode | stat.S_IXOTH)
                    log.write(f"local_stack: added o+x to {parent} for the postgres user\n")

    def _start(self) -> None:
        """initdb, start with pg_ctl (waiting until it accepts connections), create the role and the database."""
        self.bindir = postgres_bindir()
        self._prepare_folders()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        settings = {
            "port": self.port,
            "listen_addresses": f"'{LOOPBACK}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            # a throwaway server: no waiting for the disk (MLflow's first start runs ~70 migrations)
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tools/local_stack.py\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.started = True
        atexit.register(self.stop)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(self.port),
            "-U", "postgres", "-d", "postgres",
            "-c", f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'",
            "-c", f"CREATE DATABASE {self.dbname} OWNER {self.user}",
        )  # fmt: skip

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, then SIGKILL if the server is still there; idempotent."""
        if not self.started:
            return
        self.started = False
        atexit.unregister(self.stop)
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(StackError):  # it did not stop in 30 s
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        # pg_ctl returns once the pid file is gone; the postmaster exits just after (it is not our child to wait for)
        if not wait_for_exit(pid, timeout=10):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_for_exit(pid, timeout=10)


class MlflowServer(_ChildServer):
    """``mlflow server`` on ``http://127.0.0.1:PORT``: runs and models in ``backend_uri``, artifacts proxied to
    ``artifacts_destination`` (on the S3 server at ``s3_endpoint``), one uvicorn worker by default."""

    name = "the MLflow server"

    def __init__(self, directory: Path, backend_uri: str, artifacts_destination: str, s3_endpoint: str,
                 port: int | None = None, workers: int = 1):  # fmt: skip
        super().__init__(Path(directory) / "mlflow.log")
        self.directory = Path(directory)
        self.backend_uri, self.artifacts_destination = backend_uri, artifacts_destination
        self.s3_endpoint, self.workers = s3_endpoint, workers
        self.port = port or free_port()
        self.tracking_uri = f"http://{LOOPBACK}:{self.port}"

    def launch(self) -> None:
        """Start the server process without waiting for it."""
        require("mlflow", "boto3", "psycopg2")
        command = [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri,
            "--serve-artifacts", "--artifacts-destination", self.artifacts_destination,
            "--host", LOOPBACK, "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        # no job runner (a huey consumer for GenAI jobs): the tracking server of a recommender does not need it
        env = os.environ | aws_env(self.s3_endpoint) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.spawn(command, env, self.directory)

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait until ``/health`` answers 200 (the first start migrates the database first)."""

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.tracking_uri + "/health", timeout=2) as response:
                    return response.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self.wait_until(healthy, timeout)


class Stack(_Managed):
    """S3 (moto), PostgreSQL and an MLflow server on loopback, in ``directory``, with one bucket: Metaflow's
    datastore under ``s3://BUCKET/metaflow``, MLflow's artifacts under ``s3://BUCKET/mlflow``.

    ``s3_endpoint`` (``http://127.0.0.1:PORT``) fixes the S3 server's address, e.g. one Metaflow read before it
    started; by default each server takes a free port."""

    def __init__(self, directory: str | Path, bucket: str = "recsys", s3_endpoint: str | None = None):
        if not BUCKET_NAME.fullmatch(bucket):
            raise ValueError(f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        self.directory, self.bucket = Path(directory).resolve(), bucket
        s3_port = None
        if s3_endpoint:
            match = re.fullmatch(rf"http://{re.escape(LOOPBACK)}:(\d+)/?", s3_endpoint)
            if not match:
                raise ValueError(f"s3_endpoint must be http://{LOOPBACK}:PORT, not {s3_endpoint!r}")
            s3_port = int(match[1])
        self.s3 = S3Server(self.directory, (bucket,), port=s3_port)
        self.postgres = Postgres(self.directory)
        self.mlflow = MlflowServer(self.directory, self.postgres.url, self.artifacts_uri, self.s3.endpoint)

    s3_endpoint = property(lambda self: self.s3.endpoint, doc="the S3 server's URL, http://127.0.0.1:PORT")
    tracking_uri = property(lambda self: self.mlflow.tracking_uri, doc="the MLflow server's URL")
    database_uri = property(lambda self: self.postgres.url, doc="MLflow's backend store (SQLAlchemy URL)")
    metaflow_root = property(lambda self: f"s3://{self.bucket}/metaflow", doc="Metaflow's datastore root")
    artifacts_uri = property(lambda self: f"s3://{self.bucket}/mlflow", doc="where MLflow's server puts artifacts")

    def env(self) -> dict[str, str]:
        """The environment variables a Metaflow flow (S3 datastore, ``metaflow.S3``, cards) and an MLflow client
        need to use the stack. Metaflow would derive the data and card roots from its datastore root; they are
        set too so that a profile in ``~/.metaflowconfig`` cannot send them elsewhere."""
        return {
            "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": self.metaflow_root,
            "METAFLOW_DATATOOLS_S3ROOT": f"{self.metaflow_root}/data",
            "METAFLOW_CARD_S3ROOT": f"{self.metaflow_root}/mf.cards",
            **aws_env(self.s3_endpoint),
            "MLFLOW_TRACKING_URI": self.tracking_uri,
        }

    def _prepare_directory(self) -> None:
        """Create the folder, or clear an earlier stack's database there (its S3 content went with its server)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.postgres.root.exists():
            if self.postgres.pid is not None:
                raise StackError(f"a stack is running in {self.directory} (postgres pid {self.postgres.pid})")
            if not (self.directory / MARKER).exists():
                raise StackError(f"{self.postgres.root} exists and is not a local stack's: choose another folder")
            shutil.rmtree(self.postgres.root)
        (self.directory / MARKER).write_text("a folder of tools/local_stack.py\n")

    def _start(self) -> None:
        """Start the three servers: S3 and PostgreSQL side by side, then MLflow on them."""
        require("moto", "boto3", "mlflow", "psycopg2")
        self._prepare_directory()
        self.s3.launch()
        self.postgres.start()
        self.s3.wait_ready()
        self.mlflow.start()
        exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in self.env().items())
        (self.directory / "stack.env").write_text(exports)

    def stop(self) -> None:
        """Stop MLflow, then PostgreSQL and S3 (each even if an earlier one fails); idempotent."""
        try:
            self.mlflow.stop()
        finally:
            try:
                self.postgres.stop()
            finally:
                self.s3.stop()


def main(argv: list[str] | None = None) -> int:
    """Start the stack, print how to use and stop it, wait for Ctrl-C or SIGTERM, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="the stack's folder (default: a new temporary one, removed after)")
    parser.add_argument("--bucket", default="recsys", help="the S3 bucket (default: recsys)")
    args = parser.parse_args(argv)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="recsys-stack-"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a KeyboardInterrupt: the `with` stops the servers
    started = time.monotonic()
    try:
        with Stack(directory, bucket=args.bucket) as stack:
            print(f"the local stack runs in {stack.directory} (started in {time.monotonic() - started:.0f} s)")
            print("paste in another shell (or `source " + shlex.quote(str(stack.directory / "stack.env")) + "`):\n")
            print((stack.directory / "stack.env").read_text())
            print(f"MLflow UI: {stack.tracking_uri}; logs: {stack.directory}/*.log")
            print(f"stop it with Ctrl-C here, or `kill {os.getpid()}`", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        pass
    except (StackError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    print("the local stack stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
