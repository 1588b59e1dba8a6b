"""Tests of the raw-data loader: exact interactions on a clean case, every cleaning done and counted, every known
kind of bad input rejected with a useful message, and the real holdout-dev case."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recsys.data
from recsys.data import REPORT_KEYS, DataValidationError, load_dataset, load_truth
from recsys.schema import (
    ACTIONS_FILE,
    CATALOG_FILE,
    MAPPING_FILE,
    NO_ITEM,
    RAW_FILES,
    TRUTH_FILE,
    VECTORS_FILE,
)
from recsys.schema import Columns as C

SHARED_DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
HOLDOUT_DEV = SHARED_DATA / "holdout-dev" / "onlineretail-2011-11-20"
CATALOG_SAMPLE = SHARED_DATA / "stokman_catalog_sample.csv"

ACTIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.large_string()),
        ("loc_user_id", pa.large_string()),
        ("action", pa.int64()),
        ("date", pa.timestamp("ns")),
        ("products", pa.list_(pa.string())),
        ("pageId", pa.int64()),
    ]
)
CATALOG_SCHEMA = pa.schema(
    [
        ("add_date", pa.timestamp("ns")),
        ("shop_id", pa.large_string()),
        ("product_id", pa.large_string()),
        ("category_id", pa.large_string()),
        ("price", pa.int64()),
        ("title", pa.large_string()),
        ("old_price", pa.int64()),
    ]
)
MAPPING_SCHEMA = pa.schema([("product_id", pa.large_string()), ("vector_id", pa.int64())])

BIG_PAGE = 4_260_000_000  # beyond int32, as in the real pageId

# Not in time order on purpose: the loader must sort (stably: the two 10:00 events keep their file order).
ACTIONS = [
    # user_id, loc_user_id, action, date, products, pageId
    ("u1", "L1", 7, "2024-09-07 10:00", [], 1),
    ("u2", "L2", 0, "2024-09-07 09:00", ["200"], 2),
    ("u1", "L1", 5, "2024-09-07 11:00", ["100", "300"], 3),
    ("u1", "L3", 2, "2024-09-07 10:00", ["300"], BIG_PAGE),
    ("u1", "L1", 9, "2024-09-08 08:00", [], 5),
]
CATALOG = [
    # add_date, shop_id, product_id, category_id, price, title, old_price
    ("2024-09-01 03:07:09", "350", "100", "10", 1000, "11 12 13", 1200),
    ("2024-09-02 03:07:09", "350", "200", "10", 2000, "21 22", 2000),
    ("2024-09-03 03:07:09", "350", "300", "20", 3000, "31 workhorse", 3500),
]
MAPPING = [("100", 2), ("200", 0), ("300", 1)]
VECTORS = np.arange(12, dtype=np.float32).reshape(3, 4)


def actions_table(rows=ACTIONS) -> pa.Table:
    """The action log in the exact real schema."""
    columns = list(zip(*rows, strict=True))
    columns[3] = pd.to_datetime(pd.Series(columns[3])).to_numpy()
    return pa.table(dict(zip(ACTIONS_SCHEMA.names, columns, strict=True)), schema=ACTIONS_SCHEMA)


def catalog_table(rows=CATALOG) -> pa.Table:
    """The catalog in the exact real schema (add_date a timestamp)."""
    columns = list(zip(*rows, strict=True))
    columns[0] = pd.to_datetime(pd.Series(columns[0])).to_numpy()
    return pa.table(dict(zip(CATALOG_SCHEMA.names, columns, strict=True)), schema=CATALOG_SCHEMA)


def mapping_table(rows=MAPPING) -> pa.Table:
    """The product -> vector row mapping in the exact real schema."""
    return pa.table(dict(zip(MAPPING_SCHEMA.names, zip(*rows, strict=True), strict=True)), schema=MAPPING_SCHEMA)


def replace(table: pa.Table, name: str, values, kind: pa.DataType | None = None) -> pa.Table:
    """``table`` with the column ``name`` replaced by ``values`` (of type ``kind``)."""
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, kind))


def write_raw(directory: Path, *, actions=None, catalog=None, mapping=None, vectors=VECTORS) -> Path:
    """Write the four raw files (the clean example unless given) into ``directory``; returns it.

    ``vectors`` is the array saved under ``arr_0``, or a dict of arrays saved under their own keys.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(actions_table() if actions is None else actions, directory / ACTIONS_FILE)
    pq.write_table(catalog_table() if catalog is None else catalog, directory / CATALOG_FILE)
    pq.write_table(mapping_table() if mapping is None else mapping, directory / MAPPING_FILE)
    if isinstance(vectors, dict):
        np.savez(directory / VECTORS_FILE, **vectors)
    else:
        np.savez(directory / VECTORS_FILE, vectors)
    return directory


