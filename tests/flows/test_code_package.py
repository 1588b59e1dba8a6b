"""The flow's own code package is all a remote task needs: it is built, extracted into an empty folder and the
``tiny`` flow runs from there in an interpreter that has the dependencies but no checkout on ``sys.path``, what a
Kubernetes pod or an AWS Batch job sees (Metaflow extracts the package into the task's working directory and
runs the flow file from there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from tests.flows.runner import FLOW, PARAMS, cli_args, flow_command

pytestmark = pytest.mark.slow

ROOT = FLOW.parents[1]
#: What a code package must never carry: run outputs, data, benchmarks, the tests, the docs.
NOT_SHIPPED = ("tests/", "benchmarks/", "docs/", "data/", "notebooks/", ".metaflow/", "mlruns/", "catboost_info/")


def pod_python(folder: Path) -> Path:
    """An interpreter with the project's dependencies and nothing of the checkout: a virtualenv whose
    site-packages points at this one's (a path in a ``.pth`` file adds the folder, not the ``.pth`` files in it,
    so the project's own editable install, ``stokman_recsys.pth``, is left out)."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(folder), "platbase": str(folder)})["purelib"])
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder / "bin" / "python"


def test_package_list_holds_the_whole_library_and_nothing_else():
    listed = flow_command("package", "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    # Metaflow prints the list on stderr
    files = {Path(line).resolve() for line in listed.stderr.splitlines() if line.startswith("/")}
    project = {p.relative_to(ROOT).as_posix() for p in files if p.is_relative_to(ROOT) and ".venv" not in p.parts}
    library = {p.relative_to(ROOT).as_posix() for p in (ROOT / "recsys").rglob("*") if p.suffix in (".py", ".md")}
    assert library <= project and "flows/recsys_flow.py" in project
    assert not [p for p in project if p.startswith(NOT_SHIPPED) or "__pycache__" in p]


def test_the_tiny_flow_runs_from_its_extracted_code_package(tmp_path):
    saved = flow_command("package", "save", str(tmp_path / "job.tar"))
    assert saved.returncode == 0, saved.stderr[-2000:]
    pod = tmp_path / "pod"
    with tarfile.open(tmp_path / "job.tar") as tar:
        tar.extractall(pod, filter="data")
    assert (pod / "recsys_flow.py").is_file() and (pod / "recsys" / "report" / "prose" / "results.md").is_file()
    python = pod_python(tmp_path / "venv")
    elsewhere = subprocess.run(
        [str(python), "-c", "import json, sys, metaflow; print(json.dumps(sys.path)); import recsys"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "No module named 'recsys'" in elsewhere.stderr and str(ROOT) not in json.loads(elsewhere.stdout)

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "USERNAME": os.environ["USERNAME"],
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"],
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    args = [*cli_args(PARAMS | {"ablation": False, "plain": False}), "--output", str(tmp_path / "submission.csv")]
    run_id_file = tmp_path / "run_id"
    done = subprocess.run(
        [str(python), "recsys_flow.py", "run", *args, "--run-id-file", str(run_id_file)],
        cwd=pod,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    from metaflow import Run, namespace

    namespace(None)
    run = Run(f"RecsysFlow/{run_id_file.read_text().strip()}")
    assert run.successful and (tmp_path / "submission.csv").is_file()
    assert len(run["end"].task.data.submission) == PARAMS["top_users"]
    assert run["end"].task.data.report_summary["ablation"] is False
