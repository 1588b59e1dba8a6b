import numpy as np
import pandas as pd
import pytest

from recsys.features import (
    add_labels,
    build_features,
    category_share,
    drop_source,
    embedding_similarity,
    item_features,
    keep_sources,
    merge_candidates,
    pair_features,
    unique_pairs,
    user_features,
    user_price_ratio,
)
from recsys.schema import Action as A
from recsys.schema import Columns as C
from tests.conftest import make_interactions, make_items

NOW = pd.Timestamp("2024-09-10")


@pytest.fixture
def log():
    return make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-09 12:00"),
            (0, 1, A.ADD_BASKET, "2024-09-09 13:00"),
            (0, 2, A.ADD_BASKET, "2024-09-08 12:00"),
            (0, 2, A.DEL_BASKET, "2024-09-08 13:00"),
            (0, 3, A.ADD_BASKET, "2024-09-05 12:00"),
            (0, None, A.CLEAR_BASKET, "2024-09-06 12:00"),  # clears item 3 from the basket
            (0, None, A.VISIT, "2024-09-09 18:00"),
            (1, 1, A.ORDER, "2024-09-02 12:00"),
        ]
    )


def test_pair_features_counts_recency_and_basket_state(log):
    pairs = pd.DataFrame({C.USER: [0, 0, 0, 1, 1], C.ITEM: [1, 2, 3, 1, 4]})
    f = pair_features(log, pairs, NOW).set_index([C.USER, C.ITEM])
    assert f.loc[(0, 1), "ui_view"] == 1 and f.loc[(0, 1), "ui_addb"] == 1
    assert f.loc[(0, 1), "ui_days_since_addb"] == pytest.approx(11 / 24)
    assert f.loc[(0, 1), "ui_in_basket"] == 1  # added, never removed
    assert f.loc[(0, 2), "ui_in_basket"] == 0  # deleted after the add
    assert f.loc[(0, 3), "ui_in_basket"] == 0  # the basket was cleared after the add
    assert f.loc[(1, 1), "ui_order"] == 1 and f.loc[(1, 1), "ui_days_since_order"] == pytest.approx(7.5)
    assert f.loc[(1, 4), "ui_view"] == 0 and np.isnan(f.loc[(1, 4), "ui_days_since_any"])


def test_user_features_windows(log):
    f = user_features(log, NOW)
    assert f.loc[0, "u_addb_1"] == 1  # 09-09 13:00 only
    assert f.loc[0, "u_addb_3"] == 2
    assert f.loc[0, "u_addb_all"] == 3
    assert f.loc[0, "u_visit_1"] == 1
    assert f.loc[1, "u_days_since_order"] == pytest.approx(7.5)
    assert np.isnan(f.loc[1, "u_days_since_addb"])
    assert f.loc[0, "u_active_days"] == 4  # ages 0, 1, 4, 5 (floored)


def test_item_features(log):
    items = make_items(5)
    items[C.OLD_PRICE] = np.float32(1250.0)
    items[C.ADD_DATE] = pd.Timestamp("2024-09-01")
    f = item_features(log, items, NOW)
    assert f.loc[1, "i_addb_1"] == 1 and f.loc[1, "i_order_14"] == 1 and f.loc[1, "i_order_3"] == 0
    assert f.loc[0, "i_discount"] == pytest.approx(0.2)
    assert f.loc[0, "i_age_days"] == pytest.approx(9.0)


def test_merge_candidates_and_labels():
    a = pd.DataFrame({C.USER: [0, 0], C.ITEM: [1, 2], C.SCORE: [2.0, 1.0], C.RANK: [1, 2]})
    b = pd.DataFrame({C.USER: [0], C.ITEM: [2], C.SCORE: [5.0], C.RANK: [1]})
    merged = merge_candidates({"a": a, "b": b})
    assert merged[C.ITEM].tolist() == [1, 2]
    assert merged["n_sources"].tolist() == [1, 2]
    assert np.isnan(merged.loc[0, "s_b_rank"]) and merged.loc[1, "s_b_score"] == 5.0
    swapped = merge_candidates({"b": b, "a": a})
    pd.testing.assert_frame_equal(merged, swapped)  # the sources' order does not matter
    labelled = add_labels(merged, pd.DataFrame({C.USER: [0, 0], C.ITEM: [2, 2]}))
    assert labelled[C.TARGET].tolist() == [0, 1]


def test_embedding_similarity_missing_is_nan():
    items = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32)
    users = pd.DataFrame([[1.0, 0.0]], index=[7])
    pairs = pd.DataFrame({C.USER: [7, 7, 7, 8], C.ITEM: [0, 1, 2, 0]})
    sims = embedding_similarity(pairs, users, items)
    assert sims[0] == pytest.approx(1.0) and sims[1] == pytest.approx(0.0)
    assert np.isnan(sims[2]) and np.isnan(sims[3])