def load(directory: Path, **files):
    return load_dataset(write_raw(directory, **files), progress=False)


# ----------------------------------------------------------------------------------------------------------
# Clean case
# ----------------------------------------------------------------------------------------------------------


def test_clean_case_gives_the_exact_interactions(tmp_path):
    data = load(tmp_path)

    expected = pd.DataFrame(
        {
            C.USER: [1, 0, 0, 0, 0, 0],
            C.ITEM: [1, NO_ITEM, 2, 0, 2, NO_ITEM],
            C.ACTION: [0, 7, 2, 5, 5, 9],
            C.TS: pd.to_datetime(
                ["2024-09-07 09:00", "2024-09-07 10:00", "2024-09-07 10:00"]
                + ["2024-09-07 11:00"] * 2
                + ["2024-09-08 08:00"]
            ),
            C.PAGE: [2, 1, BIG_PAGE, 3, 3, 5],
        }
    ).astype({C.USER: np.int32, C.ITEM: np.int32, C.ACTION: np.int8, C.TS: "datetime64[ns]", C.PAGE: np.int64})
    pd.testing.assert_frame_equal(data.interactions, expected)


def test_the_log_read_in_batches_gives_the_same_dataset(tiny_dataset_dir, tiny_dataset, monkeypatch):
    """The action log is read batch by batch into codes: any batch size gives the dataset of one whole read (users
    and products numbered in order of first appearance, the same loc_user_id tie-breaks, the same report)."""
    monkeypatch.setattr(recsys.data, "ACTIONS_BATCH_ROWS", 997)
    batched = load_dataset(tiny_dataset_dir, progress=False)
    assert pq.ParquetFile(tiny_dataset_dir / ACTIONS_FILE).metadata.num_rows > 10 * 997
    for name in ("interactions", "users", "items", "user_locs"):
        pd.testing.assert_frame_equal(getattr(batched, name), getattr(tiny_dataset, name))
    assert batched.report == tiny_dataset.report


def test_clean_case_tables(tmp_path):
    data = load(tmp_path)

    assert data.users[C.USER_ID].tolist() == ["u1", "u2"]
    assert data.users[C.LOC_USER_ID].tolist() == ["L1", "L2"]  # u1: L1 three times, L3 once
    assert data.user_locs.to_dict("list") == {
        C.USER: [0, 0, 1],
        C.LOC_USER_ID: ["L1", "L3", "L2"],
        C.TS: pd.to_datetime(["2024-09-07 10:00", "2024-09-07 10:00", "2024-09-07 09:00"]).tolist(),  # first seen
    }

    items = data.items
    assert items[C.PRODUCT_ID].tolist() == ["100", "200", "300"]
    assert items[C.CATEGORY].tolist() == [0, 0, 1]
    assert items[C.CATEGORY_ID].tolist() == ["10", "10", "20"]
    assert items[C.PRICE].tolist() == [1000, 2000, 3000]
    assert items[C.OLD_PRICE].tolist() == [1200, 2000, 3500]
    assert items[C.TITLE].tolist() == ["11 12 13", "21 22", "31 workhorse"]
    assert items[C.ADD_DATE].tolist() == list(pd.to_datetime([row[0] for row in CATALOG]))
    assert items[C.VECTOR_ROW].tolist() == [2, 0, 1]
    assert items[C.IN_CATALOG].all()
    assert items.dtypes[[C.CATEGORY, C.PRICE, C.OLD_PRICE, C.VECTOR_ROW]].tolist() == [
        np.int32,
        np.float32,
        np.float32,
        np.int32,
    ]
    np.testing.assert_array_equal(data.vectors[items[C.VECTOR_ROW]], VECTORS[[2, 0, 1]])
    assert data.vectors.dtype == np.float32


