"""Load, validate and clean the four raw files into a :class:`~recsys.dataset.Dataset`.

The loader is strict about what it does not understand and explicit about what it repairs: an input of a known bad
kind raises :class:`DataValidationError` naming the file, the column and a few offending values, and every repair
of a defect the real data is known to contain (junk ids, duplicate catalog rows, missing titles, corrupted dates,
products absent from the catalog, ...) is counted in ``Dataset.report`` under the names of :data:`REPORT_KEYS`.

The action log is read in batches of :data:`ACTIONS_BATCH_ROWS` rows, each validated and turned into integer
codes (users and products numbered in order of first appearance in the file, whatever the batch size), and exploded
with pyarrow compute kernels and numpy (no per-row Python): the real ~6.9M-row log loads in seconds, and memory
grows with the codes, not with the text (2.4 GB at its peak for four times the real volume, 9.3 GB read whole).
"""

from __future__ import annotations

import ctypes
import logging
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
        events = _read_actions(data_dir / ACTIONS_FILE, report)
    with stage("read catalog"):
        catalog = _read_catalog(data_dir / CATALOG_FILE, report)
    with stage("read vector mapping and vectors"):
        vectors, nonfinite = _read_vectors(data_dir / VECTORS_FILE, report)
        mapping = _read_mapping(data_dir / MAPPING_FILE, len(vectors), nonfinite, report)
    with stage("build items"):
        items, item_of_row = _build_items(catalog, mapping, events, report)
        _check_some_vectors(items, mapping, data_dir)
    with stage("build users"):
        users, user_locs = _build_users(events, report)
        give_back_memory()
    with stage("build interactions"):
        interactions = _build_interactions(events, item_of_row)

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


def _check_columns(path: Path, required: tuple[str, ...], report: dict[str, int]) -> None:
    """Check that a parquet file is readable and has the ``required`` columns; undocumented columns are counted
    in ``report['extra_columns']`` and ignored."""
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


def _read_parquet(
    path: Path, required: tuple[str, ...], report: dict[str, int], *, read: tuple[str, ...] | None = None
) -> pa.Table:
    """Read the columns ``read`` (default: all ``required``) of a parquet file after :func:`_check_columns`."""
    _check_columns(path, required, report)
    try:
        return pq.read_table(path, columns=list(read or required))
    except (OSError, pa.ArrowException) as error:
        raise DataValidationError(f"{path}: cannot read parquet file: {error}") from error


def _batches(path: Path, columns: tuple[str, ...]) -> Iterator[pa.Table]:
    """The file's ``columns`` in batches of at most :data:`ACTIONS_BATCH_ROWS` rows."""
    try:
        # pre_buffer would cache every row group read so far: the whole file's columns by the last batch
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(ACTIONS_BATCH_ROWS, columns=list(columns)):
            yield pa.Table.from_batches([batch])
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


#: Rows of the action log read and cleaned at a time: the loader holds one batch's text columns and compact codes
#: for the rows before it, so its memory grows with the events' codes, not with their text (the real ~6.9M-row log
#: loads in 7 batches).
ACTIONS_BATCH_ROWS = 1_000_000
#: Report entries that depend on a column's type, the same in every batch: counted once.
_TYPE_KEYS = ("int_id_columns_cast", "text_date_columns_parsed")


class _Vocabulary:
    """Integer codes of text values in order of first appearance, over successive batches (-1 for nulls).

    The values stay in an Arrow array until the end: a Python string per value, made and dropped batch after
    batch, would scatter the interpreter's small-object heap (it grew by ~0.8 GB at four times the real volume).
    """

    def __init__(self) -> None:
        self._values = pa.array([], pa.large_string())

    @property
    def values(self) -> np.ndarray:
        return self._values.to_numpy(zero_copy_only=False)

    def codes(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        column = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
        local, distinct = _encode(column.cast(pa.large_string()))
        if not len(distinct):
            return np.full(len(local), -1, dtype=np.int32)
        known = pc.fill_null(pc.index_in(distinct, value_set=self._values), -1).to_numpy().astype(np.int64)
        new = known < 0
        known[new] = len(self._values) + np.arange(new.sum())
        if new.any():
            self._values = pa.concat_arrays([self._values, distinct.filter(pa.array(new))])
        return np.where(local >= 0, known[np.maximum(local, 0)], -1).astype(np.int32)


@dataclass
class _Events:
    """The cleaned action log as compact columns: codes per event, and the events' products exploded."""

    user: np.ndarray  # per event: user code (first appearance in the file)
    user_ids: np.ndarray
    pairs: pd.DataFrame  # per distinct (user, loc_user_id code): events n, first time ts, first row
    loc_ids: np.ndarray
    action: np.ndarray
    date: np.ndarray  # datetime64[ns]
    page: np.ndarray
    event_of_product: np.ndarray  # per kept product id, in file order: its event
    product: np.ndarray  # per kept product id: its code (first appearance in the file)
    product_ids: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.user)


