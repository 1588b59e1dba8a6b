"""Load, validate and clean the four raw files into a :class:`~recsys.dataset.Dataset`.

The loader is strict about what it does not understand and explicit about what it repairs: an input of a known bad
kind raises :class:`DataValidationError` naming the file, the column and a few offending values, and every repair
of a defect the real data is known to contain (junk ids, duplicate catalog rows, missing titles, corrupted dates,
products absent from the catalog, ...) is counted in ``Dataset.report`` under the names of :data:`REPORT_KEYS`.

The action log is exploded with pyarrow compute kernels and numpy (no per-row Python), so the real ~6.9M-row log
loads in seconds.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.dataset import Dataset
from recsys.schema import (
    ACTION_CODES,
    ACTION_DTYPE,
    ACTIONS_FILE,
    CATALOG_FILE,
    ITEM_DTYPE,
    JUNK_ID,
    MAPPING_FILE,
    NO_ITEM,
    RAW_ACTIONS_COLUMNS,
    RAW_CATALOG_COLUMNS,
    RAW_FILES,
    RAW_MAPPING_COLUMNS,
    RAW_TRUTH_COLUMNS,
    TRUTH_FILE,
    USER_DTYPE,
    VECTORS_FILE,
    VECTORS_KEY,
    DataValidationError,
)
from recsys.schema import Columns as C

logger = logging.getLogger("recsys.data")

#: Every count of ``Dataset.report``, with what it counts.
REPORT_KEYS: dict[str, str] = {
    "events": "action rows kept",
    "exploded_rows": "interaction rows (one per event and product; an event without products counts once)",
    "users": "distinct users",
    "items": "items: the catalog products, then the products seen only in the logs",
    "extra_columns": "undocumented columns in the files, ignored",
    "int_id_columns_cast": "id columns (user_id, loc_user_id, product_id, category_id) stored as integers, read as "
    "strings",
    "text_date_columns_parsed": "date columns stored as text, parsed as ISO 8601 (date, add_date)",
    "actions_junk_user_rows": "action rows with a junk ('/*'), empty or missing user_id, dropped",
    "actions_junk_loc_user_rows": "action rows with a junk ('/*') or empty loc_user_id, set to missing",
    "null_product_events": "events whose products value is null instead of an array, read as empty",
    "products_int_ids_cast": "integer product ids inside products arrays, cast to strings",
    "empty_product_ids": "empty or null ids inside products arrays, dropped",
    "junk_product_ids": "junk ('/*') ids inside products arrays, dropped",
    "empty_product_events": "events without any product, kept as one row with item NO_ITEM",
    "products_missing_from_catalog": "distinct product ids of the logs absent from the catalog, kept as items "
    "with in_catalog=False",
    "events_with_unknown_products": "exploded rows whose product is absent from the catalog",
    "catalog_junk_product_rows": "catalog rows with a junk ('/*'), empty or missing product_id, dropped",
    "catalog_bad_add_date": "catalog rows with an unparseable add_date, set to NaT",
    "catalog_duplicate_rows": "extra catalog rows of a repeated product_id, dropped (kept: a titled row, then "
    "the latest add_date)",
    "catalog_missing_titles": "catalog products without a title, set to ''",
    "catalog_bad_price": "unparseable catalog prices, set to NaN",
    "catalog_bad_old_price": "unparseable catalog old prices, set to NaN",
    "mapping_junk_product_rows": "mapping rows with a junk ('/*'), empty or missing product_id, ignored",
    "mapping_negative_vector_ids": "mapping rows with a negative vector_id, ignored",
    "mapping_duplicate_products": "extra mapping rows of a repeated product_id, dropped (first kept)",
    "vectors_nonfinite_rows": "embedding rows with NaN or infinite values, set to zeros and mapped to no product",
    "items_without_vector": "items without an embedding (vector_row -1)",
}

_MISSING_IDS = ("", JUNK_ID)
_N_EXAMPLES = 5


def load_dataset(data_dir: str | Path = "data", *, progress: bool = True) -> Dataset:
    """Load, validate and clean the four raw files of ``data_dir`` into a :class:`Dataset`.

    Args:
        data_dir: directory holding the files of ``schema.RAW_FILES``.
        progress: log the duration of each stage at INFO level (logger ``recsys.data``).

    Returns:
        The dataset; ``report`` counts every cleaning done (see :data:`REPORT_KEYS`) and is logged at INFO.

    Raises:
        DataValidationError: a file is missing or unreadable, or a column has a wrong name, type or value.
    """
    data_dir = Path(data_dir)
    check_files(data_dir)
    report = dict.fromkeys(REPORT_KEYS, 0)
    stage = _stage_timer(progress)

    with stage("read actions"):
        actions = _read_actions(data_dir / ACTIONS_FILE, report)
    with stage("read catalog"):
        catalog = _read_catalog(data_dir / CATALOG_FILE, report)
    with stage("read vector mapping and vectors"):
        vectors, nonfinite = _read_vectors(data_dir / VECTORS_FILE, report)
        mapping = _read_mapping(data_dir / MAPPING_FILE, len(vectors), nonfinite, report)
    with stage("explode products"):
        event_of_row, product_of_row = _explode_products(actions, report)
    with stage("build items"):
        items, item_of_row = _build_items(catalog, mapping, product_of_row, report)
        _check_some_vectors(items, mapping, data_dir)
    with stage("build users"):
        users, user_locs, user_codes = _build_users(actions, report)
    with stage("build interactions"):
        interactions = _build_interactions(actions, user_codes, event_of_row, item_of_row)

    report["exploded_rows"] = len(interactions)
    logger.info("loaded %s:\n%s", data_dir, format_report(report))
    return Dataset(
        interactions=interactions, users=users, items=items, vectors=vectors, report=report, user_locs=user_locs
    )


def load_truth(path: str | Path) -> pd.DataFrame:
    """Read a ground-truth file (``user_id``, ``product_id``: what each user bought in the target window).

    Args:
        path: the parquet file, or a data directory holding it as ``schema.TRUTH_FILE``.

    Returns:
        A frame with string columns ``user_id`` and ``product_id``, one row per distinct pair.

    Raises:
        DataValidationError: the file is missing or unreadable, or a column is missing, of a wrong type or null.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_FILE
    if not path.is_file():
        raise DataValidationError(f"{path}: truth file not found")
    table = _read_parquet(path, RAW_TRUTH_COLUMNS, {})
    truth = pd.DataFrame({name: _string_ids(table[name], path, name).to_pandas() for name in RAW_TRUTH_COLUMNS})
    for name in RAW_TRUTH_COLUMNS:
        missing = int(truth[name].isna().sum())
        if missing:
            raise DataValidationError(f"{path}: column '{name}': {missing} missing values")
    duplicates = int(truth.duplicated().sum())
    if duplicates:
        logger.info("%s: dropped %d duplicate (user_id, product_id) rows", path, duplicates)
        truth = truth.drop_duplicates(ignore_index=True)
    return truth


