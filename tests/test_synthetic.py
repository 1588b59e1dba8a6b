"""Measurements of the synthetic dataset: schema, determinism, behaviour and junk (tiny preset)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys import synthetic
from recsys.schema import (
    ACTIONS_FILE,
    CATALOG_FILE,
    JUNK_ID,
    MAPPING_FILE,
    RAW_FILES,
    TRUTH_FILE,
    VECTORS_FILE,
    VECTORS_KEY,
    Action,
)

LOG_START = pd.Timestamp("2024-09-07")
LOG_END = pd.Timestamp("2024-09-29")  # exclusive: 22 days


@pytest.fixture(scope="module")
def raw() -> synthetic.RawData:
    return synthetic.generate("tiny", seed=0)


@pytest.fixture(scope="module")
def exploded(raw) -> pd.DataFrame:
    return raw.actions.explode("products", ignore_index=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return synthetic.write_dataset(tmp_path_factory.mktemp("synthetic") / "tiny", "tiny", seed=0)


@pytest.fixture(scope="module")
def products(raw) -> pd.DataFrame:
    """Catalog products (junk row and duplicates dropped) with their embedding."""
    catalog = raw.catalog[raw.catalog["product_id"] != JUNK_ID].drop_duplicates("product_id")
    frame = catalog.merge(raw.mapping, on="product_id", validate="one_to_one")
    vectors = raw.vectors[frame["vector_id"].to_numpy()]
    return frame.assign(vector=list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))


# ----------------------------------------------------------------------------------------------------------
# Files and schema
# ----------------------------------------------------------------------------------------------------------

EXPECTED_TYPES = {
    ACTIONS_FILE: {
        "user_id": pa.large_string(),
        "loc_user_id": pa.large_string(),
        "action": pa.int64(),
        "date": pa.timestamp("ns"),
        "products": pa.list_(pa.field("element", pa.string())),
        "pageId": pa.int64(),
    },
    CATALOG_FILE: {
        "add_date": pa.large_string(),
        "shop_id": pa.large_string(),
        "product_id": pa.large_string(),
        "category_id": pa.large_string(),
        "price": pa.int64(),
        "title": pa.large_string(),
        "old_price": pa.int64(),
    },
    MAPPING_FILE: {"product_id": pa.large_string(), "vector_id": pa.int64()},
    TRUTH_FILE: {"user_id": pa.large_string(), "product_id": pa.large_string()},
}


@pytest.mark.parametrize("name", list(EXPECTED_TYPES))
def test_written_files_have_the_real_schema(written, name):
    schema = pq.read_schema(written / name)
    assert schema.names == list(EXPECTED_TYPES[name])
    for column, expected in EXPECTED_TYPES[name].items():
        assert schema.field(column).type == expected, column


def test_written_dataset_is_complete_and_described(written, raw):
    assert all((written / name).is_file() for name in (*RAW_FILES, TRUTH_FILE))
    with np.load(written / VECTORS_FILE) as npz:
        assert npz.files == [VECTORS_KEY]
        vectors = npz[VECTORS_KEY]
    assert vectors.dtype == np.float32 and vectors.shape == (len(raw.mapping), 32)
    np.testing.assert_array_equal(vectors, raw.vectors)
    meta = json.loads((written / synthetic.META_FILE).read_text())
    assert meta["preset"] == "tiny" and meta["seed"] == 0
    assert meta["rows"]["actions"] == len(raw.actions) == pq.read_metadata(written / ACTIONS_FILE).num_rows
    leftovers = [p.name for p in written.parent.iterdir() if p.name.startswith(".")]
    assert not leftovers, "temporary directory left behind"


def test_written_files_read_back_as_generated(written, raw):
    actions = pd.read_parquet(written / ACTIONS_FILE)
    pd.testing.assert_frame_equal(actions.drop(columns="products"), raw.actions.drop(columns="products"))
    assert actions["products"].map(list).equals(raw.actions["products"].map(list))
    pd.testing.assert_frame_equal(pd.read_parquet(written / TRUTH_FILE), raw.truth)


def test_write_dataset_refuses_to_overwrite_by_default(written):
    with pytest.raises(FileExistsError):
        synthetic.write_dataset(written, "tiny", seed=0)


def test_ensure_dataset_reuses_a_complete_copy(tmp_path, monkeypatch):
    first = synthetic.ensure_dataset("tiny", seed=1, cache_dir=tmp_path)
    assert first == tmp_path / "tiny-seed1"
    stamp = (first / ACTIONS_FILE).stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(synthetic, "write_dataset", fail)
    assert synthetic.ensure_dataset("tiny", seed=1, cache_dir=tmp_path) == first
    assert (first / ACTIONS_FILE).stat().st_mtime_ns == stamp
    monkeypatch.undo()
    (first / TRUTH_FILE).unlink()  # incomplete: generated again
    assert synthetic.ensure_dataset("tiny", seed=1, cache_dir=tmp_path) == first
    assert (first / TRUTH_FILE).is_file()


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="unknown preset"):
        synthetic.generate("huge")


# ----------------------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------------------


def _comparable(data: synthetic.RawData) -> pd.DataFrame:
    return data.actions.assign(products=data.actions["products"].map(tuple))


def test_same_seed_gives_identical_data_and_other_seed_differs(raw):
    again = synthetic.generate("tiny", seed=0)
    pd.testing.assert_frame_equal(_comparable(again), _comparable(raw))
    pd.testing.assert_frame_equal(again.catalog, raw.catalog)
    pd.testing.assert_frame_equal(again.truth, raw.truth)
    np.testing.assert_array_equal(again.vectors, raw.vectors)
    other = synthetic.generate("tiny", seed=1)
    assert len(other.actions) != len(raw.actions) or not _comparable(other).equals(_comparable(raw))
    assert not set(other.actions["user_id"]) & set(raw.actions["user_id"]) - {JUNK_ID}


# ----------------------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------------------


def test_dates_cover_the_log_period(raw):
    dates = raw.actions["date"]
    assert dates.min() >= LOG_START and dates.max() < LOG_END
    assert dates.dt.normalize().nunique() == 22
    assert dates.is_monotonic_increasing


def test_ids_look_like_the_real_ones(raw):
    users = raw.actions["user_id"][raw.actions["user_id"] != JUNK_ID]
    uuid = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    assert users.str.match(uuid).all() and raw.actions["loc_user_id"].str.match(uuid).all()
    assert raw.actions["action"].isin([int(a) for a in Action]).all()
    assert raw.actions["pageId"].between(0, 2**32).all()
    products = raw.catalog["product_id"][raw.catalog["product_id"] != JUNK_ID]
    assert products.str.fullmatch(r"\d{7}").all()
    assert raw.catalog["category_id"].str.fullmatch(r"\d{1,5}").all()
    assert (raw.catalog["shop_id"] == "350").all()
    assert raw.truth["product_id"].str.fullmatch(r"\d{7}").all()


def test_products_per_action(raw):
    sizes = raw.actions["products"].map(len)
    action = raw.actions["action"]
    empty = [Action.VISIT, Action.VISIT_CATEGORY, Action.SEARCH, Action.CLEAR_BASKET]
    assert (sizes[action.isin(empty)] == 0).all()
    single = [Action.VIEW, Action.LIKE, Action.ADD_BASKET, Action.DEL_BASKET]
    assert (sizes[action.isin(single)] == 1).all()
    assert (sizes[action == Action.ORDER] >= 1).all()
    assert (sizes[action == Action.ORDER] > 1).mean() > 0.3
    basket = sizes[action == Action.LIST_BASKET]
    assert (basket == 0).any() and (basket >= 3).any()


def test_catalog_prices_and_titles(products):
    assert products["price"].between(30, 76_990).all()
    assert 2_000 < products["price"].median() < 8_000
    assert (products["old_price"] >= products["price"]).all()
    assert 0.4 < (products["old_price"] > products["price"]).mean() < 0.8
    tokens = products["title"].dropna().str.split().str.len()
    assert tokens.between(2, 15).all() and 4.5 < tokens.mean() < 6.5
    assert len(products) > 900


def test_mapping_covers_the_catalog(raw, products):
    catalog_ids = set(raw.catalog["product_id"]) - {JUNK_ID}
    assert set(raw.mapping["product_id"]) == catalog_ids and raw.mapping["product_id"].is_unique
    assert sorted(raw.mapping["vector_id"]) == list(range(len(raw.vectors)))


def test_new_items_arrive_during_the_log(raw, exploded):
    added = pd.to_datetime(raw.catalog["add_date"], errors="coerce", format="%Y-%m-%d %H:%M:%S")
    new = raw.catalog.loc[(added >= LOG_START) & (added < LOG_END), "product_id"]
    assert 0.01 < len(new) / len(raw.catalog) < 0.2
    assert exploded["products"].isin(set(new)).any()


# ----------------------------------------------------------------------------------------------------------
# Behaviour
# ----------------------------------------------------------------------------------------------------------

#: Real shares of exploded rows (DATA_FACTS.md, 2024-09-07..25).
REAL_SHARES = {
    Action.VISIT: 0.613,
    Action.VISIT_CATEGORY: 0.151,
    Action.VIEW: 0.151,
    Action.LIST_BASKET: 0.054,
    Action.SEARCH: 0.012,
    Action.ADD_BASKET: 0.0076,
    Action.LIKE: 0.0045,
    Action.DEL_BASKET: 0.0042,
    Action.ORDER: 0.0018,
    Action.CLEAR_BASKET: 0.00006,
}


def test_action_mix_of_tiny(exploded):
    """tiny keeps the buyers of a real 3-day window with far fewer idle users, so the funnel actions (and the
    views before basket adds) are denser than in the real log; the other browsing actions keep their real
    proportions."""
    shares = exploded["action"].value_counts(normalize=True)
    assert set(shares.index) == set(int(a) for a in Action)
    browse = [Action.VISIT, Action.VISIT_CATEGORY, Action.SEARCH]
    real_browse = pd.Series({int(a): REAL_SHARES[a] for a in browse})
    ours_browse = shares[[int(a) for a in browse]]
    np.testing.assert_allclose(ours_browse / ours_browse.sum(), real_browse / real_browse.sum(), atol=0.05)
    assert 0.4 < shares[Action.VISIT] < 0.7
    assert REAL_SHARES[Action.VIEW] < shares[Action.VIEW] < 0.25
    assert 0.03 < shares[Action.LIST_BASKET] < 0.2
    for action in (Action.ADD_BASKET, Action.ORDER, Action.DEL_BASKET):
        assert REAL_SHARES[action] < shares[action] < 0.07, action.name
    assert shares[Action.CLEAR_BASKET] == shares.min()


def test_full_knobs_reproduce_the_real_action_mix_at_small_scale():
    """The `full` preset's behaviour at 1/25 of its people and items gives the real shares of every action."""
    full = synthetic.PRESETS["full"]
    small = dataclasses.replace(
        full,
        name="full-small",
        n_items=3_600,
        n_categories=72,
        n_departments=8,
        n_browsers=full.n_browsers // 25,
        n_shoppers=full.n_shoppers // 25,
    )
    exploded = synthetic.generate(small, seed=0).actions.explode("products")
    shares = exploded["action"].value_counts(normalize=True)
    for action, real in REAL_SHARES.items():
        if action != Action.CLEAR_BASKET:  # ~15 rows at this scale
            assert shares[action] == pytest.approx(real, rel=0.3), action.name