def test_build_features_has_one_row_per_candidate(log):
    cands = merge_candidates({"a": pd.DataFrame({C.USER: [0, 1], C.ITEM: [1, 3], C.SCORE: [1.0, 1.0], C.RANK: [1, 1]})})
    table = build_features(log, make_items(5), cands, NOW)
    assert len(table) == 2 and table[C.CATEGORY].dtype == np.int32
    assert {"ui_in_basket", "u_addb_3", "i_order_trend", "ui_category_share"} <= set(table.columns)


def test_user_features_distinct_items_and_pages_of_the_last_week():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-09 12:00", 100),
            (0, 1, A.ADD_BASKET, "2024-09-09 12:05", 100),  # same item, same page
            (0, 2, A.VIEW, "2024-09-08 12:00", 101),
            (0, None, A.SEARCH, "2024-09-08 13:00", 102),  # a page, no item
            (0, 3, A.VIEW, "2024-09-01 12:00", 103),  # 8.5 days old: outside the week
        ]
    )
    f = user_features(log, NOW)
    assert f.loc[0, "u_items_7"] == 2  # items 1 and 2
    assert f.loc[0, "u_pages_7"] == 3  # pages 100, 101, 102


def test_item_conversion_and_weekly_users():
    log = make_interactions(
        [
            (0, 1, A.VIEW, "2024-09-09 12:00"),
            (1, 1, A.VIEW, "2024-09-09 13:00"),
            (1, 1, A.VIEW, "2024-09-09 14:00"),  # the same user again
            (2, 1, A.ADD_BASKET, "2024-09-08 12:00"),
            (2, 1, A.ORDER, "2024-09-08 13:00"),
            (3, 1, A.VIEW, "2024-09-01 12:00"),  # 8.5 days old: in the 14-day counts, not among the week's users
        ]
    )
    f = item_features(log, make_items(3), NOW)
    # orders 1 over 4 views and 1 add, smoothed: (1 + 0.1) / (4 + 1 + 1)
    assert f.loc[1, "i_conversion"] == pytest.approx(1.1 / 6)
    assert f.loc[1, "i_users_7"] == 3 and f.loc[2, "i_users_7"] == 0
    assert f.loc[2, "i_conversion"] == pytest.approx(0.1)  # no events: the smoothing prior


def test_category_share_weights_actions_and_recency():
    items = make_items(4, categories=[0, 1, 0, 1])
    log = make_interactions(
        [
            (0, 0, A.VIEW, "2024-09-10 00:00"),  # weight 1, age 0 days
            (0, 1, A.ADD_BASKET, "2024-09-03 00:00"),  # weight 6, age 7 days = one half-life: 3
        ]
    )
    pairs = pd.DataFrame({C.USER: [0, 0, 0, 5], C.ITEM: [2, 3, 1, 0]})
    # the 1 of category 0 against the 3 of category 1; a user without history gets 0
    assert category_share(log, items, pairs, NOW + pd.Timedelta(seconds=0)).tolist() == pytest.approx(
        [0.25, 0.75, 0.75, 0.0]
    )


def test_user_price_ratio_is_price_over_the_users_median():
    items = make_items(4)
    items[C.PRICE] = np.array([100.0, 300.0, 200.0, 50.0], dtype=np.float32)
    log = make_interactions([(0, 0, A.VIEW, "2024-09-09 10:00"), (0, 1, A.VIEW, "2024-09-09 11:00")])
    pairs = pd.DataFrame({C.USER: [0, 0, 9], C.ITEM: [2, 3, 2]})
    ratio = user_price_ratio(log, items, pairs)  # median of 100 and 300 is 200
    assert ratio[:2].tolist() == pytest.approx([1.0, 0.25]) and np.isnan(ratio[2])


def test_drop_source_removes_its_rows_and_features_and_recounts_sources():
    def cands(rows):
        return pd.DataFrame(rows, columns=[C.USER, C.ITEM, C.SCORE, C.RANK])

    table = merge_candidates(
        {"a": cands([(0, 1, 0.9, 1), (0, 2, 0.5, 2)]), "b": cands([(0, 2, 0.7, 1), (0, 3, 0.6, 2)])}
    )
    without_a = drop_source(table, "a")
    assert without_a[C.ITEM].tolist() == [2, 3]  # item 1 only came from a
    assert not any(c.startswith("s_a_") for c in without_a.columns)
    assert without_a["n_sources"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="no candidate source 'c'"):
        drop_source(table, "c")


