"""Column names, action codes, file names and dtypes: defined here once, imported everywhere else.

Two vocabularies live here:

* the **raw** schema of the four files the store ships (``RAW_*``), exactly as in DATA_FACTS.md, used by the
  loader to validate and by the synthetic generator to write;
* the **internal** schema (``Columns``) of the one exploded interactions table that every later step uses:
  integer user and item codes, an ``int8`` action and a timestamp.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

# ----------------------------------------------------------------------------------------------------------
# Raw files
# ----------------------------------------------------------------------------------------------------------
ACTIONS_FILE = "train_actions.pq"
CATALOG_FILE = "stokman_catalog_preprocessed.pq"
MAPPING_FILE = "catalog_vector_mapping.pq"
VECTORS_FILE = "vectors.npz"
VECTORS_KEY = "arr_0"
RAW_FILES = (ACTIONS_FILE, CATALOG_FILE, MAPPING_FILE, VECTORS_FILE)

#: Optional ground truth (user_id, product_id) for the 3 days after the log; shipped by the holdout-dev case
#: and written by the synthetic generator.
TRUTH_FILE = "truth/truth.parquet"

RAW_ACTIONS_COLUMNS = ("user_id", "loc_user_id", "action", "date", "products", "pageId")
RAW_CATALOG_COLUMNS = ("add_date", "shop_id", "product_id", "category_id", "price", "title", "old_price")
RAW_MAPPING_COLUMNS = ("product_id", "vector_id")
RAW_TRUTH_COLUMNS = ("user_id", "product_id")

#: Junk identifier seen in the real ``user_id`` and catalog ``product_id`` columns.
JUNK_ID = "/*"


class Action(IntEnum):
    """Action codes of ``train_actions.pq``."""

    VIEW = 0
    LIKE = 1
    ADD_BASKET = 2
    DEL_BASKET = 3
    CLEAR_BASKET = 4
    ORDER = 5
    LIST_BASKET = 6
    VISIT = 7
    VISIT_CATEGORY = 8
    SEARCH = 9


ACTION_CODES = tuple(int(a) for a in Action)

#: Actions whose ``products`` name items the user interacted with (the others may carry an empty array).
ITEM_ACTIONS = (
    Action.VIEW,
    Action.LIKE,
    Action.ADD_BASKET,
    Action.DEL_BASKET,
    Action.ORDER,
    Action.LIST_BASKET,
)

# ----------------------------------------------------------------------------------------------------------
# Internal tables
# ----------------------------------------------------------------------------------------------------------


class Columns:
    """Column names of the internal tables."""

    USER = "user"  # int32 user code (row of Dataset.users)
    ITEM = "item"  # int32 item code (row of Dataset.items); NO_ITEM for events without a product
    ACTION = "action"  # int8, an Action
    TS = "ts"  # datetime64[ns]
    PAGE = "page"  # int64 pageId

    USER_ID = "user_id"  # raw user id string
    LOC_USER_ID = "loc_user_id"
    PRODUCT_ID = "product_id"  # raw product id string
    CATEGORY = "category"  # int32 category code
    CATEGORY_ID = "category_id"  # raw category id string
    PRICE = "price"
    OLD_PRICE = "old_price"
    ADD_DATE = "add_date"
    TITLE = "title"
    VECTOR_ROW = "vector_row"  # row in Dataset.vectors, -1 if the item has no embedding
    IN_CATALOG = "in_catalog"  # False for items seen only in the logs

    SCORE = "score"
    RANK = "rank"
    WEIGHT = "weight"
    TARGET = "target"
    SOURCE = "source"
    N_SOURCES = "n_sources"  # how many candidate sources proposed a (user, item) pair
    CUT_ID = "cut_id"  # which stacked cut a training row comes from (a key, not a feature)
    P_BUY = "p_buy"  # the buyer model's probability that a user buys in the target window


#: The key of every candidate, feature and prediction table: one row per (user, item).
PAIR_KEYS = [Columns.USER, Columns.ITEM]
#: What every candidate source returns (rank 1 = best, scores descending within a user).
CANDIDATE_COLUMNS = [Columns.USER, Columns.ITEM, Columns.SCORE, Columns.RANK]
#: Columns of a feature table that are not model inputs.
NON_FEATURE_COLUMNS = (Columns.USER, Columns.ITEM, Columns.TARGET, Columns.CUT_ID)


def source_columns(source: str) -> tuple[str, str]:
    """The score and rank columns a candidate source contributes to the merged candidate table."""
    return f"s_{source}_score", f"s_{source}_rank"


def source_of_rank_column(column: str) -> str | None:
    """The source whose rank column ``column`` is (None for any other column)."""
    if column.startswith("s_") and column.endswith("_rank"):
        return column[2 : -len("_rank")]
    return None


NO_ITEM = -1

USER_DTYPE = np.int32
ITEM_DTYPE = np.int32
ACTION_DTYPE = np.int8

#: Length of the target window after a cut, and of the competition's test period.
HORIZON_DAYS = 3
#: Products per submitted user and users per submission in the competition.
DEFAULT_K = 25
DEFAULT_TOP_USERS = 3000

SUBMISSION_COLUMNS = ("user_id", "products")


class DataValidationError(ValueError):
    """Input data that breaks this contract; the message names the file, the column and offending values."""