def test_buyers_in_the_last_days_and_in_the_truth(raw, exploded):
    orders = exploded[exploded["action"] == Action.ORDER]
    last3 = orders[orders["date"] >= LOG_END - pd.Timedelta(days=3)]
    assert 40 <= last3["user_id"].nunique() <= 110
    truth = raw.truth
    assert not truth.duplicated().any() and JUNK_ID not in set(truth["user_id"])
    assert 30 <= truth["user_id"].nunique() <= 110
    assert 1.5 < len(truth) / truth["user_id"].nunique() < 5
    # most future buyers were active in the log, some bought before (repeat buyers), not all
    history = set(raw.actions["user_id"])
    assert 0.5 < truth["user_id"].drop_duplicates().isin(history).mean() < 1.0
    repeat = truth["user_id"].drop_duplicates().isin(set(orders["user_id"])).mean()
    assert 0.1 < repeat < 0.8


def test_orders_are_often_but_not_always_preceded_by_views_or_adds(exploded):
    orders = exploded[exploded["action"] == Action.ORDER]
    seen = exploded[exploded["action"].isin([Action.VIEW, Action.ADD_BASKET])]
    first_seen = seen.groupby(["user_id", "products"])["date"].min().rename("seen")
    joined = orders.join(first_seen, on=["user_id", "products"])
    share = (joined["seen"] < joined["date"]).mean()
    assert 0.3 < share < 0.95