def test_clean_case_report_and_progress_log(tmp_path, caplog):
    write_raw(tmp_path)
    with caplog.at_level(logging.INFO, logger="recsys.data"):
        data = load_dataset(tmp_path)

    assert set(data.report) == set(REPORT_KEYS)
    counts = {"events": 5, "exploded_rows": 6, "users": 2, "items": 3, "empty_product_events": 2}
    assert data.report == {**dict.fromkeys(REPORT_KEYS, 0), **counts}
    messages = caplog.text
    assert "read actions" in messages and "build interactions" in messages
    assert "exploded_rows" in messages


# ----------------------------------------------------------------------------------------------------------
# Cleanings: each done and counted
# ----------------------------------------------------------------------------------------------------------


def test_junk_user_rows_are_dropped(tmp_path):
    data = load(tmp_path, actions=actions_table([*ACTIONS, ("/*", "L9", 0, "2024-09-07 12:00", ["100"], 9)]))

    assert data.report["actions_junk_user_rows"] == 1
    assert "/*" not in data.users[C.USER_ID].tolist()
    assert len(data.interactions) == 6 and 9 not in data.interactions[C.PAGE].tolist()


def test_junk_catalog_products_are_dropped(tmp_path):
    data = load(tmp_path, catalog=catalog_table([*CATALOG, ("2024-09-04 00:00:00", "350", "/*", "30", 5, "5", 5)]))

    assert data.report["catalog_junk_product_rows"] == 1
    assert data.items[C.PRODUCT_ID].tolist() == ["100", "200", "300"]


def test_duplicate_catalog_rows_keep_a_titled_then_latest_row(tmp_path):
    duplicates = [
        ("2024-09-20 00:00:00", "350", "200", "10", 2001, None, 2001),  # latest, but no title
        ("2024-09-10 00:00:00", "350", "200", "10", 2002, "22 23", 2002),  # titled and latest of the titled: kept
        ("2024-09-05 00:00:00", "350", "200", "10", 2003, "24", 2003),
    ]
    data = load(tmp_path, catalog=catalog_table([*CATALOG, *duplicates]))

    assert data.report["catalog_duplicate_rows"] == 3
    assert data.items[C.PRODUCT_ID].tolist() == ["100", "200", "300"]
    kept = data.items.set_index(C.PRODUCT_ID).loc["200"]
    assert (kept[C.PRICE], kept[C.TITLE]) == (2002, "22 23")
    assert kept[C.ADD_DATE] == pd.Timestamp("2024-09-10")
    assert data.report["catalog_missing_titles"] == 0


def test_missing_titles_become_empty_strings(tmp_path):
    catalog = replace(catalog_table(), "title", ["11 12 13", None, "  "], pa.large_string())
    data = load(tmp_path, catalog=catalog)

    assert data.report["catalog_missing_titles"] == 2
    assert data.items[C.TITLE].tolist() == ["11 12 13", "", ""]


