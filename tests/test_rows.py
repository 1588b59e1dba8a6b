"""Hypothesis and validation rows as records: kinds and subjects stored beside the figures, names kept as the index."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import rows
from recsys.rows import ALONE, BASELINE, PLAIN, REMOVED, RERANKER, RowKey


def _table() -> pd.DataFrame:
    return rows.table(
        {
            RowKey(RERANKER, "p_buy"): {"recall": 0.30, "recall_se": 0.01},
            RowKey(BASELINE, "organisers"): {"recall": 0.20, "recall_se": 0.01},
            RowKey(ALONE, "als"): {"recall": 0.10, "recall_se": 0.01},
            RowKey(ALONE, "history"): {"recall": 0.15, "recall_se": 0.02},
            RowKey(REMOVED, "als"): {"recall": 0.29, "recall_se": 0.01},
            RowKey(PLAIN): {"recall": 0.25, "recall_se": 0.01},
        }
    )


def test_names_are_the_index_and_kinds_are_columns():
    table = _table()
    assert list(table.index) == [
        "reranker (p_buy)",
        "baseline: organisers",
        "source alone: als",
        "source alone: history",
        "source removed: als",
        "plain two-stage",
    ]
    assert list(table["kind"]) == [RERANKER, BASELINE, ALONE, ALONE, REMOVED, PLAIN]
    assert list(table["subject"]) == ["p_buy", "organisers", "als", "history", "als", ""]
    assert table["recall"].dtype == float  # the figures keep their type beside the text columns


def test_of_kind_selects_by_kind_and_indexes_by_subject():
    alone = rows.of_kind(_table(), ALONE)
    assert list(alone.index) == ["als", "history"]
    assert list(alone.columns) == ["recall", "recall_se"]
    assert alone.loc["history", "recall"] == 0.15
    assert rows.of_kind(_table(), PLAIN).index.tolist() == [""]
    assert rows.of_kind(_table(), "best trial").empty


def test_every_key_survives_its_name():
    for key in rows.keys(_table()):
        assert RowKey.of(key.name) == key


def test_tables_without_key_columns_are_read_from_their_names():
    """A run made before the key columns stored names only: the same rows come out."""
    old = rows.figures(_table())
    assert "kind" not in old
    pd.testing.assert_frame_equal(rows.of_kind(old, ALONE), rows.of_kind(_table(), ALONE))
    windows = pd.DataFrame({"recall": [0.1, 0.2]}, index=["valid", "valid_2"])
    assert rows.keys(windows) == [None, None]  # index entries that name no row
    assert rows.of_kind(windows, ALONE).empty


def test_unknown_kinds_fail():
    with pytest.raises(ValueError, match="unknown row kind"):
        RowKey("sources alone", "als")