def test_keep_sources_keeps_their_rows_and_features_only():
    def cands(rows):
        return pd.DataFrame(rows, columns=[C.USER, C.ITEM, C.SCORE, C.RANK])

    table = merge_candidates(
        {
            "a": cands([(0, 1, 0.9, 1), (0, 2, 0.5, 2)]),
            "b": cands([(0, 2, 0.7, 1), (0, 3, 0.6, 2)]),
            "c": cands([(0, 4, 0.8, 1), (0, 2, 0.1, 2)]),
        }
    )
    only_ab = keep_sources(table, ["a", "b", "not a source"])
    assert only_ab[C.ITEM].tolist() == [1, 2, 3]  # item 4 only came from c
    assert not any(c.startswith("s_c_") for c in only_ab.columns) and "s_b_rank" in only_ab.columns
    assert only_ab["n_sources"].tolist() == [1.0, 2.0, 1.0]  # c no longer counts for item 2
    assert keep_sources(table, []).empty
    pd.testing.assert_frame_equal(keep_sources(table, ["b", "c"]), drop_source(table, "a"))


def test_purchase_cycle_features_of_users_items_and_pairs():
    log = make_interactions(
        [
            (0, 1, A.ORDER, "2024-09-01 10:00"),
            (0, 2, A.ORDER, "2024-09-03 10:00"),
            (0, 1, A.ORDER, "2024-09-07 10:00"),
            (0, 3, A.ORDER, "2024-09-07 18:00"),  # a second order on the same day
            (0, 3, A.ADD_BASKET, "2024-09-07 17:00"),
            (1, 1, A.ORDER, "2024-09-02 10:00"),  # user 1 bought item 1 once
            (1, 2, A.VIEW, "2024-09-09 10:00"),
        ]
    )
    users = user_features(log, NOW)
    assert users.loc[0, "u_orders"] == 4 and users.loc[0, "u_order_days"] == 3
    # order days 1, 3, 7: gaps 2 and 4
    assert users.loc[0, ["u_order_gap_mean", "u_order_gap_median", "u_order_gap_last"]].tolist() == [3, 3, 4]
    since = (NOW - pd.Timestamp("2024-09-07 18:00")).total_seconds() / 86400
    assert users.loc[0, "u_order_due"] == pytest.approx(since / 3)
    assert users.loc[0, "u_basket_to_order"] == pytest.approx(4 / (1 + 4 + 1))
    assert users.loc[1, "u_order_days"] == 1 and np.isnan(users.loc[1, "u_order_gap_median"])

    items = item_features(log, make_items(5), NOW)
    assert items.loc[1, "i_rebuy_share"] == 0.5 and items.loc[1, "i_rebuy_gap"] == 6  # user 0: days 1 and 7
    assert items.loc[2, "i_rebuy_share"] == 0 and np.isnan(items.loc[2, "i_rebuy_gap"])
    assert np.isnan(items.loc[4, "i_rebuy_share"])  # never bought

    cands = merge_candidates({"a": pd.DataFrame({C.USER: [0, 0, 1], C.ITEM: [1, 2, 1], C.SCORE: 1.0, C.RANK: 1})})
    table = build_features(log, make_items(5), cands, NOW).set_index([C.USER, C.ITEM])
    assert table.loc[(0, 1), "ui_order_days"] == 2 and table.loc[(1, 1), "ui_order_days"] == 1
    last_bought = (NOW - pd.Timestamp("2024-09-07 10:00")).total_seconds() / 86400
    assert table.loc[(0, 1), "ui_rebuy_due_user"] == pytest.approx(last_bought / 3, rel=1e-5)
    assert table.loc[(0, 1), "ui_rebuy_due_item"] == pytest.approx(last_bought / 6, rel=1e-5)
    assert np.isnan(table.loc[(1, 1), "ui_rebuy_due_user"])  # one order day: no usual gap


def test_unique_pairs_are_the_distinct_rows_sorted():
    a, b = unique_pairs(np.array([3, 1, 3, 1, 2, 3]), np.array([5, 9, 5, 2, 7, 1]))
    assert a.tolist() == [1, 1, 2, 3, 3] and b.tolist() == [2, 9, 7, 1, 5]
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 50, 2000), rng.integers(-(2**40), 2**40, 2000) // 2**35  # large values, repeats
    expected = np.unique(np.stack([x, y], axis=1), axis=0)
    got = np.stack(unique_pairs(x, y), axis=1)
    np.testing.assert_array_equal(got, expected)
    assert [len(v) for v in unique_pairs(np.array([], int), np.array([], int))] == [0, 0]
