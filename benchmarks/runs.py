"""A finished RecsysFlow run, for the scripts that read one's artifacts (its datastore named by
``METAFLOW_DATASTORE_SYSROOT_LOCAL=RUN_FOLDER``, or found from the working folder)."""

from __future__ import annotations

import argparse
import os


def add_run_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-id", default="", help="RecsysFlow run id (default: latest successful)")


def open_run(run_id: str = ""):
    """The run ``run_id``, or the latest successful one, in any user's namespace."""
    os.environ.setdefault("USERNAME", "benchmark")  # Metaflow refuses to start without a user name
    from metaflow import Flow, Run, namespace

    namespace(None)
    return Run(f"RecsysFlow/{run_id}") if run_id else Flow("RecsysFlow").latest_successful_run


def reader(data):
    """The per-shard artifacts of a step's ``data`` (``run[step].task.data``, a step from ``join_tables`` on):
    :class:`recsys.shards.ArtifactReader` over the run's shard plan (``.table(cut)``, ``.tables(cut)``,
    ``.rows(cut)``, ``.take(name)``)."""
    from recsys.shards import ArtifactReader

    return ArtifactReader(data, data.shard_plan)