def test_basket_listings_show_items_added_before(exploded):
    adds = exploded[exploded["action"] == Action.ADD_BASKET]
    first_add = adds.groupby(["user_id", "products"])["date"].min().rename("added")
    listed = exploded[(exploded["action"] == Action.LIST_BASKET) & exploded["products"].notna()]
    joined = listed.join(first_add, on=["user_id", "products"])
    assert (joined["added"] <= joined["date"]).all()


def test_items_bought_together_repeat(exploded):
    """Complementary items: some pairs of items are ordered together by several users."""
    orders = exploded[exploded["action"] == Action.ORDER][["user_id", "date", "products"]]
    pairs = orders.merge(orders, on=["user_id", "date"])
    pairs = pairs[pairs["products_x"] < pairs["products_y"]]
    assert pairs.groupby(["products_x", "products_y"])["user_id"].nunique().max() >= 2


def test_some_people_have_several_user_ids_linked_by_loc_user_id(raw):
    pairs = raw.actions[["user_id", "loc_user_id"]].drop_duplicates()
    pairs = pairs[pairs["user_id"] != JUNK_ID]
    ids_per_loc = pairs.groupby("loc_user_id")["user_id"].nunique()
    assert 0.01 < (ids_per_loc > 1).mean() < 0.2
    assert ids_per_loc.max() <= 3
    locs_per_id = pairs.groupby("user_id")["loc_user_id"].nunique()
    assert (locs_per_id == 1).mean() > 0.9