def test_corrupted_add_date_becomes_nat(tmp_path):
    dates = ["2024-09-01 03:07:09", "2024-06-26 03:06:ellactive", "2024-05-17 15:(06:39:45)"]
    data = load(tmp_path, catalog=replace(catalog_table(), "add_date", dates, pa.large_string()))

    assert data.report["catalog_bad_add_date"] == 2
    assert data.items[C.ADD_DATE].iloc[0] == pd.Timestamp("2024-09-01 03:07:09")
    assert data.items[C.ADD_DATE].iloc[1:].isna().all()


def test_products_missing_from_catalog_are_kept_as_items(tmp_path):
    rows = [
        *ACTIONS,
        ("u2", "L2", 0, "2024-09-07 12:00", ["999", "100"], 6),
        ("u1", "L1", 1, "2024-09-07 13:00", ["999"], 7),
    ]
    data = load(tmp_path, actions=actions_table(rows), mapping=mapping_table([*MAPPING, ("999", 0), ("888", 1)]))

    assert data.report["products_missing_from_catalog"] == 1
    assert data.report["events_with_unknown_products"] == 2
    unknown = data.items.iloc[3]
    assert unknown[C.PRODUCT_ID] == "999" and not unknown[C.IN_CATALOG]
    assert unknown[C.CATEGORY] == -1 and unknown[C.TITLE] == "" and unknown[C.VECTOR_ROW] == 0
    assert pd.isna(unknown[C.PRICE]) and pd.isna(unknown[C.ADD_DATE]) and pd.isna(unknown[C.CATEGORY_ID])
    assert data.interactions[C.ITEM].tolist().count(3) == 2
    assert data.items.dtypes[C.PRICE] == np.float32 and pd.api.types.is_bool_dtype(data.items[C.IN_CATALOG])


def test_empty_and_junk_ids_inside_products_are_dropped(tmp_path):
    rows = [
        *ACTIONS[:4],
        ("u1", "L1", 0, "2024-09-08 08:00", ["", "100", None, "/*"], 5),
        ("u2", "L2", 6, "2024-09-08 09:00", [""], 6),
    ]
    data = load(tmp_path, actions=actions_table(rows))

    assert data.report["empty_product_ids"] == 3
    assert data.report["junk_product_ids"] == 1
    assert data.report["empty_product_events"] == 2  # the visit and the event with only ""
    tail = data.interactions.tail(2)
    assert tail[C.ITEM].tolist() == [0, NO_ITEM] and tail[C.PAGE].tolist() == [5, 6]


def test_null_products_and_integer_ids_are_read(tmp_path):
    products = pa.array([[], [200], [100, 300], [300], None], pa.list_(pa.int64()))
    data = load(tmp_path, actions=replace(actions_table(), "products", products))

    assert data.report["products_int_ids_cast"] == 4
    assert data.report["null_product_events"] == 1
    assert data.interactions[C.ITEM].tolist() == [1, NO_ITEM, 2, 0, 2, NO_ITEM]


def test_mapping_negative_and_duplicate_ids(tmp_path):
    mapping = mapping_table([("100", -1), ("100", 2), ("200", 0), ("200", 1)])
    data = load(tmp_path, mapping=mapping)

    assert data.report["mapping_negative_vector_ids"] == 1
    assert data.report["mapping_duplicate_products"] == 1
    assert data.items[C.VECTOR_ROW].tolist() == [2, 0, -1]
    assert data.report["items_without_vector"] == 1


def test_extra_columns_and_text_prices(tmp_path):
    catalog = replace(catalog_table(), "price", ["1000", "n/a", None], pa.large_string())
    catalog = catalog.append_column("brand", pa.array(["a", "b", "c"]))
    data = load(tmp_path, catalog=catalog)

    assert data.report["extra_columns"] == 1
    assert data.report["catalog_bad_price"] == 1
    assert data.items[C.PRICE].iloc[0] == 1000 and data.items[C.PRICE].iloc[1:].isna().all()


