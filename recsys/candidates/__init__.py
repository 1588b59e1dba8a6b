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
from recsys.candidates.neighbours import NeighboursSource
from recsys.candidates.popularity import PopularitySource, item_popularity, pad, padding_items, popular_items


@dataclass(frozen=True)
class SourceSpec:
    """How to build a source (from the run's seed), which parallel branch of the flow fits it, and how many
    candidates it proposes per user as a multiple of the run's ``--candidates`` (``depth``)."""

    make: Callable[[int], CandidateSource]
    branch: str
    description: str
    depth: float = 1.0


SOURCES: dict[str, SourceSpec] = {
    # 2x: a heavy re-buyer's own items are the likeliest purchases, and 50 cut them off (grocery baskets hold
    # dozens): the user's own items at 100 instead of 50 raise the candidates' recall from 0.244 to 0.308 on the
    # grocery dev case, from 0.309 to 0.345 on the retail one (150 adds little more: 0.32 and 0.35)
    "history": SourceSpec(
        lambda seed: HistorySource(), "history", "the user's own viewed / liked / basket items", depth=2.0
    ),
    "neighbours": SourceSpec(
        lambda seed: NeighboursSource(), "history", "the user's items and those of the most similar users (TIFU-kNN)"
    ),
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


def candidates_of(name: str, n: int) -> int:
    """How many candidates per user source ``name`` proposes when the run asks for ``n``."""
    return max(1, int(round(n * SOURCES[name].depth)))


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
    "NeighboursSource",
    "PopularitySource",
    "SOURCES",
    "SourceSpec",
    "branches",
    "candidates_of",
    "item_popularity",
    "make_source",
    "pad",
    "padding_items",
    "popular_items",
]
