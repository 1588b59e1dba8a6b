"""Property-based tests of the raw-data loader: small generated files, dirty in every known way and sometimes of
the wrong type, written to parquet.

Whatever the files hold, ``load_dataset`` either returns a dataset whose report counts add up and whose tables
satisfy the internal schema, or raises ``DataValidationError`` naming one of the files; never anything else.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys.data
from recsys.data import REPORT_KEYS, DataValidationError, load_dataset
from recsys.schema import (
    ACTION_CODES,
    ACTIONS_FILE,
    CATALOG_FILE,
    JUNK_ID,
    MAPPING_FILE,
    NO_ITEM,
    RAW_FILES,
    VECTORS_FILE,
)
from recsys.schema import Columns as C

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MISSING = ("", JUNK_ID, None)  # what the loader treats as no id
USER_IDS = st.sampled_from(["u1", "u2", "u3", "u4", "u5", *MISSING])
LOC_IDS = st.sampled_from(["L1", "L2", *MISSING])
PRODUCT_IDS = st.sampled_from(["100", "200", "300", "999", *MISSING])
START = pd.Timestamp("2024-09-07")
#: departures from the real schema the loader converts (and counts) ...
CLEANABLE = ["real", "real", "int-users", "text-dates", "int-products"]
#: ... and those it refuses
REFUSABLE = ["bad-text-date", "float-actions", "bad-codes", "empty-log"]
DATES = st.integers(0, 22 * 24 * 3600 - 1).map(lambda s: START + pd.Timedelta(seconds=s))


def lists(elements, n: int):
    return st.lists(elements, min_size=n, max_size=n)


@st.composite
def action_tables(draw, cleanable: bool) -> tuple[pa.Table, list[tuple]]:
    """The action log and its rows (user_id, products) as written; when ``cleanable``, the first event is a usable
    user's view of product '100' and every departure from the real schema is one the loader converts."""
    variant = draw(st.sampled_from(CLEANABLE if cleanable else CLEANABLE + REFUSABLE))
    n = 0 if variant == "empty-log" else draw(st.integers(1, 12))
    users = draw(lists(USER_IDS, n))
    products = draw(lists(st.none() | st.lists(PRODUCT_IDS, max_size=3), n))
    if cleanable:
        users[0], products[0] = "u1", ["100"]
    actions = draw(lists(st.sampled_from([*ACTION_CODES, -1, 10] if variant == "bad-codes" else ACTION_CODES), n))
    dates = draw(lists(DATES, n))
    columns = {
        "user_id": pa.array(users, pa.large_string()),
        "loc_user_id": pa.array(draw(lists(LOC_IDS, n)), pa.large_string()),
        "action": pa.array(actions, pa.int64()),
        "date": pa.array(dates, pa.timestamp("ns")),
        "products": pa.array(products, pa.list_(pa.string())),
        "pageId": pa.array(draw(lists(st.integers(0, 2**40), n)), pa.int64()),
    }
    if variant == "int-users":
        users = [None if u in MISSING else int(u[1:]) for u in users]
        columns["user_id"] = pa.array(users, pa.int64())
    elif variant in ("text-dates", "bad-text-date"):
        text = [f"{d:%Y-%m-%d %H:%M:%S}" for d in dates]
        if variant == "bad-text-date":
            text[draw(st.integers(0, n - 1))] = "2024-09-10 03:06:ellactive"
        columns["date"] = pa.array(text, pa.large_string())
    elif variant == "int-products":
        products = [None if p is None else [None if i in MISSING else int(i) for i in p] for p in products]
        columns["products"] = pa.array(products, pa.list_(pa.int64()))
    elif variant == "float-actions":
        columns["action"] = pa.array([float(a) if draw(st.booleans()) else np.nan for a in actions])
    return pa.table(columns), list(zip(users, products, strict=True))