# ----------------------------------------------------------------------------------------------------------
# The bad-input catalogue: every kind of bad input is either cleaned and counted in the report, or refused with
# a DataValidationError naming the file, the column and offending values (docs/reliability.md lists both)
# ----------------------------------------------------------------------------------------------------------

JUNK_USER_EVENT = ("/*", "L9", 0, "2024-09-07 12:00", ["100"], 9)
NAN_USER_EVENT = (None, "L9", 0, "2024-09-07 12:00", ["100"], 9)
EXTRA_CATALOG_ROW = ("2024-09-04 00:00:00", "350", "/*", "30", 5, "5", 5)
DUPLICATE_CATALOG_ROW = ("2024-09-05 00:00:00", "350", "200", "10", 2001, "21 22", 2001)

#: (files given to write_raw, report counts expected): one row per kind of dirt the loader repairs.
CLEANED = [
    pytest.param(
        {"actions": actions_table([*ACTIONS, JUNK_USER_EVENT])}, {"actions_junk_user_rows": 1}, id="junk-user"
    ),
    pytest.param({"actions": actions_table([*ACTIONS, NAN_USER_EVENT])}, {"actions_junk_user_rows": 1}, id="nan-user"),
    pytest.param(
        {"actions": replace(actions_table(), "user_id", ["u1", "", "u1", "u1", "u1"], pa.string())},
        {"actions_junk_user_rows": 1},
        id="empty-user",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "loc_user_id", ["/*", "", None, "L1", "L1"], pa.string())},
        {"actions_junk_loc_user_rows": 2},
        id="junk-loc-user",
    ),
    pytest.param(
        {"catalog": catalog_table([*CATALOG, EXTRA_CATALOG_ROW])}, {"catalog_junk_product_rows": 1}, id="junk-product"
    ),
    pytest.param(
        {"actions": replace(actions_table(), "products", [[], ["200", "/*"], ["100"], [""], None])},
        {"junk_product_ids": 1, "empty_product_ids": 1, "null_product_events": 1, "empty_product_events": 3},
        id="junk-and-empty-ids-in-products",
    ),
    pytest.param(
        {"catalog": catalog_table([*CATALOG, DUPLICATE_CATALOG_ROW, DUPLICATE_CATALOG_ROW])},
        {"catalog_duplicate_rows": 2},
        id="duplicate-catalog-rows",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "title", ["11", None, " "], pa.string())},
        {"catalog_missing_titles": 2},
        id="missing-title",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "add_date", ["2024-09-01", "2024-06-26 03:06:ellactive", None])},
        {"catalog_bad_add_date": 1, "text_date_columns_parsed": 1},
        id="corrupted-add-date",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "add_date", [None] * 3, pa.null())},
        {"catalog_bad_add_date": 0},
        id="add-date-all-missing",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "date", [f"2024-09-07 1{i}:00" for i in range(5)], pa.string())},
        {"text_date_columns_parsed": 1},
        id="log-dates-as-text",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "user_id", [1, 2, 1, 1, 1], pa.int64())},
        {"int_id_columns_cast": 1},
        id="integer-user-ids",
    ),
    pytest.param(
        {"catalog": replace(replace(catalog_table(), "product_id", [100, 200, 300]), "category_id", [10, 10, 20])},
        {"int_id_columns_cast": 2, "products_missing_from_catalog": 0},
        id="integer-catalog-ids",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "products", [[], [200], [100, 300], [300], []], pa.list_(pa.int64()))},
        {"products_int_ids_cast": 4, "products_missing_from_catalog": 0},
        id="integer-ids-in-products",
    ),
    pytest.param(
        {"actions": actions_table([*ACTIONS, ("u2", "L2", 0, "2024-09-07 12:00", ["999"], 6)])},
        {"products_missing_from_catalog": 1, "events_with_unknown_products": 1, "items_without_vector": 1},
        id="product-missing-from-catalog",
    ),
    pytest.param({"mapping": mapping_table(MAPPING[:2])}, {"items_without_vector": 1}, id="product-without-vector"),
    pytest.param(
        {"mapping": mapping_table([("100", -1), *MAPPING[1:]])},
        {"mapping_negative_vector_ids": 1, "items_without_vector": 1},
        id="negative-vector-id",
    ),
    pytest.param(
        {"mapping": mapping_table([*MAPPING, ("100", 0)])}, {"mapping_duplicate_products": 1}, id="mapping-duplicate"
    ),
    pytest.param(
        {"mapping": mapping_table([*MAPPING, ("/*", 0), ("", 1), (None, 0)])},
        {"mapping_junk_product_rows": 3},
        id="mapping-junk-product",
    ),
    pytest.param(
        {"vectors": np.where(np.arange(3)[:, None] == 1, np.nan, VECTORS)},
        {"vectors_nonfinite_rows": 1, "items_without_vector": 1},
        id="nan-vector-row",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "products", [[]] * 5)},
        {"empty_product_events": 5, "exploded_rows": 5},
        id="empty-products",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "price", ["1000", "n/a", None], pa.string())},
        {"catalog_bad_price": 1},
        id="text-prices",
    ),
    pytest.param(
        {"catalog": catalog_table().append_column("brand", pa.array(["a", "b", "c"]))},
        {"extra_columns": 1},
        id="extra-column",
    ),
]