def give_back_memory() -> None:
    """Return freed memory to the system: glibc keeps the many batch-sized blocks freed by a batched read in its
    heap (~0.8 GB at four times the real volume), and pyarrow's pool keeps its own. Elsewhere than glibc, only
    pyarrow's."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def _quiet(silent: bool) -> Iterator[None]:
    """Silence the loader's log (a batch after the first repeats the first one's notes about column types)."""
    before = logger.disabled
    logger.disabled = before or silent
    try:
        yield
    finally:
        logger.disabled = before


def _read_actions(path: Path, report: dict[str, int]) -> _Events:
    """The action log with junk users dropped and every column validated, read in batches into compact codes.

    Report counts are summed over the batches (those of a column's type counted once).
    """
    _check_columns(path, RAW_ACTIONS_COLUMNS, report)
    vocabularies = {name: _Vocabulary() for name in ("user", "loc", "product")}
    parts, first_ids, rows, events = [], None, 0, 0
    for number, table in enumerate(_batches(path, RAW_ACTIONS_COLUMNS)):
        counts = dict.fromkeys(REPORT_KEYS, 0)
        with _quiet(number > 0):
            clean = _clean_actions(table, path, counts, rows)
        first_ids = first_ids if first_ids is not None else table["user_id"].slice(0, 1000).to_pylist()
        for name, count in counts.items():
            report[name] = report.get(name, 0) + (count if number == 0 or name not in _TYPE_KEYS else 0)
        parts.append(_encode_batch(clean, vocabularies, events))
        give_back_memory()  # the batch's text and temporaries: ~0.8 GB of heap at four times the real volume
        rows, events = rows + table.num_rows, events + clean.num_rows
    if rows == 0:
        raise DataValidationError(f"{path}: no events: the file has no rows")
    if events == 0:
        raise DataValidationError(
            f"{path}: no events: all {rows} rows have a junk ('/*'), empty or missing value in column "
            f"'user_id', e.g. {_examples(first_ids)}"
        )
    report["events"] = events
    pairs = _pairs(pd.concat([part.pop("pairs") for part in parts], ignore_index=True))
    columns = {name: np.concatenate([part.pop(name) for part in parts]) for name in list(parts[0])}  # one by one
    give_back_memory()
    return _Events(**columns, pairs=pairs, **{f"{name}_ids": v.values for name, v in vocabularies.items()})


def _pairs(events: pd.DataFrame) -> pd.DataFrame:
    """The distinct (user, loc) pairs of ``events`` (columns user, loc, ts, row, and n: the events each row
    stands for), with their event count, first time and first row, sorted by user and loc."""
    grouped = events.groupby([C.USER, "loc"], sort=True)
    pairs = grouped.agg(n=("n", "sum"), ts=(C.TS, "min"), row=("row", "min"))
    return pairs.reset_index().rename(columns={"ts": C.TS})


def _encode_batch(actions: pa.Table, vocabularies: dict[str, _Vocabulary], offset: int) -> dict[str, np.ndarray]:
    """A cleaned batch as codes (the :class:`_Events` columns but the ids); ``offset``: the events before it."""
    event_of_product, product_ids = _explode_products(actions)
    user = vocabularies["user"].codes(actions["user_id"]).astype(USER_DTYPE)
    date = actions["date"].to_numpy().astype("datetime64[ns]")
    loc = vocabularies["loc"].codes(actions["loc_user_id"])
    known = loc >= 0
    rows = {C.USER: user[known], "loc": loc[known], C.TS: date[known], "row": offset + np.flatnonzero(known)}
    return {
        "user": user,
        "action": actions["action"].to_numpy(),
        "date": date,
        "page": actions["pageId"].to_numpy(),
        "event_of_product": event_of_product + offset,
        "product": vocabularies["product"].codes(product_ids),
        "pairs": _pairs(pd.DataFrame(rows).assign(n=1)),
    }


def _clean_actions(table: pa.Table, path: Path, report: dict[str, int], first_row: int = 0) -> pa.Table:
    """A batch of the action log with junk users dropped and every column validated and in a canonical type.

    Returns a table of ``user_id``, ``loc_user_id`` (text), ``action`` (int8), ``date`` (timestamp[ns]),
    ``products`` (arrays of text; nulls read as empty) and ``pageId`` (int64). ``first_row``: the file's rows
    before the batch (for the row numbers of an error).
    """
    user = _string_ids(table["user_id"], path, "user_id", report)
    junk = _junk_ids(user)
    report["actions_junk_user_rows"] = pc.sum(junk).as_py() or 0
    if report["actions_junk_user_rows"]:
        keep = pc.invert(junk)
        table, user = table.filter(keep), user.filter(keep)

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
        rows = first_row + np.flatnonzero(date.isna())
        raise DataValidationError(f"{path}: column 'date': {len(rows)} missing dates, in rows {_examples(rows)}")

    products = _product_lists(table["products"], path, report)
    report["null_product_events"] = products.null_count
    clean = pa.table(
        {
            "user_id": user,
            "loc_user_id": loc,
            "action": pa.array(action.astype(ACTION_DTYPE)),
            "date": pa.array(date.to_numpy(), pa.timestamp("ns")),
            "products": products,
            "pageId": pa.array(_integers(table["pageId"], path, "pageId")),
        }
    )
    _product_counts(clean, report)
    return clean


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


def _explode_products(actions: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """Flatten the ``products`` arrays, dropping empty, null and junk ids (counted in the batch's report by the
    caller: :func:`_product_counts`).

    Returns, for every kept product id in file order, the index of its event, and the ids (a string array).
    """
    column = actions["products"]
    ids = pc.list_flatten(column)
    events = pc.list_parent_indices(column)
    keep = pc.invert(pc.or_(pc.fill_null(pc.equal(ids, ""), True), pc.fill_null(pc.equal(ids, JUNK_ID), False)))
    return events.filter(keep).to_numpy().astype(np.int64), ids.filter(keep).combine_chunks()


def _product_counts(actions: pa.Table, report: dict[str, int]) -> None:
    """Count a batch's empty and junk product ids, and its events left without any product, in ``report``."""
    column = actions["products"]
    ids = pc.list_flatten(column)
    empty = pc.fill_null(pc.equal(ids, ""), True)
    junk = pc.fill_null(pc.equal(ids, JUNK_ID), False)
    report["empty_product_ids"] = pc.sum(empty).as_py() or 0
    report["junk_product_ids"] = pc.sum(junk).as_py() or 0
    kept = pc.list_parent_indices(column).filter(pc.invert(pc.or_(empty, junk))).to_numpy()
    report["empty_product_events"] = int((np.bincount(kept, minlength=actions.num_rows) == 0).sum())


def _build_items(
    catalog: pd.DataFrame, mapping: pd.Series, events: _Events, report: dict[str, int]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The item table (catalog products, then log-only products) and the item code of every exploded product."""
    log_ids = events.product_ids
    code_of_log_id = pd.Index(catalog[C.PRODUCT_ID]).get_indexer(log_ids)
    unknown = code_of_log_id < 0
    code_of_log_id[unknown] = len(catalog) + np.arange(unknown.sum())
    item_of_row = code_of_log_id[events.product].astype(ITEM_DTYPE)
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


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
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
    return np.repeat(codes, np.diff(heads, append=n)), encoded.dictionary


def _loc_order(pairs: pd.DataFrame, n_events: int) -> np.ndarray:
    """The loc_user_id codes renumbered in order of first appearance among the events sorted by user (stably):
    the order that breaks a tie between a user's loc_user_ids."""
    first = (pairs[C.USER].to_numpy(np.int64) * n_events + pairs["row"].to_numpy()).astype(np.int64)
    first_of_loc = pd.Series(first).groupby(pairs["loc"].to_numpy()).min()
    renumbered = np.zeros(int(first_of_loc.index.max()) + 1 if len(first_of_loc) else 1, dtype=np.int64)
    renumbered[first_of_loc.sort_values(kind="stable").index.to_numpy()] = np.arange(len(first_of_loc))
    return renumbered


def _build_users(events: _Events, report: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The user table and the distinct (user, loc_user_id) pairs with their first time."""
    renumbered = _loc_order(events.pairs, events.n_events)
    loc_ids = np.empty(len(events.loc_ids), dtype=object)
    loc_ids[renumbered[: len(events.loc_ids)]] = events.loc_ids
    pairs = events.pairs.assign(loc=renumbered[events.pairs["loc"].to_numpy()])

    user_ids = events.user_ids
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
    return users, user_locs


def _build_interactions(events: _Events, item_of_row: np.ndarray) -> pd.DataFrame:
    """One row per (event, product), an event without products giving one ``NO_ITEM`` row; sorted by time.

    The rows of one event keep the order of its products, and events at equal times keep their order in the file.
    Temporaries are dropped as soon as they are used: at four times the real volume each is ~0.2 GB.
    """
    n_events, event_of_row = events.n_events, events.event_of_product
    products_per_event = np.bincount(event_of_row, minlength=n_events)
    rows_per_event = np.maximum(products_per_event, 1)
    event = np.repeat(np.arange(n_events, dtype=np.int64 if n_events >= 2**31 else np.int32), rows_per_event)
    first_row = np.cumsum(rows_per_event) - rows_per_event
    del rows_per_event
    first_product = np.cumsum(products_per_event) - products_per_event
    del products_per_event
    position = first_row[event_of_row] + (np.arange(len(event_of_row)) - first_product[event_of_row])
    del first_row, first_product
    item = np.full(len(event), NO_ITEM, dtype=ITEM_DTYPE)
    item[position] = item_of_row
    del position

    ts = events.date
    if (np.diff(ts) < np.timedelta64(0)).any():
        order = np.argsort(ts[event], kind="stable")
        event, item = event[order], item[order]
    columns = {
        C.USER: events.user[event],
        C.ITEM: item,
        C.ACTION: events.action[event],
        C.TS: ts[event],
        C.PAGE: events.page[event],
    }
    return pd.DataFrame(columns, copy=False)