#: Report entries that describe the data rather than a cleaning (shown even when zero).
VOLUME_KEYS = ("events", "exploded_rows", "users", "items")


def format_report(report: dict[str, int], all_counts: bool = False) -> str:
    """The report as aligned ``name: count  (meaning)`` lines: the volumes and every cleaning that happened
    (``all_counts``: the zero counts too)."""
    shown = {k: v for k, v in report.items() if all_counts or k in VOLUME_KEYS or v}
    width = max(map(len, shown), default=0)
    lines = [f"  {name:<{width}} {count:>10,}  ({REPORT_KEYS.get(name, '')})" for name, count in shown.items()]
    if len(shown) < len(report):
        lines.append(f"  ({len(report) - len(shown)} other checks found nothing to clean)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------
# Reading and validating
# ----------------------------------------------------------------------------------------------------------


def _stage_timer(progress: bool):
    """A context manager factory logging the duration of a named stage when ``progress`` is set."""

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if progress:
            logger.info("%s: %.2f s", name, time.perf_counter() - start)

    return stage


def check_files(data_dir: str | Path) -> None:
    """Raise :class:`DataValidationError` naming what is missing unless ``data_dir`` holds the four raw files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataValidationError(f"data directory {data_dir} not found; it must hold {', '.join(RAW_FILES)}")
    missing = [name for name in RAW_FILES if not (data_dir / name).exists()]
    if missing:
        raise DataValidationError(f"{data_dir}: missing files {', '.join(missing)} (expected {', '.join(RAW_FILES)})")


def _examples(values) -> str:
    """A few distinct values, quoted, for an error message."""
    if isinstance(values, np.ndarray):
        values = values[:1000].tolist()
    unique = list(dict.fromkeys(map(repr, islice(values, 1000))))
    return ", ".join(unique[:_N_EXAMPLES]) + (", ..." if len(unique) > _N_EXAMPLES else "")


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _junk_ids(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """Mask of the junk ('/*'), empty and missing ids."""
    return pc.or_(pc.is_in(ids, pa.array(_MISSING_IDS, ids.type)), pc.is_null(ids))


def _read_parquet(
    path: Path, required: tuple[str, ...], report: dict[str, int], *, read: tuple[str, ...] | None = None
) -> pa.Table:
    """Read the columns ``read`` (default: all ``required``) of a parquet file after checking ``required`` are all
    there; undocumented columns are counted in ``report['extra_columns']`` and ignored."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as error:
        raise DataValidationError(f"{path}: cannot read parquet file: {error}") from error
    missing = [name for name in required if name not in names]
    if missing:
        raise DataValidationError(f"{path}: missing columns {', '.join(missing)}; found columns {', '.join(names)}")
    extra = [name for name in names if name not in required]
    if extra:
        logger.info("%s: ignoring %d extra columns: %s", path, len(extra), ", ".join(extra))
        report["extra_columns"] = report.get("extra_columns", 0) + len(extra)
    try:
        return pq.read_table(path, columns=list(read or required))
    except (OSError, pa.ArrowException) as error:
        raise DataValidationError(f"{path}: cannot read parquet file: {error}") from error


def _string_ids(
    column: pa.ChunkedArray, path: Path, name: str, report: dict[str, int] | None = None
) -> pa.ChunkedArray:
    """Identifiers as strings: text as it is, integers cast (nulls kept; counted in ``report``); other types fail."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if _is_text(kind):
        return column
    if pa.types.is_integer(kind) and report is not None:
        logger.info("%s: column '%s' holds integer ids (%s), read as strings", path, name, kind)
        report["int_id_columns_cast"] = report.get("int_id_columns_cast", 0) + 1
    if pa.types.is_integer(kind) or pa.types.is_null(kind):
        return column.cast(pa.large_string())
    raise DataValidationError(
        f"{path}: column '{name}' must hold string ids, found type {kind}, "
        f"e.g. {_examples(column.slice(0, 50).to_pylist())}"
    )


def _integers(column: pa.ChunkedArray, path: Path, name: str) -> np.ndarray:
    """An integer column as int64: integer types, or floats that are all whole numbers; anything else fails."""
    kind = column.type
    where = f"{path}: column '{name}'"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        if column.null_count:
            raise DataValidationError(f"{where}: {column.null_count} missing values where integers are expected")
        values = column.to_numpy()
        if pa.types.is_floating(kind):
            bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63)
        else:
            bad = values > np.iinfo(np.int64).max if pa.types.is_uint64(kind) else np.zeros(len(values), bool)
        if bad.any():
            raise DataValidationError(f"{where}: values that are not int64 integers, e.g. {_examples(values[bad])}")
        return values.astype(np.int64)
    values = column.slice(0, 1000).to_pandas()
    if _is_text(kind):
        not_numbers = values[pd.to_numeric(values, errors="coerce").isna()]
        shown = not_numbers if len(not_numbers) else values
        raise DataValidationError(f"{where}: integers expected, found text, e.g. {_examples(shown)}")
    raise DataValidationError(f"{where}: integers expected, found type {kind}, e.g. {_examples(values.head(50))}")


def _timestamps(column: pa.ChunkedArray, path: Path, name: str, report: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    """A datetime column as naive datetime64[ns] (strings parsed as ISO 8601, counted in ``report``) and the mask
    of unparseable values.

    Nulls become NaT and are not flagged; types other than timestamps, dates, text and all-null fail.
    """
    kind = column.type
    if pa.types.is_null(kind):
        parsed = pd.Series(pd.NaT, index=pd.RangeIndex(len(column)), dtype="datetime64[ns]")
        return parsed, pd.Series(False, index=parsed.index)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = pc.local_timestamp(column)
        parsed = column.cast(pa.timestamp("ns")).to_pandas()
        return parsed, pd.Series(False, index=parsed.index)
    if _is_text(kind):
        logger.info("%s: column '%s' holds text, parsed as ISO 8601 datetimes", path, name)
        report["text_date_columns_parsed"] = report.get("text_date_columns_parsed", 0) + 1
        text = column.to_pandas()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        return parsed.astype("datetime64[ns]"), parsed.isna() & text.notna()
    raise DataValidationError(
        f"{path}: column '{name}' must hold datetimes, found type {kind}, "
        f"e.g. {_examples(column.slice(0, 50).to_pylist())}"
    )


def _product_lists(column: pa.ChunkedArray, path: Path, report: dict[str, int]) -> pa.ChunkedArray:
    """The ``products`` column as arrays of strings; integer ids are cast and counted, anything else fails."""
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise DataValidationError(
            f"{path}: column 'products' must hold an array of product ids per row, found {kind} values, "
            f"e.g. {_examples(column.slice(0, 50).to_pylist())}"
        )
    value_type = kind.value_type
    if _is_text(value_type):
        return column
    if pa.types.is_integer(value_type):
        values = pc.list_flatten(column)
        report["products_int_ids_cast"] = len(values) - values.null_count
    elif not pa.types.is_null(value_type):
        examples = [row for row in column.slice(0, 1000).to_pylist() if row]
        raise DataValidationError(
            f"{path}: column 'products' must hold arrays of string ids, found arrays of {value_type}, "
            f"e.g. {_examples(map(str, examples))}"
        )
    return column.cast(pa.large_list(pa.large_string()))


def _read_actions(path: Path, report: dict[str, int]) -> pa.Table:
    """The action log with junk users dropped and every column validated and in a canonical type.

    Returns a table of ``user_id``, ``loc_user_id`` (text), ``action`` (int8), ``date`` (timestamp[ns]),
    ``products`` (arrays of text) and ``pageId`` (int64).
    """
    table = _read_parquet(path, RAW_ACTIONS_COLUMNS, report)
    user = _string_ids(table["user_id"], path, "user_id", report)
    junk = _junk_ids(user)
    report["actions_junk_user_rows"] = pc.sum(junk).as_py() or 0
    if table.num_rows == 0:
        raise DataValidationError(f"{path}: no events: the file has no rows")
    if report["actions_junk_user_rows"] == table.num_rows:
        raise DataValidationError(
            f"{path}: no events: all {table.num_rows} rows have a junk ('/*'), empty or missing value in column "
            f"'user_id', e.g. {_examples(user.slice(0, 1000).to_pylist())}"
        )
    if report["actions_junk_user_rows"]:
        keep = pc.invert(junk)
        table, user = table.filter(keep), user.filter(keep)
    report["events"] = table.num_rows

    loc = _string_ids(table["loc_user_id"], path, "loc_user_id", report)
    loc_junk = pc.is_in(loc, pa.array(_MISSING_IDS, loc.type))
    report["actions_junk_loc_user_rows"] = pc.sum(loc_junk).as_py() or 0
    if report["actions_junk_loc_user_rows"]:
        loc = pc.if_else(loc_junk, pa.scalar(None, loc.type), loc)

    action = _integers(table["action"], path, "action")
    bad = ~np.isin(action, ACTION_CODES)
    if bad.any():
        codes, counts = np.unique(action[bad], return_counts=True)
        shown = ", ".join(f"{code} ({count} rows)" for code, count in zip(codes, counts, strict=True))
        raise DataValidationError(
            f"{path}: column 'action': codes outside {min(ACTION_CODES)}..{max(ACTION_CODES)}: {shown}"
        )

    date, unparseable = _timestamps(table["date"], path, "date", report)
    if unparseable.any():
        bad_dates = table["date"].to_pandas()[unparseable]
        raise DataValidationError(
            f"{path}: column 'date': {len(bad_dates)} unparseable dates, e.g. {_examples(bad_dates)}"
        )
    if date.isna().any():
        rows = np.flatnonzero(date.isna())
        raise DataValidationError(f"{path}: column 'date': {len(rows)} missing dates, in rows {_examples(rows)}")

    return pa.table(
        {
            "user_id": user,
            "loc_user_id": loc,
            "action": pa.array(action.astype(ACTION_DTYPE)),
            "date": pa.array(date.to_numpy(), pa.timestamp("ns")),
            "products": _product_lists(table["products"], path, report),
            "pageId": pa.array(_integers(table["pageId"], path, "pageId")),
        }
    )


def _prices(column: pa.ChunkedArray, path: Path, name: str) -> tuple[pd.Series, int]:
    """A price column as float32 (NaN unknown) and the count of unparseable values; text is coerced."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64()).to_pandas().astype(np.float32), 0
    if _is_text(kind) or pa.types.is_null(kind):
        text = column.to_pandas()
        numbers = pd.to_numeric(text, errors="coerce")
        return numbers.astype(np.float32), int((numbers.isna() & text.notna()).sum())
    raise DataValidationError(
        f"{path}: column '{name}' must hold numbers, found type {kind}, "
        f"e.g. {_examples(column.slice(0, 50).to_pylist())}"
    )


def _read_catalog(path: Path, report: dict[str, int]) -> pd.DataFrame:
    """The catalog, one row per product: junk ids dropped, dates and prices parsed, duplicates resolved."""
    needed = tuple(name for name in RAW_CATALOG_COLUMNS if name != "shop_id")
    table = _read_parquet(path, RAW_CATALOG_COLUMNS, report, read=needed)
    product_id = _string_ids(table[C.PRODUCT_ID], path, C.PRODUCT_ID, report)
    junk = _junk_ids(product_id)
    report["catalog_junk_product_rows"] = pc.sum(junk).as_py() or 0
    if report["catalog_junk_product_rows"] == table.num_rows:
        shown = f", e.g. {_examples(product_id.slice(0, 1000).to_pylist())}" if table.num_rows else ""
        raise DataValidationError(
            f"{path}: no products: {table.num_rows} rows, none with a usable value in column 'product_id'{shown}"
        )
    table, product_id = table.filter(pc.invert(junk)), product_id.filter(pc.invert(junk))

    title = table[C.TITLE]
    if not (_is_text(title.type) or pa.types.is_null(title.type)):
        raise DataValidationError(
            f"{path}: column 'title' must hold text, found type {title.type}, "
            f"e.g. {_examples(title.slice(0, 50).to_pylist())}"
        )
    catalog = pd.DataFrame(
        {
            C.PRODUCT_ID: product_id.to_pandas(),
            C.CATEGORY_ID: _string_ids(table[C.CATEGORY_ID], path, C.CATEGORY_ID, report).to_pandas(),
            C.TITLE: title.to_pandas(),
        }
    )
    catalog[C.ADD_DATE], bad_date = _timestamps(table[C.ADD_DATE], path, C.ADD_DATE, report)
    report["catalog_bad_add_date"] = int(bad_date.sum())
    if report["catalog_bad_add_date"]:
        logger.info("%s: unparseable add_date values: %s", path, _examples(table[C.ADD_DATE].to_pandas()[bad_date]))
    for name in (C.PRICE, C.OLD_PRICE):
        catalog[name], report[f"catalog_bad_{name}"] = _prices(table[name], path, name)

    has_title = catalog[C.TITLE].fillna("").str.strip().ne("")
    preferred = catalog.assign(_has_title=has_title).sort_values(
        ["_has_title", C.ADD_DATE], ascending=False, na_position="last", kind="stable"
    )
    kept = preferred.drop_duplicates(C.PRODUCT_ID).set_index(C.PRODUCT_ID)
    kept = kept.loc[catalog[C.PRODUCT_ID].drop_duplicates()].reset_index()  # in order of first appearance
    report["catalog_duplicate_rows"] = len(catalog) - len(kept)

    missing_title = ~kept.pop("_has_title")
    report["catalog_missing_titles"] = int(missing_title.sum())
    kept[C.TITLE] = kept[C.TITLE].where(~missing_title, "")
    return kept


def _read_vectors(path: Path, report: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The title embeddings (the 2-D float array under ``arr_0``, as float32) and the mask of its rows holding NaN
    or infinite values, which are set to zeros and counted."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataValidationError(f"{path}: cannot read npz file: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataValidationError(f"{path}: not an .npz archive but a single {type(archive).__name__}")
    with archive:
        if VECTORS_KEY not in archive.files:
            raise DataValidationError(
                f"{path}: no array under the key '{VECTORS_KEY}'; keys found: {', '.join(archive.files) or 'none'}"
            )
        try:
            vectors = archive[VECTORS_KEY]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise DataValidationError(f"{path}: cannot read '{VECTORS_KEY}': {error}") from error
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise DataValidationError(
            f"{path}: '{VECTORS_KEY}' must be a 2-D float array, found shape {vectors.shape} of {vectors.dtype}"
        )
    vectors = vectors.astype(np.float32, copy=False)
    nonfinite = ~np.isfinite(vectors).all(axis=1)
    report["vectors_nonfinite_rows"] = int(nonfinite.sum())
    if report["vectors_nonfinite_rows"]:
        logger.info("%s: rows with NaN or infinite values: %s", path, _examples(np.flatnonzero(nonfinite)))
        vectors = np.where(nonfinite[:, None], np.float32(0), vectors)
    return vectors, nonfinite


def _read_mapping(path: Path, n_vectors: int, nonfinite: np.ndarray, report: dict[str, int]) -> pd.Series:
    """``vector_id`` by ``product_id``: junk products and negative ids ignored, ids of the ``nonfinite`` rows of
    the vectors dropped, the first row of a repeated product kept."""
    table = _read_parquet(path, RAW_MAPPING_COLUMNS, report)
    product_id = _string_ids(table["product_id"], path, "product_id", report)
    junk = _junk_ids(product_id).to_numpy(zero_copy_only=False)
    mapping = pd.Series(_integers(table["vector_id"], path, "vector_id"), index=product_id.to_pandas())
    beyond = mapping[mapping >= n_vectors]
    if len(beyond):
        raise DataValidationError(
            f"{path}: column 'vector_id': {len(beyond)} ids beyond the {n_vectors} rows of {VECTORS_FILE}, "
            f"e.g. {_examples(beyond.to_numpy())}"
        )
    report["mapping_junk_product_rows"] = int(junk.sum())
    negative = mapping.to_numpy() < 0
    report["mapping_negative_vector_ids"] = int((negative & ~junk).sum())
    mapping = mapping[~negative & ~junk]
    mapping = mapping[~nonfinite[mapping.to_numpy()]]
    repeated = mapping.index.duplicated()
    report["mapping_duplicate_products"] = int(repeated.sum())
    return mapping[~repeated]


def _check_some_vectors(items: pd.DataFrame, mapping: pd.Series, data_dir: Path) -> None:
    """Refuse a mapping that gives no catalog product an embedding (ids written differently in the two files)."""
    if (items.loc[items[C.IN_CATALOG], C.VECTOR_ROW] >= 0).any():
        return
    catalog_ids = items.loc[items[C.IN_CATALOG], C.PRODUCT_ID]
    if len(mapping):
        found = f"mapping ids e.g. {_examples(mapping.index[:50])}"
    else:
        counters = [name for name in REPORT_KEYS if name.startswith(("mapping_", "vectors_"))]
        found = f"no usable mapping row (see the report: {', '.join(counters)})"
    raise DataValidationError(
        f"{data_dir / MAPPING_FILE}: column 'product_id': no catalog product has an embedding; "
        f"{found}; catalog ids e.g. {_examples(catalog_ids[:50])}"
    )


# ----------------------------------------------------------------------------------------------------------
# Building the internal tables
# ----------------------------------------------------------------------------------------------------------


def _explode_products(actions: pa.Table, report: dict[str, int]) -> tuple[np.ndarray, pa.Array]:
    """Flatten the ``products`` arrays, dropping empty, null and junk ids.

    Returns, for every kept product id in file order, the index of its event, and the ids (a string array).
    """
    column = actions["products"]
    report["null_product_events"] = column.null_count
    ids = pc.list_flatten(column)
    events = pc.list_parent_indices(column)
    empty = pc.fill_null(pc.equal(ids, ""), True)
    junk = pc.fill_null(pc.equal(ids, JUNK_ID), False)
    report["empty_product_ids"] = pc.sum(empty).as_py() or 0
    report["junk_product_ids"] = pc.sum(junk).as_py() or 0
    keep = pc.invert(pc.or_(empty, junk))
    event_of_row = events.filter(keep).to_numpy().astype(np.int64)
    report["empty_product_events"] = int((np.bincount(event_of_row, minlength=actions.num_rows) == 0).sum())
    return event_of_row, ids.filter(keep).combine_chunks()


def _build_items(
    catalog: pd.DataFrame, mapping: pd.Series, product_of_row: pa.Array, report: dict[str, int]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The item table (catalog products, then log-only products) and the item code of every exploded product."""
    encoded = pc.dictionary_encode(product_of_row)
    log_ids = encoded.dictionary.to_numpy(zero_copy_only=False)
    code_of_log_id = pd.Index(catalog[C.PRODUCT_ID]).get_indexer(log_ids)
    unknown = code_of_log_id < 0
    code_of_log_id[unknown] = len(catalog) + np.arange(unknown.sum())
    item_of_row = code_of_log_id[encoded.indices.to_numpy()].astype(ITEM_DTYPE)
    report["products_missing_from_catalog"] = int(unknown.sum())
    report["events_with_unknown_products"] = int((item_of_row >= len(catalog)).sum())

    log_only = pd.DataFrame(
        {
            C.PRODUCT_ID: log_ids[unknown],
            C.CATEGORY_ID: None,
            C.TITLE: "",
            C.ADD_DATE: pd.NaT,
            C.PRICE: np.float32(np.nan),
            C.OLD_PRICE: np.float32(np.nan),
        }
    ).astype(catalog.dtypes.to_dict())
    items = pd.concat(
        [catalog.assign(**{C.IN_CATALOG: True}), log_only.assign(**{C.IN_CATALOG: False})], ignore_index=True
    )
    items[C.CATEGORY] = pd.factorize(items[C.CATEGORY_ID], sort=True)[0].astype(np.int32)
    items[C.VECTOR_ROW] = mapping.reindex(items[C.PRODUCT_ID]).fillna(-1).to_numpy().astype(np.int32)
    report["items"] = len(items)
    report["items_without_vector"] = int((items[C.VECTOR_ROW] < 0).sum())
    columns = [C.PRODUCT_ID, C.CATEGORY, C.CATEGORY_ID, C.PRICE, C.OLD_PRICE, C.ADD_DATE, C.TITLE, C.VECTOR_ROW]
    return items[[*columns, C.IN_CATALOG]], item_of_row


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (in order of first appearance; -1 for nulls) and the distinct values of a text column.

    Only the first value of each run of equal consecutive values is hashed: fast on clustered columns.
    """
    n = len(column)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = ~pc.fill_null(pc.equal(column.slice(1), column.slice(0, n - 1)), False).to_numpy()
    heads = np.flatnonzero(starts)
    encoded = pc.dictionary_encode(column.take(heads).combine_chunks())
    codes = pc.fill_null(encoded.indices, -1).to_numpy()
    return np.repeat(codes, np.diff(heads, append=n)), encoded.dictionary.to_numpy(zero_copy_only=False)


def _build_users(actions: pa.Table, report: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The user table, the distinct (user, loc_user_id) pairs with their first time, and every event's user code."""
    user_codes, user_ids = _encode(actions["user_id"])
    by_user = np.argsort(user_codes, kind="stable")  # clusters each user's loc_user_ids for a fast encoding
    loc_codes, loc_ids = _encode(actions["loc_user_id"].take(by_user))
    user_codes = user_codes.astype(USER_DTYPE)

    n_locs = max(len(loc_ids), 1)
    pair_keys = user_codes[by_user].astype(np.int64) * n_locs + loc_codes
    dates = actions["date"].to_numpy().astype("datetime64[ns]")[by_user]
    known = loc_codes >= 0
    grouped = pd.Series(dates[known]).groupby(pair_keys[known])
    counts, first_seen = grouped.size(), grouped.min()
    pairs = pd.DataFrame(
        {
            C.USER: counts.index // n_locs,
            "loc": counts.index % n_locs,
            "n": counts.to_numpy(),
            C.TS: first_seen.to_numpy(),
        }
    )
    most_frequent = pairs.sort_values([C.USER, "n", "loc"], ascending=[True, False, True]).drop_duplicates(C.USER)
    loc_of_user = np.full(len(user_ids), None, dtype=object)
    loc_of_user[most_frequent[C.USER].to_numpy()] = loc_ids[most_frequent["loc"].to_numpy()]
    users = pd.DataFrame({C.USER_ID: user_ids, C.LOC_USER_ID: loc_of_user})

    pairs = pairs.sort_values([C.USER, "loc"])
    user_locs = pd.DataFrame(
        {
            C.USER: pairs[C.USER].to_numpy(USER_DTYPE),
            C.LOC_USER_ID: loc_ids[pairs["loc"].to_numpy()],
            C.TS: pairs[C.TS].to_numpy(),  # first event of the pair: a cut may only use links seen before it
        }
    )
    report["users"] = len(users)
    return users, user_locs, user_codes


def _build_interactions(
    actions: pa.Table, user_codes: np.ndarray, event_of_row: np.ndarray, item_of_row: np.ndarray
) -> pd.DataFrame:
    """One row per (event, product), an event without products giving one ``NO_ITEM`` row; sorted by time.

    The rows of one event keep the order of its products, and events at equal times keep their order in the file.
    """
    n_events = actions.num_rows
    products_per_event = np.bincount(event_of_row, minlength=n_events)
    rows_per_event = np.maximum(products_per_event, 1)
    first_row = np.cumsum(rows_per_event) - rows_per_event
    first_product = np.cumsum(products_per_event) - products_per_event
    position_in_event = np.arange(len(event_of_row)) - first_product[event_of_row]

    event = np.repeat(np.arange(n_events), rows_per_event)
    item = np.full(len(event), NO_ITEM, dtype=ITEM_DTYPE)
    item[first_row[event_of_row] + position_in_event] = item_of_row

    ts = actions["date"].to_numpy()
    if (np.diff(ts) < np.timedelta64(0)).any():
        order = np.argsort(ts[event], kind="stable")
        event, item = event[order], item[order]
    return pd.DataFrame(
        {
            C.USER: user_codes[event],
            C.ITEM: item,
            C.ACTION: actions["action"].to_numpy()[event],
            C.TS: ts[event],
            C.PAGE: actions["pageId"].to_numpy()[event],
        }
    )