def test_titles_share_words_within_a_category(products):
    rng = np.random.default_rng(0)
    words = products["title"].fillna("").str.split().map(set).to_numpy()
    category = products["category_id"].to_numpy()

    def jaccard(i, j):
        union = words[i] | words[j]
        return len(words[i] & words[j]) / len(union) if union else 0.0

    groups = [g for g in pd.Series(range(len(products))).groupby(category).indices.values() if len(g) > 1]
    same = [jaccard(*rng.choice(g, 2, replace=False)) for g in groups for _ in range(10)]
    random = [jaccard(*rng.choice(len(products), 2, replace=False)) for _ in range(len(same))]
    assert np.mean(same) > 2 * np.mean(random)


def test_nearest_neighbour_is_mostly_in_the_same_category(products):
    vectors = np.stack(products["vector"].to_numpy())
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    category = products["category_id"].to_numpy()
    same = (category[similarity.argmax(axis=1)] == category).mean()
    chance = (pd.Series(category).value_counts(normalize=True) ** 2).sum()
    assert same > 0.5 and same > 5 * chance


# ----------------------------------------------------------------------------------------------------------
# Junk for the loader to clean
# ----------------------------------------------------------------------------------------------------------


def test_junk_values_are_present(raw, exploded):
    assert (raw.actions["user_id"] == JUNK_ID).sum() == synthetic.PRESETS["tiny"].junk_user_rows
    catalog = raw.catalog
    assert (catalog["product_id"] == JUNK_ID).sum() == 1
    valid = catalog[catalog["product_id"] != JUNK_ID]
    assert valid["product_id"].duplicated().any()
    assert valid["title"].isna().any()
    assert valid["title"].dropna().str.contains(r"[a-zA-Z]").any()  # raw words leaking into word codes
    parsed = pd.to_datetime(catalog["add_date"], errors="coerce", format="%Y-%m-%d %H:%M:%S")
    assert 1 <= parsed.isna().sum() <= 2
    logged = set(exploded["products"].dropna())
    assert logged - set(valid["product_id"])


def test_a_scaled_preset_keeps_the_behaviour_and_shrinks_the_volume():
    from recsys.synthetic import PRESETS, generate, scaled

    half = scaled("tiny", 0.5)
    assert half.name == "tiny@0.5" and half.n_shoppers == PRESETS["tiny"].n_shoppers // 2
    assert half.shopper_sessions_per_day == PRESETS["tiny"].shopper_sessions_per_day
    ratio = len(generate("tiny@0.5").actions) / len(generate("tiny").actions)
    assert 0.35 < ratio < 0.65
    double = scaled("tiny", 2)
    assert double.name == "tiny@2" and double.n_shoppers == 2 * PRESETS["tiny"].n_shoppers
    with pytest.raises(ValueError, match="fraction must be in"):
        scaled("tiny", 5)
