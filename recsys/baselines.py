"""The floor every model is measured against.

* ``organisers``: the hackathon's baseline: users with a basket add in the last five days, each recommended the
  first product of each of their basket adds (most recent users first when over budget).
* ``history_popularity``: users ranked by recency-weighted activity (orders and basket adds weigh most), each
  recommended their own most-interacted items padded with the week's best sellers.

Both return ``user code -> [item codes]`` for a cut, computed from that cut's history only.
"""

from __future__ import annotations

import pandas as pd

from recsys.candidates.base import cut_time, decay, item_events
from recsys.candidates.history import HistorySource
from recsys.candidates.popularity import pad, padding_items
from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS, NO_ITEM, Action
from recsys.schema import Columns as C

#: Weights of the activity score used to rank users by how likely they are to buy soon.
USER_ACTIVITY_WEIGHTS: dict[int, float] = {
    int(Action.ORDER): 4.0,
    int(Action.ADD_BASKET): 3.0,
    int(Action.LIST_BASKET): 1.0,
    int(Action.LIKE): 1.0,
    int(Action.DEL_BASKET): 0.5,
    int(Action.VIEW): 0.2,
}


def user_activity_scores(history: pd.DataFrame, half_life_days: float = 2.0) -> pd.Series:
    """Recency-weighted activity per user (descending): a heuristic probability of buying soon."""
    events = item_events(history, USER_ACTIVITY_WEIGHTS)
    w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], cut_time(history), half_life_days)
    scores = pd.Series(w, index=events[C.USER].to_numpy()).groupby(level=0).sum()
    return scores.sort_values(ascending=False, kind="stable")


def organisers_baseline(
    history: pd.DataFrame, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K, days: float = 5.0
) -> dict:
    """Users with an addB in the last ``days``; the first product of each of their addB events, padded."""
    since = cut_time(history) - pd.Timedelta(days=days)
    adds = history[
        history[C.ACTION].eq(int(Action.ADD_BASKET)) & history[C.ITEM].ne(NO_ITEM) & (history[C.TS] >= since)
    ]
    # one row per addB event: its first product is the first exploded row of that (user, ts, page) event
    first = adds.drop_duplicates([C.USER, C.TS, C.PAGE], keep="first")
    last_add = first.groupby(C.USER)[C.TS].max().sort_values(ascending=False, kind="stable")
    users = last_add.index[:top_users]
    items = first[first[C.USER].isin(users)].groupby(C.USER, sort=False)[C.ITEM].agg(list)
    padding = padding_items(history, int(history[C.ITEM].max()) + 1, 2 * k)
    return {int(u): pad(items.get(u, []), padding, k) for u in users}


def history_popularity_baseline(
    history: pd.DataFrame,
    items: pd.DataFrame,
    top_users: int = DEFAULT_TOP_USERS,
    k: int = DEFAULT_K,
) -> dict:
    """The most active users (recency-weighted), each with their own top items padded with best sellers."""
    users = user_activity_scores(history).index[:top_users].to_numpy()
    own = HistorySource().fit(history, items).recommend(users, k)
    own_lists = own.groupby(C.USER, sort=False)[C.ITEM].agg(list)
    padding = padding_items(history, len(items), 2 * k)
    return {int(u): pad(own_lists.get(u, []), padding, k) for u in users}


BASELINES = {
    "organisers": lambda history, items, top_users, k: organisers_baseline(history, top_users, k),
    "history_popularity": history_popularity_baseline,
}