@pytest.mark.parametrize(("files", "counts"), CLEANED)
def test_bad_input_is_cleaned_and_counted(tmp_path, files, counts):
    data = load(tmp_path, **files)

    for name, count in counts.items():
        assert data.report[name] == count, name
    assert set(data.report) == set(REPORT_KEYS)
    assert not set(data.users[C.USER_ID]) & {"/*", "", None}
    assert not set(data.items[C.PRODUCT_ID]) & {"/*", "", None}
    assert data.items[C.PRODUCT_ID].is_unique
    assert np.isfinite(data.vectors[data.items[C.VECTOR_ROW][data.items[C.VECTOR_ROW] >= 0]]).all()


def without(table: pa.Table, name: str) -> pa.Table:
    return table.drop_columns([name])


#: (files given to write_raw, files then deleted, fragments of the message: file, column, offending values).
REFUSED = [
    pytest.param({}, [ACTIONS_FILE], [ACTIONS_FILE, "missing files"], id="missing-actions-file"),
    pytest.param({}, [CATALOG_FILE], [CATALOG_FILE, "missing files"], id="missing-catalog-file"),
    pytest.param({}, [MAPPING_FILE], [MAPPING_FILE, "missing files"], id="missing-mapping-file"),
    pytest.param({}, [VECTORS_FILE], [VECTORS_FILE, "missing files"], id="missing-vectors-file"),
    pytest.param(
        {"actions": without(actions_table(), "pageId")}, [], [ACTIONS_FILE, "missing columns pageId"], id="no-page"
    ),
    pytest.param(
        {"catalog": without(catalog_table(), "title")}, [], [CATALOG_FILE, "missing columns title"], id="no-title"
    ),
    pytest.param(
        {"mapping": without(mapping_table(), "vector_id")},
        [],
        [MAPPING_FILE, "missing columns vector_id"],
        id="no-vector-id",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "user_id", [1.5, 2.0, 1.5, 1.5, None])},
        [],
        [ACTIONS_FILE, "'user_id'", "string ids", "1.5"],
        id="float-user-ids",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "title", [11, 21, 31])},
        [],
        [CATALOG_FILE, "'title'", "text", "11"],
        id="integer-titles",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "date", [1, 2, 3, 4, 5])},
        [],
        [ACTIONS_FILE, "'date'", "datetimes", "int64"],
        id="integer-dates",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "add_date", [1.5, 2.5, 3.5])},
        [],
        [CATALOG_FILE, "'add_date'", "datetimes", "1.5"],
        id="float-add-dates",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "date", ["2024-09-07 10:00"] * 4 + ["yesterday"], pa.string())},
        [],
        [ACTIONS_FILE, "'date'", "yesterday"],
        id="unparseable-log-date",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "date", [None] + ["2024-09-07 10:00"] * 4, pa.string())},
        [],
        [ACTIONS_FILE, "'date'", "1 missing dates"],
        id="missing-log-date",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "action", [7, 0, 11, 2, 11])},
        [],
        [ACTIONS_FILE, "'action'", "11 (2 rows)"],
        id="unknown-action-code",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "action", [7, 0, -1, 2, 9])},
        [],
        [ACTIONS_FILE, "'action'", "-1 (1 rows)"],
        id="negative-action-code",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "action", ["view", "0", "5", "2", "9"])},
        [],
        [ACTIONS_FILE, "'action'", "'view'"],
        id="text-action-codes",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "action", [7.0, None, 5.0, 2.0, 9.0], pa.float64())},
        [],
        [ACTIONS_FILE, "'action'", "1 missing values"],
        id="missing-action",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "products", ["[]", "['200']", "[]", "['300']", "[]"])},
        [],
        [ACTIONS_FILE, "'products'", "['200']"],
        id="products-not-lists",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "products", [[], [2.5], [], [], []], pa.list_(pa.float64()))},
        [],
        [ACTIONS_FILE, "'products'", "2.5"],
        id="float-ids-in-products",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "pageId", ["1", "2", "page-x", "4", "5"])},
        [],
        [ACTIONS_FILE, "'pageId'", "page-x"],
        id="text-page",
    ),
    pytest.param(
        {"actions": replace(actions_table(), "pageId", [1.0, 2.0, 3.5, 4.0, 5.0])},
        [],
        [ACTIONS_FILE, "'pageId'", "3.5"],
        id="fractional-page",
    ),
    pytest.param({"actions": actions_table().slice(0, 0)}, [], [ACTIONS_FILE, "no events"], id="empty-log"),
    pytest.param(
        {"actions": replace(actions_table(), "user_id", ["/*", None, "", "/*", "/*"], pa.string())},
        [],
        [ACTIONS_FILE, "no events", "'user_id'", "'/*'", "None"],
        id="only-junk-users",
    ),
    pytest.param(
        {"catalog": replace(catalog_table(), "product_id", ["/*", "/*", None], pa.string())},
        [],
        [CATALOG_FILE, "no products", "'product_id'", "'/*'"],
        id="only-junk-catalog-products",
    ),
    pytest.param(
        {"mapping": mapping_table([("a100", 0), ("a200", 1)])},
        [],
        [MAPPING_FILE, "'product_id'", "'a100'", "'100'"],
        id="no-product-has-a-vector",
    ),
    pytest.param({"vectors": {"embeddings": VECTORS}}, [], [VECTORS_FILE, "'arr_0'", "embeddings"], id="no-arr_0"),
    pytest.param({"vectors": VECTORS.ravel()}, [], [VECTORS_FILE, "'arr_0'", "2-D", "(12,)"], id="vectors-1d"),
    pytest.param(
        {"vectors": VECTORS.astype(np.int64)}, [], [VECTORS_FILE, "'arr_0'", "float", "int64"], id="integer-vectors"
    ),
    pytest.param(
        {"vectors": VECTORS[:2]}, [], [MAPPING_FILE, "'vector_id'", "beyond the 2 rows", "2"], id="too-few-vector-rows"
    ),
    pytest.param(
        {"mapping": mapping_table([*MAPPING, ("400", 7)])},
        [],
        [MAPPING_FILE, "'vector_id'", "beyond the 3 rows", "7"],
        id="vector-id-beyond-vectors",
    ),
    pytest.param(
        {"mapping": replace(mapping_table(), "vector_id", [2, None, 1], pa.int64())},
        [],
        [MAPPING_FILE, "'vector_id'", "1 missing values"],
        id="missing-vector-id",
    ),
]