@st.composite
def catalog_tables(draw, cleanable: bool) -> tuple[pa.Table, list]:
    """The catalog (junk and repeated product ids, missing titles, corrupted dates) and its product ids; when
    ``cleanable``, the first row is product '100'."""
    n = draw(st.integers(1, 8))
    ids = draw(lists(st.sampled_from(["100", "200", "300", "400", *MISSING]), n))
    if cleanable:
        ids[0] = "100"
    dates = draw(lists(DATES, n))
    add_date = pa.array(dates, pa.timestamp("ns"))
    if draw(st.booleans()):  # text dates, some corrupted as in the real sample
        add_date = pa.array([draw(st.sampled_from([f"{d}", "2024-06-26 03:06:ellactive", None])) for d in dates])
    table = pa.table(
        {
            "add_date": add_date,
            "shop_id": pa.array(["350"] * n, pa.large_string()),
            "product_id": pa.array(ids, pa.large_string()),
            "category_id": pa.array(draw(lists(st.sampled_from(["10", "20", None]), n))),
            "price": pa.array(draw(lists(st.none() | st.integers(30, 80_000), n)), pa.int64()),
            "title": pa.array(draw(lists(st.sampled_from(["1 2", "3 workhorse", "", " ", None]), n))),
            "old_price": pa.array(draw(lists(st.integers(30, 80_000), n)), pa.int64()),
        }
    )
    return table, ids


@st.composite
def vector_files(draw, cleanable: bool) -> tuple[pa.Table, np.ndarray]:
    """The mapping (junk, repeated and negative ids) and the vectors (NaN rows); when ``cleanable``, the first row
    maps product '100' to the finite row 0, else vector ids may also point beyond the vectors."""
    n_vectors = draw(st.integers(1, 4))
    vectors = np.arange(n_vectors * 2, dtype=np.float32).reshape(n_vectors, 2) + 1
    for row in draw(st.sets(st.integers(int(cleanable), n_vectors - 1), max_size=1)) if n_vectors > 1 else ():
        vectors[row] = np.nan
    n = draw(st.integers(1, 6))
    ids = draw(lists(st.sampled_from(["100", "200", "300", "400", "999", *MISSING]), n))
    rows = draw(lists(st.integers(-1, n_vectors - int(cleanable)), n))  # -1: no vector; n_vectors: out of range
    if cleanable:
        ids[0], rows[0] = "100", 0
    mapping = pa.table({"product_id": pa.array(ids, pa.large_string()), "vector_id": pa.array(rows, pa.int64())})
    return mapping, vectors


