"""Candidate sources: each proposes items per user from one cut's history (see ``base.CandidateSource``).

:data:`SOURCES` is the registry: a new source is one module with a :class:`CandidateSource` subclass plus one entry
here (and, in the flow, a step for its branch when it opens a new one). Everything else (the flow's branches, the
feature columns, the ablation, the served model and the contract tests) takes the list of sources from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recsys.candidates.als import ALSSource
from recsys.candidates.base import ACTION_WEIGHTS, CandidateSource
from recsys.candidates.covisit import CovisitationSource
from recsys.candidates.embeddings import EmbeddingSource
from recsys.candidates.history import HistorySource
from recsys.candidates.popularity import PopularitySource, item_popularity, pad, padding_items, popular_items


@dataclass(frozen=True)
class SourceSpec:
    """How to build a source (from the run's seed) and which parallel branch of the flow fits it."""

    make: Callable[[int], CandidateSource]
    branch: str
    description: str


SOURCES: dict[str, SourceSpec] = {
    "history": SourceSpec(lambda seed: HistorySource(), "history", "the user's own viewed / liked / basket items"),
    "covisit": SourceSpec(lambda seed: CovisitationSource(), "covisit", "items co-visited with the user's recent ones"),
    "als": SourceSpec(lambda seed: ALSSource(seed=seed), "als", "implicit ALS on action-weighted confidences"),
    "faiss": SourceSpec(lambda seed: EmbeddingSource(), "faiss", "FAISS neighbours of the user's title profile"),
    "popular": SourceSpec(lambda seed: PopularitySource("global"), "popularity", "trending items overall"),
    "popular_category": SourceSpec(
        lambda seed: PopularitySource("category"), "popularity", "trending items in the user's categories"
    ),
}


def make_source(name: str, seed: int = 0) -> CandidateSource:
    """A new, unfitted source of the registry."""
    if name not in SOURCES:
        raise ValueError(f"unknown candidate source {name!r}; known: {sorted(SOURCES)}")
    source = SOURCES[name].make(seed)
    source.name = name
    return source


def branches() -> dict[str, list[str]]:
    """Flow branch -> the sources it fits, in registry order."""
    out: dict[str, list[str]] = {}
    for name, spec in SOURCES.items():
        out.setdefault(spec.branch, []).append(name)
    return out


__all__ = [
    "ACTION_WEIGHTS",
    "ALSSource",
    "CandidateSource",
    "CovisitationSource",
    "EmbeddingSource",
    "HistorySource",
    "PopularitySource",
    "SOURCES",
    "SourceSpec",
    "branches",
    "item_popularity",
    "make_source",
    "pad",
    "padding_items",
    "popular_items",
]
