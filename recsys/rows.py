"""The rows of a run's validation and hypothesis tables as records: what a row is (its kind) and of what (its
subject: a selection strategy, a baseline, a source, an objective).

A table built by :func:`table` keeps each row's ``kind`` and ``subject`` in two columns beside its figures, so the
report, the figures and the benchmarks select rows by kind (:func:`of_kind`) instead of parsing names. The names
(``reranker (p_buy)``, ``baseline: organisers``, ``source alone: als``, ...) stay the tables' index and the ``row``
column of the per-buyer recall table: they are what a person reads in the raw artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

RERANKER = "reranker"  # the reranker, users chosen by the strategy named as subject
BASELINE = "baseline"
ALONE = "source alone"  # one candidate source's own ranking
REMOVED = "source removed"  # the chosen recipe retrained without one source
PLAIN = "plain two-stage"  # the plain two-stage model in the reranker's place (no subject)
BEST_TRIAL = "best trial"  # the best trial of one objective (per-buyer recall table only)
KINDS = (RERANKER, BASELINE, ALONE, REMOVED, PLAIN, BEST_TRIAL)

#: The columns :func:`table` adds beside the figures.
KEY_COLUMNS = ("kind", "subject")


@dataclass(frozen=True)
class RowKey:
    """A row's kind (one of :data:`KINDS`) and subject."""

    kind: str
    subject: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown row kind {self.kind!r}; expected one of {', '.join(KINDS)}")

    @property
    def name(self) -> str:
        """The row's name in a table's index."""
        if self.kind == RERANKER:
            return f"{RERANKER} ({self.subject})"
        if self.kind == PLAIN:
            return PLAIN
        return f"{self.kind}: {self.subject}"

    @classmethod
    def of(cls, name: str) -> RowKey:
        """The key behind a row name (the tables of runs made before the kind and subject columns)."""
        if name.startswith(f"{RERANKER} (") and name.endswith(")"):
            return cls(RERANKER, name[len(RERANKER) + 2 : -1])
        if name == PLAIN:
            return cls(PLAIN)
        kind, _, subject = name.partition(": ")
        return cls(kind, subject)


def table(rows: dict[RowKey, dict], index_name: str | None = None) -> pd.DataFrame:
    """One line per row (its figures), indexed by the row names, with the rows' kinds and subjects."""
    frame = pd.DataFrame({key.name: figures for key, figures in rows.items()}).T
    frame = frame if len(frame.columns) else pd.DataFrame(index=[key.name for key in rows])
    frame["kind"] = [key.kind for key in rows]
    frame["subject"] = [key.subject for key in rows]
    frame.index.name = index_name
    return frame


def keys(frame: pd.DataFrame) -> list[RowKey | None]:
    """The key of each row of ``frame``, read from the names when the table predates the key columns (None for
    an index entry that names no row, such as a window)."""
    if all(c in frame.columns for c in KEY_COLUMNS):
        return [RowKey(kind, subject) for kind, subject in zip(frame["kind"], frame["subject"], strict=True)]
    return [_key_or_none(str(name)) for name in frame.index]


def _key_or_none(name: str) -> RowKey | None:
    try:
        return RowKey.of(name)
    except ValueError:
        return None


def of_kind(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of one kind, indexed by their subjects, figures only."""
    found = [(i, key.subject) for i, key in enumerate(keys(frame)) if key is not None and key.kind == kind]
    out = frame.iloc[[i for i, _ in found]].drop(columns=list(KEY_COLUMNS), errors="ignore")
    out.index = pd.Index([subject for _, subject in found], name=kind)
    return out


def figures(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the key columns."""
    return frame.drop(columns=list(KEY_COLUMNS), errors="ignore")