@pytest.mark.parametrize(("files", "remove", "expected"), REFUSED)
def test_bad_input_is_refused(tmp_path, files, remove, expected):
    write_raw(tmp_path, **files)
    for name in remove:
        (tmp_path / name).unlink()
    with pytest.raises(DataValidationError) as error:
        load_dataset(tmp_path, progress=False)
    for fragment in expected:
        assert fragment in str(error.value)


def test_missing_directory(tmp_path):
    with pytest.raises(DataValidationError, match="nowhere"):
        load_dataset(tmp_path / "nowhere", progress=False)


def test_missing_files_are_listed(tmp_path):
    write_raw(tmp_path)
    (tmp_path / VECTORS_FILE).unlink()
    (tmp_path / MAPPING_FILE).unlink()
    with pytest.raises(DataValidationError) as error:
        load_dataset(tmp_path, progress=False)
    message = str(error.value)
    assert str(tmp_path) in message and VECTORS_FILE in message and MAPPING_FILE in message
    assert f"missing files {MAPPING_FILE}, {VECTORS_FILE}" in message


@pytest.mark.parametrize("name", RAW_FILES)
def test_unreadable_file(tmp_path, name):
    write_raw(tmp_path)
    (tmp_path / name).write_bytes(b"not a real file")
    with pytest.raises(DataValidationError, match=f"{name}: cannot read"):
        load_dataset(tmp_path, progress=False)


