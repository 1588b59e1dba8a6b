"""Property-based tests of the competition metric (``recsys.metrics``) on generated recommendations and truths."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from recsys.metrics import diagnostics, recall, user_recalls

USERS = st.integers(0, 15)
ITEMS = st.integers(0, 30)
TRUTHS = st.dictionaries(USERS, st.sets(ITEMS, min_size=1, max_size=8), max_size=10)
RECS = st.dictionaries(USERS, st.lists(ITEMS, max_size=12), max_size=12)
KS = st.integers(1, 10)
TOP_USERS = 100  # above any generated submission, unless a test says otherwise

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(RECS, TRUTHS, KS)
def test_recall_is_a_mean_of_per_buyer_recalls_in_0_1(recs, truth, k):
    score = recall(recs, truth, TOP_USERS, k)
    per_user = user_recalls(recs, truth, k)

    assert 0.0 <= score <= 1.0
    assert set(per_user.index) == set(truth)
    assert per_user.between(0.0, 1.0).all()
    assert score == pytest.approx(per_user.mean() if truth else 0.0)


@FAST
@given(RECS, TRUTHS, KS, st.randoms(use_true_random=False))
def test_order_of_users_does_not_matter(recs, truth, k, random):
    users, buyers = list(recs), list(truth)
    random.shuffle(users)
    random.shuffle(buyers)

    shuffled = recall({u: recs[u] for u in users}, {u: truth[u] for u in buyers}, TOP_USERS, k)

    assert shuffled == pytest.approx(recall(recs, truth, TOP_USERS, k))


@FAST
@given(RECS, TRUTHS, KS, st.integers(100, 200), st.lists(ITEMS, max_size=12))
def test_adding_a_non_buyer_never_changes_the_score(recs, truth, k, outsider, items):
    assert outsider not in truth
    assert recall({**recs, outsider: items}, truth, TOP_USERS, k) == recall(recs, truth, TOP_USERS, k)


@FAST
@given(RECS, TRUTHS, KS, st.lists(ITEMS, min_size=1, max_size=10))
def test_items_beyond_k_are_ignored(recs, truth, k, extra):
    longer = {u: [*items, *extra] if len(items) >= k else items for u, items in recs.items()}
    assert recall(longer, truth, TOP_USERS, k) == recall(recs, truth, TOP_USERS, k)


@FAST
@given(TRUTHS, KS, st.randoms(use_true_random=False))
def test_perfect_lists_score_1_for_buyers_with_at_most_k_purchases(truth, k, random):
    small = {u: items for u, items in truth.items() if len(items) <= k}
    perfect = {}
    for user, items in small.items():
        ordered = sorted(items)
        random.shuffle(ordered)
        perfect[user] = ordered

    assert recall(perfect, small, TOP_USERS, k) == (1.0 if small else 0.0)
    if len(small) < len(truth):  # the other buyers are absent: each counts 0
        assert recall(perfect, truth, TOP_USERS, k) == pytest.approx(len(small) / len(truth))


@FAST
@given(RECS, TRUTHS, KS, ITEMS)
def test_listing_a_bought_item_in_a_short_list_never_lowers_the_score(recs, truth, k, item):
    buyer = next(iter(truth), None)
    assume(buyer is not None and len(recs.get(buyer, [])) < k)
    better = {**recs, buyer: [*recs.get(buyer, []), min(truth[buyer])]}
    assert recall(better, truth, TOP_USERS, k) >= recall(recs, truth, TOP_USERS, k)


@FAST
@given(RECS, TRUTHS, KS)
def test_more_users_than_the_budget_scores_0(recs, truth, k):
    assume(recs)
    assert recall(recs, truth, top_users=len(recs) - 1, k=k) == 0.0
    assert recall(recs, truth, top_users=len(recs), k=k) == recall(recs, truth, TOP_USERS, k)


@FAST
@given(RECS, TRUTHS, KS)
def test_score_is_buyers_captured_times_recall_of_the_selected(recs, truth, k):
    d = diagnostics(recs, truth, TOP_USERS, k)

    assert d.recall == pytest.approx(d.buyers_captured * d.recall_selected)
    assert d.recall <= d.buyers_captured + 1e-12
    assert d.selected_buyers == len(set(recs) & set(truth)) and d.buyers == len(truth)
