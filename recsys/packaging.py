"""What travels with the flow to remote compute: the whole ``recsys`` package, in the flow's own code package.

Metaflow ships the folder of the flow file (``flows/``) to every remote task (Kubernetes, AWS Batch, Argo
Workflows), extracted into the task's working directory, and runs the step from there: ``recsys/`` beside
``recsys_flow.py`` is then importable as it is on a laptop, with no ``sys.path`` edit. :class:`ShipLibrary` is the
flow mutator that adds it (Metaflow's ``add_to_package`` hook, as user content placed beside the flow file), its
Python modules and its package data (the slides' prose) alike. ``python flows/recsys_flow.py package list`` shows
what is shipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from metaflow import FlowMutator
from metaflow.packaging_sys import ContentType

#: The package's own folder (locally the checkout's ``recsys/``; in a task, the one extracted from the package).
LIBRARY = Path(__file__).resolve().parent
#: Files of the package that are not code (the Python bytecode caches stay behind).
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


def library_files(root: Path = LIBRARY) -> list[tuple[str, str]]:
    """``(path on disk, path in the package)`` of every file of the package under ``root``, sorted; the package
    path starts with the package's name (``recsys/...``)."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if not path.is_file() or SKIPPED_DIRS.intersection(parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        found.append((str(path), "/".join((root.name, *parts))))
    return found


class ShipLibrary(FlowMutator):
    """Put the ``recsys`` package in the flow's code package, beside the flow file."""

    def add_to_package(self) -> Iterator[tuple[str, str, ContentType]]:
        for path, arcname in library_files():
            yield path, arcname, ContentType.USER_CONTENT
