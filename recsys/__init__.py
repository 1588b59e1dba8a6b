"""Stokman next-3-days purchase recommender: data contract, candidates, reranker, buyer selection."""