# ----------------------------------------------------------------------------------------------------------
# Truth and the real holdout-dev case
# ----------------------------------------------------------------------------------------------------------


def test_load_truth(tmp_path):
    path = tmp_path / TRUTH_FILE
    path.parent.mkdir()
    pq.write_table(pa.table({"user_id": ["u1", "u1", "u2"], "product_id": [100, 100, 200]}), path)

    truth = load_truth(tmp_path)

    assert truth.to_dict("list") == {"user_id": ["u1", "u2"], "product_id": ["100", "200"]}
    pq.write_table(pa.table({"user_id": ["u1"]}), path)
    with pytest.raises(DataValidationError, match="truth.parquet: missing columns product_id"):
        load_truth(path)


@pytest.mark.skipif(not HOLDOUT_DEV.is_dir(), reason="shared holdout-dev data not available")
def test_holdout_dev_loads():
    data = load_dataset(HOLDOUT_DEV, progress=False)

    assert len(data.interactions) == 158_462
    assert len(data.users) == 2_947
    assert (data.interactions[C.ACTION] == 5).all()
    assert data.interactions[C.TS].is_monotonic_increasing
    assert data.report["products_missing_from_catalog"] == 0
    assert (data.items[C.VECTOR_ROW] >= 0).all()
    truth = load_truth(HOLDOUT_DEV)
    assert list(truth.columns) == ["user_id", "product_id"] and len(truth) > 0


@pytest.mark.skipif(not CATALOG_SAMPLE.is_file(), reason="shared catalog sample not available")
def test_real_catalog_sample_loads(tmp_path):
    sample = pd.read_csv(CATALOG_SAMPLE, dtype=str, keep_default_na=False)  # all text, as in the sample
    mapping = mapping_table([*MAPPING, (sample["product_id"].iloc[0], 0)])  # else no catalog product has a vector
    data = load(tmp_path, catalog=pa.Table.from_pandas(sample, preserve_index=False), mapping=mapping)

    assert data.report["catalog_bad_add_date"] == 7
    assert data.report["catalog_duplicate_rows"] == 3
    assert data.report["catalog_bad_price"] == data.report["catalog_bad_old_price"] == 0
    assert data.report["products_missing_from_catalog"] == 3  # the clean log's products are not in the sample
    assert len(data.items) == 4_997 + 3
    assert data.items[C.TITLE].str.contains("workhorse powerequipment").any()
