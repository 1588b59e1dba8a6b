"""Candidate sources: each proposes items per user from one cut's history (see ``base.CandidateSource``)."""

from recsys.candidates.als import ALSSource
from recsys.candidates.base import ACTION_WEIGHTS, CandidateSource
from recsys.candidates.covisit import CovisitationSource
from recsys.candidates.embeddings import EmbeddingSource
from recsys.candidates.history import HistorySource
from recsys.candidates.popularity import PopularitySource, item_popularity, popular_items

__all__ = [
    "ACTION_WEIGHTS",
    "ALSSource",
    "CandidateSource",
    "CovisitationSource",
    "EmbeddingSource",
    "HistorySource",
    "PopularitySource",
    "item_popularity",
    "popular_items",
]