def load_generated(actions: pa.Table, catalog: pa.Table, mapping: pa.Table, vectors: np.ndarray):
    """Write the four files to a fresh folder and load them: the dataset, or the DataValidationError."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        pq.write_table(actions, directory / ACTIONS_FILE)
        pq.write_table(catalog, directory / CATALOG_FILE)
        pq.write_table(mapping, directory / MAPPING_FILE)
        np.savez(directory / VECTORS_FILE, vectors)
        try:
            return load_dataset(directory, progress=False)
        except DataValidationError as error:  # anything else fails the test
            return error


def usable(value) -> bool:
    return value not in MISSING


def check_consistent(data, action_rows: list[tuple], catalog_ids: list) -> None:
    """The report counts add up (recomputed from the rows as written) and the tables satisfy the internal schema."""
    report, interactions, items, users = data.report, data.interactions, data.items, data.users
    kept = [(user, products) for user, products in action_rows if usable(user)]
    kept_ids = [[i for i in products or [] if usable(i)] for _, products in kept]
    assert set(report) == set(REPORT_KEYS)
    assert report["events"] + report["actions_junk_user_rows"] == len(action_rows)
    assert report["events"] == len(kept)
    assert report["users"] == len(users) == len({str(user) for user, _ in kept})
    assert report["null_product_events"] == sum(products is None for _, products in kept)
    assert report["junk_product_ids"] == sum(i == JUNK_ID for _, products in kept for i in products or [])
    assert report["empty_product_ids"] == sum(i in ("", None) for _, products in kept for i in products or [])
    assert report["empty_product_events"] == sum(not ids for ids in kept_ids)
    assert report["exploded_rows"] == len(interactions) == sum(max(len(ids), 1) for ids in kept_ids)
    in_catalog = {i for i in catalog_ids if usable(i)}
    log_only = {str(i) for ids in kept_ids for i in ids} - in_catalog
    assert report["catalog_junk_product_rows"] == sum(not usable(i) for i in catalog_ids)
    assert report["catalog_duplicate_rows"] == len(catalog_ids) - report["catalog_junk_product_rows"] - len(in_catalog)
    assert report["products_missing_from_catalog"] == len(log_only)
    assert report["items"] == len(items) == len(in_catalog) + len(log_only)
    assert report["events_with_unknown_products"] == int((interactions[C.ITEM] >= len(in_catalog)).sum())
    assert report["items_without_vector"] == int((items[C.VECTOR_ROW] < 0).sum())
    assert report["catalog_missing_titles"] == int((items[C.TITLE][: len(in_catalog)] == "").sum())

    # the cleaned tables satisfy the internal schema
    assert interactions.dtypes.to_dict() == {
        C.USER: np.int32,
        C.ITEM: np.int32,
        C.ACTION: np.int8,
        C.TS: np.dtype("datetime64[ns]"),
        C.PAGE: np.int64,
    }
    assert interactions[C.TS].is_monotonic_increasing
    assert interactions[C.USER].between(0, len(users) - 1).all()
    assert interactions[C.ITEM].between(NO_ITEM, len(items) - 1).all()
    assert interactions[C.ACTION].isin(ACTION_CODES).all()
    assert users[C.USER_ID].is_unique and users[C.USER_ID].map(usable).all()
    assert items[C.PRODUCT_ID].is_unique and items[C.PRODUCT_ID].map(usable).all()
    assert items[C.IN_CATALOG].tolist() == [True] * len(in_catalog) + [False] * len(log_only)
    assert items[C.TITLE].map(lambda title: isinstance(title, str)).all()
    rows = items[C.VECTOR_ROW]
    assert rows.between(-1, len(data.vectors) - 1).all() and (rows[items[C.IN_CATALOG]] >= 0).any()
    assert np.isfinite(data.vectors).all() and data.vectors.dtype == np.float32


@SETTINGS
@given(action_tables(cleanable=True), catalog_tables(cleanable=True), vector_files(cleanable=True))
def test_dirty_files_of_known_kinds_load_with_counts_that_add_up(actions, catalog, vectors):
    (action_rows_table, action_rows), (catalog_table, catalog_ids), (mapping, vector_array) = actions, catalog, vectors
    data = load_generated(action_rows_table, catalog_table, mapping, vector_array)

    assert not isinstance(data, DataValidationError), str(data)
    check_consistent(data, action_rows, catalog_ids)
    with mock.patch.object(recsys.data, "ACTIONS_BATCH_ROWS", 2):  # read two rows at a time: the same dataset
        assert_same_dataset(load_generated(action_rows_table, catalog_table, mapping, vector_array), data)


def assert_same_dataset(got, expected) -> None:
    for name in ("interactions", "users", "items", "user_locs"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))
    assert got.report == expected.report
    np.testing.assert_array_equal(got.vectors, expected.vectors)


@SETTINGS
@given(action_tables(cleanable=False), catalog_tables(cleanable=False), vector_files(cleanable=False))
def test_any_files_load_consistently_or_raise_a_validation_error(actions, catalog, vectors):
    (action_rows_table, action_rows), (catalog_table, catalog_ids), (mapping, vector_array) = actions, catalog, vectors
    data = load_generated(action_rows_table, catalog_table, mapping, vector_array)

    if isinstance(data, DataValidationError):
        assert any(name in str(data) for name in RAW_FILES), str(data)
    else:
        check_consistent(data, action_rows, catalog_ids)
