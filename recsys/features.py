"""Features of a cut, from that cut's history only: user activity, item, user-item and candidate-source features.

Every function takes the history (events strictly before the cut) and ``now`` (the cut), so nothing can see the
target window. ``now - ts`` is always positive; recency features are in days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.candidates.base import ACTION_WEIGHTS, decay, item_events
from recsys.candidates.embeddings import TitleProfiles
from recsys.schema import (
    ITEM_DTYPE,
    NO_ITEM,
    NON_FEATURE_COLUMNS,
    PAIR_KEYS,
    USER_DTYPE,
    Action,
    source_columns,
    source_of_rank_column,
)
from recsys.schema import Columns as C

DAY = pd.Timedelta(days=1)
#: Windows (days before the cut) for the activity counts.
WINDOWS = (1, 3, 7)
#: Actions whose per-user counts are features (item actions plus the product-less ones).
USER_COUNT_ACTIONS = {
    "view": Action.VIEW,
    "like": Action.LIKE,
    "addb": Action.ADD_BASKET,
    "delb": Action.DEL_BASKET,
    "order": Action.ORDER,
    "listb": Action.LIST_BASKET,
    "visit": Action.VISIT,
    "visitcat": Action.VISIT_CATEGORY,
    "search": Action.SEARCH,
}
PAIR_ACTIONS = {k: USER_COUNT_ACTIONS[k] for k in ("view", "like", "addb", "delb", "order", "listb")}
CATEGORICAL_FEATURES = [C.CATEGORY]


def _age_days(ts: pd.Series, now: pd.Timestamp) -> np.ndarray:
    return (now - ts).dt.total_seconds().to_numpy() / 86400.0


def _days(ts: pd.Series) -> np.ndarray:
    """Calendar day numbers (days since 1970-01-01) of timestamps."""
    return ts.to_numpy().astype("datetime64[D]").astype(np.int64)


def unique_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(first, second)`` integer pairs, sorted by ``first`` then ``second``, as two arrays (what
    ``np.unique(np.stack(...), axis=0)`` gives, by one lexsort: that one sorts rows as raw bytes, ~10x slower)."""
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    order = np.lexsort((second, first))
    a, b = first[order], second[order]
    new = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])] if len(a) else np.zeros(0, bool)
    return a[new], b[new]


def purchase_gaps(keys: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaps in days between consecutive distinct purchase days of each key (a user, or a user-item pair):
    ``(key of each gap, gap)``. A key bought on one day only has no gap."""
    pair_keys, pair_days = unique_pairs(keys, days)
    same = pair_keys[1:] == pair_keys[:-1]
    return pair_keys[1:][same], (pair_days[1:] - pair_days[:-1])[same]


def order_cycle_features(orders: pd.DataFrame, users: np.ndarray) -> dict[str, np.ndarray]:
    """Per user of ``users`` (sorted codes), from their order events: how many orders (distinct timestamps) and
    order days, and the mean, median and last gap between consecutive order days (NaN with fewer than two)."""
    n = len(users)
    out = {name: np.full(n, np.nan) for name in ("u_order_gap_mean", "u_order_gap_median", "u_order_gap_last")}
    out["u_orders"] = np.zeros(n)
    out["u_order_days"] = np.zeros(n)
    if orders.empty or not n:
        return out
    codes = orders[C.USER].to_numpy()
    ts = orders[C.TS].to_numpy().astype(np.int64)
    distinct_orders, _ = unique_pairs(codes, ts)
    pos, found = _lookup(users.astype(np.int64), distinct_orders)
    out["u_orders"] = np.bincount(pos[found], minlength=n).astype(np.float64)
    days = _days(orders[C.TS])
    user_days, _ = unique_pairs(codes, days)
    pos, found = _lookup(users.astype(np.int64), user_days)
    out["u_order_days"] = np.bincount(pos[found], minlength=n).astype(np.float64)
    gap_users, gaps = purchase_gaps(codes, days)
    if len(gaps):
        stats = pd.Series(gaps, index=gap_users).groupby(level=0).agg(["mean", "median", "last"])
        rows = stats.reindex(users)
        out["u_order_gap_mean"] = rows["mean"].to_numpy()
        out["u_order_gap_median"] = rows["median"].to_numpy()
        out["u_order_gap_last"] = rows["last"].to_numpy()
    return out


def user_features(history: pd.DataFrame, now: pd.Timestamp, users: np.ndarray | None = None) -> pd.DataFrame:
    """Activity per user: counts per action in the last 1/3/7 days and overall, recencies, active days, and the
    purchase cycle (orders, order days, gaps between order days, how overdue the next order is, basket-to-order
    conversion).

    One row per user with events (sorted codes); vectorised with bincount so that a handful of users (a served
    request) costs milliseconds, not one pandas groupby per column.
    """
    frame = history if users is None else history[history[C.USER].isin(users)]
    age = _age_days(frame[C.TS], now)
    uniq, inv = np.unique(frame[C.USER].to_numpy(), return_inverse=True)
    n = len(uniq)
    action = frame[C.ACTION].to_numpy()

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(inv[mask], minlength=n).astype(np.float32)

    def smallest(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.full(n, np.inf)
        np.minimum.at(out, inv[mask], values[mask])
        return np.where(np.isinf(out), np.nan, out)

    def distinct(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        codes, uniques = pd.factorize(values[mask])
        pairs = np.unique(inv[mask].astype(np.int64) * max(len(uniques), 1) + codes)
        return np.bincount(pairs // max(len(uniques), 1), minlength=n).astype(np.float32)

    everything = np.ones(len(age), dtype=bool)
    out = {}
    for name, act in USER_COUNT_ACTIONS.items():
        is_act = action == int(act)
        for window in (*WINDOWS, None):
            out[f"u_{name}_{window or 'all'}"] = count(is_act if window is None else is_act & (age < window))
        if name in ("view", "addb", "order", "visit"):
            out[f"u_days_since_{name}"] = smallest(age, is_act)
    out["u_days_since_last"] = smallest(age, everything)
    out["u_days_since_first"] = -smallest(-age, everything)
    out["u_active_days"] = distinct(np.floor(age).astype(np.int64), everything)
    out["u_events"] = count(everything)
    recent = age < 7
    out["u_items_7"] = distinct(
        frame[C.ITEM].to_numpy().astype(np.int64), recent & frame[C.ITEM].ne(NO_ITEM).to_numpy()
    )
    out["u_pages_7"] = distinct(frame[C.PAGE].to_numpy().astype(np.int64), recent)
    out.update(order_cycle_features(frame[action == int(Action.ORDER)], uniq))
    # > 1: the user's usual gap between orders has passed since their last order
    out["u_order_due"] = out["u_days_since_order"] / out["u_order_gap_median"]
    out["u_basket_to_order"] = out["u_orders"] / (out["u_addb_all"] + out["u_orders"] + 1.0)
    return pd.DataFrame(out, index=pd.Index(uniq, name=C.USER)).astype(np.float32)


def item_features(history: pd.DataFrame, items: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Per item: price, discount, category, age in the catalog, recent demand and its trend."""
    feats = pd.DataFrame(index=pd.RangeIndex(len(items), name=C.ITEM))
    price = items[C.PRICE].to_numpy(np.float32)
    old = items[C.OLD_PRICE].to_numpy(np.float32) if C.OLD_PRICE in items else price
    feats["i_price"] = price
    ratio = np.divide(price, old, out=np.full_like(price, np.nan), where=old > 0)
    feats["i_discount"] = (1.0 - ratio).astype(np.float32)
    feats[C.CATEGORY] = items[C.CATEGORY].to_numpy()
    if C.ADD_DATE in items:
        feats["i_age_days"] = ((now - items[C.ADD_DATE]).dt.total_seconds() / 86400.0).to_numpy(np.float32)
    frame = history[history[C.ITEM].ne(NO_ITEM)]
    age = _age_days(frame[C.TS], now)
    codes = frame[C.ITEM].to_numpy()
    action = frame[C.ACTION].to_numpy()
    for name in ("view", "addb", "order"):
        is_act = action == int(PAIR_ACTIONS[name])
        for window in (*WINDOWS, 14):
            counts = np.bincount(codes[is_act & (age < window)], minlength=len(items))
            feats[f"i_{name}_{window}"] = counts.astype(np.float32)
    feats["i_order_trend"] = (feats["i_order_3"] + 1) / (feats["i_order_14"] - feats["i_order_3"] + 1)
    feats["i_view_trend"] = (feats["i_view_3"] + 1) / (feats["i_view_14"] - feats["i_view_3"] + 1)
    feats["i_conversion"] = (feats["i_order_14"] + 0.1) / (feats["i_view_14"] + feats["i_addb_14"] + 1)
    users7 = pd.Series(frame[C.USER].to_numpy()[age < 7], index=codes[age < 7]).groupby(level=0).nunique()
    feats["i_users_7"] = users7.reindex(feats.index, fill_value=0).astype(np.float32)
    feats["i_rebuy_share"], feats["i_rebuy_gap"] = item_rebuy(frame[action == int(Action.ORDER)], len(items))
    return feats


def item_rebuy(orders: pd.DataFrame, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the share of its buyers who bought it on two days or more (NaN without buyers), and the median
    gap in days between a buyer's consecutive purchase days of it (NaN when nobody re-bought it)."""
    share = np.full(n_items, np.nan, np.float32)
    gap = np.full(n_items, np.nan, np.float32)
    if orders.empty:
        return share, gap
    keys = pair_key(orders[C.USER].to_numpy(), orders[C.ITEM].to_numpy())
    pair_keys, pair_days = unique_pairs(keys, _days(orders[C.TS]))
    pairs, days_per_pair = np.unique(pair_keys, return_counts=True)
    items_of_pairs = (pairs & 0xFFFFFFFF).astype(np.int64)
    buyers = np.bincount(items_of_pairs, minlength=n_items)
    rebuyers = np.bincount(items_of_pairs, weights=days_per_pair >= 2, minlength=n_items)
    share = np.where(buyers > 0, rebuyers / np.maximum(buyers, 1), np.nan).astype(np.float32)
    gap_keys, gaps = purchase_gaps(pair_keys, pair_days)
    if len(gaps):
        median = pd.Series(gaps, index=(gap_keys & 0xFFFFFFFF)).groupby(level=0).median()
        gap[median.index.to_numpy()] = median.to_numpy(np.float32)
    return share, gap


def pair_key(users, items) -> np.ndarray:
    """One int64 per (user, item) code pair, ordered like the pairs (user first, then item)."""
    return (np.asarray(users, dtype=np.int64) << 32) | np.asarray(items, dtype=np.int64)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of integers by one sort (several times faster than numpy's hashing path on millions of keys)."""
    ordered = np.sort(np.asarray(values))
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in ``sorted_keys`` and whether each was found."""
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, max(len(sorted_keys) - 1, 0))
    found = sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
    return pos, found


def pair_feature_columns(history: pd.DataFrame, users: np.ndarray, items: np.ndarray, now) -> dict[str, np.ndarray]:
    """:func:`pair_features` as arrays aligned with the ``(users, items)`` rows (no merge: the few pairs with
    events are aggregated, then looked up by their int64 key)."""
    keys = pair_key(users, items)
    frame = history[history[C.ITEM].ne(NO_ITEM).to_numpy() & history[C.USER].isin(sorted_unique(users)).to_numpy()]
    ev_keys = pair_key(frame[C.USER].to_numpy(), frame[C.ITEM].to_numpy())
    _, wanted = _lookup(sorted_unique(keys), ev_keys)
    frame, ev_keys = frame[wanted], ev_keys[wanted]
    age = _age_days(frame[C.TS], now)
    action = frame[C.ACTION].to_numpy()
    uniq, inv = np.unique(ev_keys, return_inverse=True)
    pos, found = _lookup(uniq, keys)
    n = len(uniq)

    def per_row(values: np.ndarray, fill: float) -> np.ndarray:
        return np.where(found, values[pos] if n else fill, fill).astype(np.float32)

    def smallest(mask: np.ndarray) -> np.ndarray:
        out = np.full(n, np.inf)
        np.minimum.at(out, inv[mask], age[mask])
        return np.where(np.isinf(out), np.nan, out)

    out: dict[str, np.ndarray] = {}
    for name, act in PAIR_ACTIONS.items():
        is_act = action == int(act)
        out[f"ui_{name}"] = per_row(np.bincount(inv[is_act], minlength=n).astype(np.float64), 0.0)
        if name in ("view", "addb", "delb", "order"):
            out[f"ui_days_since_{name}"] = per_row(smallest(is_act), np.nan)
    out["ui_days_since_any"] = per_row(smallest(np.ones(len(age), bool)), np.nan)
    is_order = action == int(Action.ORDER)
    order_pairs, _ = unique_pairs(inv[is_order], _days(frame[C.TS])[is_order])
    out["ui_order_days"] = per_row(np.bincount(order_pairs, minlength=n).astype(np.float64), 0.0)
    # still in the basket: the last basket action on the item is an add, after the user's last clear
    is_basket = np.isin(action, [int(Action.ADD_BASKET), int(Action.DEL_BASKET), int(Action.ORDER)])
    ts = frame[C.TS].to_numpy()
    b_idx = np.flatnonzero(is_basket)
    order = b_idx[np.lexsort((ts[b_idx], inv[b_idx]))]  # by pair, then time (stable: log order on ties)
    last = order[np.r_[inv[order][1:] != inv[order][:-1], True]] if len(order) else order
    clears = history[history[C.ACTION] == int(Action.CLEAR_BASKET)].groupby(C.USER)[C.TS].max()
    last_users = frame[C.USER].to_numpy()[last]
    cleared_after = ts[last] <= clears.reindex(last_users).to_numpy()
    in_basket = np.zeros(n)
    in_basket[inv[last]] = ((action[last] == int(Action.ADD_BASKET)) & ~cleared_after).astype(np.float64)
    out["ui_in_basket"] = per_row(in_basket, 0.0)
    weights = frame[C.ACTION].map(ACTION_WEIGHTS).fillna(0).to_numpy(np.float32)
    interest = np.bincount(inv, weights=weights * np.exp2(-age / 3.0), minlength=n)
    out["ui_interest"] = per_row(interest, 0.0)
    return out


def pair_features(history: pd.DataFrame, pairs: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Per (user, item) pair: counts per action, recency of the last view / addB / delB / order, basket state
    and recency-weighted interest (one row per distinct pair of ``pairs``)."""
    keys = pairs[PAIR_KEYS].drop_duplicates()
    cols = pair_feature_columns(history, keys[C.USER].to_numpy(), keys[C.ITEM].to_numpy(), now)
    return pd.DataFrame({C.USER: keys[C.USER].to_numpy(), C.ITEM: keys[C.ITEM].to_numpy(), **cols})


def category_share(history: pd.DataFrame, items: pd.DataFrame, pairs: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    """Share of the user's (action- and recency-weighted) item events that fall in the pair's item category."""
    events = item_events(history[history[C.USER].isin(pairs[C.USER].unique())])
    category = items[C.CATEGORY].to_numpy().astype(np.int64) + 1  # -1 (unknown) becomes 0: keys stay >= 0
    w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], now, 7.0)
    ev_users = events[C.USER].to_numpy()
    uniq, inv = np.unique(pair_key(ev_users, category[events[C.ITEM].to_numpy()]), return_inverse=True)
    total = np.bincount(inv, weights=w, minlength=len(uniq))
    user_total = pd.Series(w, index=ev_users).groupby(level=0).sum()
    share = total / user_total.reindex(uniq >> 32).to_numpy()
    pos, found = _lookup(uniq, pair_key(pairs[C.USER].to_numpy(), category[pairs[C.ITEM].to_numpy()]))
    return np.where(found, share[pos] if len(uniq) else 0.0, 0.0).astype(np.float32)


def user_price_ratio(history: pd.DataFrame, items: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Item price over the median price of the items the user interacted with (NaN without history)."""
    events = history[history[C.ITEM].ne(NO_ITEM) & history[C.USER].isin(pairs[C.USER].unique())]
    price = items[C.PRICE].to_numpy(np.float32)
    median = pd.Series(price[events[C.ITEM].to_numpy()], index=events[C.USER].to_numpy()).groupby(level=0).median()
    user_median = median.reindex(pairs[C.USER].to_numpy()).to_numpy(np.float32)
    return price[pairs[C.ITEM].to_numpy()] / np.where(user_median > 0, user_median, np.nan)


def embedding_similarity(pairs: pd.DataFrame, user_vectors: pd.DataFrame, item_vectors: np.ndarray) -> np.ndarray:
    """Cosine of each pair's item vector with the user's profile vector (NaN where either is missing).

    ``user_vectors``: normalised profile vectors indexed by user code; ``item_vectors``: normalised, one row per
    item code, zero rows for items without a vector.
    """
    rows = user_vectors.index.get_indexer(pairs[C.USER].to_numpy())
    items = pairs[C.ITEM].to_numpy()
    profiles = user_vectors.to_numpy()
    sims = np.full(len(pairs), np.nan, dtype=np.float32)
    known = np.flatnonzero((rows >= 0) & np.any(item_vectors != 0, axis=1)[items])
    for start in range(0, len(known), 65_536):  # in chunks: two gathered (chunk x dim) blocks stay in cache
        at = known[start : start + 65_536]
        sims[at] = np.einsum("ij,ij->i", profiles[rows[at]], item_vectors[items[at]])
    return sims


def merge_candidates(candidates: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Union of every source's candidates: one row per (user, item), sorted, with each source's score and rank
    (NaN when the source did not propose the pair) and the number of sources that did."""
    if not candidates:
        raise ValueError("no candidate sources given")
    names = sorted(candidates)  # a canonical column order, whatever order the sources arrive in
    keys = {n: pair_key(candidates[n][C.USER].to_numpy(), candidates[n][C.ITEM].to_numpy()) for n in names}
    union = sorted_unique(np.concatenate([keys[n] for n in names]))
    cols = {C.USER: (union >> 32).astype(USER_DTYPE), C.ITEM: (union & 0xFFFFFFFF).astype(ITEM_DTYPE)}
    count = np.zeros(len(union), np.float32)
    for n in names:
        score_col, rank_col = source_columns(n)
        pos = np.searchsorted(union, keys[n])
        score = np.full(len(union), np.nan, np.float32)
        rank = np.full(len(union), np.nan, np.float32)
        score[pos] = candidates[n][C.SCORE].to_numpy(np.float32)
        rank[pos] = candidates[n][C.RANK].to_numpy(np.float32)
        cols[score_col], cols[rank_col] = score, rank
        count[pos] += 1
    cols[C.N_SOURCES] = count
    return pd.DataFrame(cols)


def rank_columns(table: pd.DataFrame) -> list[str]:
    """The rank columns of the candidate sources present in ``table``."""
    return [c for c in table.columns if source_of_rank_column(c) is not None]


def drop_source(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """A candidate table as if ``source`` had never run: the rows only it proposed are gone, its score and rank
    features too, and ``n_sources`` counts the remaining sources."""
    if source_columns(source)[1] not in table:
        raise ValueError(f"no candidate source {source!r} in the table (no column {source_columns(source)[1]!r})")
    return keep_sources(table, [s for s in map(source_of_rank_column, rank_columns(table)) if s != source])


def keep_sources(table: pd.DataFrame, sources) -> pd.DataFrame:
    """A candidate table as if only ``sources`` (those of them present) had run: the rows none of them proposed
    are gone, the other sources' score and rank features too, and ``n_sources`` counts the kept sources."""
    wanted = set(sources)
    kept_ranks = [c for c in rank_columns(table) if source_of_rank_column(c) in wanted]
    dropped = [c for s in map(source_of_rank_column, rank_columns(table)) if s not in wanted for c in source_columns(s)]
    kept = table[table[kept_ranks].notna().any(axis=1)] if kept_ranks else table.iloc[:0]
    kept = kept.drop(columns=dropped)
    kept[C.N_SOURCES] = kept[kept_ranks].notna().sum(axis=1).astype(np.float32)
    return kept.reset_index(drop=True)


def build_features(
    history: pd.DataFrame,
    items: pd.DataFrame,
    candidates: pd.DataFrame,
    now: pd.Timestamp,
    vectors: tuple[pd.DataFrame, np.ndarray] | None = None,
    item_feats: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The reranker's table for one cut: merged candidates plus pair, user, item and similarity features
    (``vectors``: the users' title queries, indexed by user code, and every item's title vector; None: no
    similarity feature).

    Every feature but the item ones depends only on the candidates' users' events, so ``history`` may be just
    those users' events when ``item_feats`` (:func:`item_features` of the whole history) is given: the rows are
    the same (this is how the served model scores a few users without scanning the whole log). Columns are
    gathered by position (no merge), so the cost is one pass per column.
    """
    users = candidates[C.USER].to_numpy()
    item_codes = candidates[C.ITEM].to_numpy()
    cols = {c: candidates[c].to_numpy() for c in candidates.columns}
    cols.update(pair_feature_columns(history, users, item_codes, now))
    user_feats = user_features(history, now, sorted_unique(users))
    rows = user_feats.index.get_indexer(users)
    has_user = rows >= 0
    for name in user_feats.columns:
        values = user_feats[name].to_numpy()
        cols[name] = np.where(has_user, values[np.maximum(rows, 0)] if len(values) else np.nan, np.nan).astype(
            np.float32
        )
    if item_feats is None:
        item_feats = item_features(history, items, now)
    for name in item_feats.columns:
        cols[name] = item_feats[name].to_numpy()[item_codes]
    pairs = pd.DataFrame({C.USER: users, C.ITEM: item_codes}, copy=False)
    cols["ui_category_share"] = category_share(history, items, pairs, now)
    cols["ui_price_ratio"] = user_price_ratio(history, items, pairs)
    # > 1: more time has passed since the user last bought the item than their usual gap between orders, or
    # than the item's usual re-buy gap
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["ui_rebuy_due_user"] = (cols["ui_days_since_order"] / cols["u_order_gap_median"]).astype(np.float32)
        cols["ui_rebuy_due_item"] = (cols["ui_days_since_order"] / cols["i_rebuy_gap"]).astype(np.float32)
    if vectors is not None:
        cols["ui_embedding_sim"] = embedding_similarity(pairs, *vectors)
    cols[C.CATEGORY] = pd.Series(cols[C.CATEGORY]).fillna(-1).to_numpy().astype(np.int32)
    # one column per block, no copy: stacking ~100 columns into blocks was most of the table's time
    return pd.DataFrame(cols, copy=False)


def add_labels(table: pd.DataFrame, target: pd.DataFrame) -> pd.DataFrame:
    """``target`` column: 1 where the user ordered the item in the cut's target window."""
    bought = sorted_unique(pair_key(target[C.USER].to_numpy(), target[C.ITEM].to_numpy()))
    _, found = _lookup(bought, pair_key(table[C.USER].to_numpy(), table[C.ITEM].to_numpy()))
    cols = {c: table[c].to_numpy() for c in table.columns if c != C.TARGET}
    cols[C.TARGET] = found.astype(np.int8)
    return pd.DataFrame(cols, index=table.index, copy=False)  # no insert into a table of one block per column


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The model inputs: every column except keys, the label and the stacked-cut id."""
    return [c for c in table.columns if c not in NON_FEATURE_COLUMNS]


class FeatureRecipe:
    """The feature recipe of one cut, fitted on that cut's history: the item features, the catalog and the users'
    title-embedding profiles (for the similarity feature). :meth:`table` turns any users' candidates into the
    reranker's table; training, validation, the submission and the served model all go through it.
    """

    def __init__(self, now: pd.Timestamp, items: pd.DataFrame, item_feats: pd.DataFrame, embeddings=None):
        self.now = now
        self.items = items
        self.item_feats = item_feats
        self.embeddings = embeddings

    @classmethod
    def fit(
        cls, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None, now: pd.Timestamp, users=None
    ) -> FeatureRecipe:
        """``history``: the cut's events (strictly before ``now``); ``users``: the only users whose tables it will
        build (a shard's: their title profiles alone are computed; None: every user's, as a served model needs)."""
        has_vectors = vectors is not None and len(vectors) and (items[C.VECTOR_ROW] >= 0).any()
        embeddings = TitleProfiles().fit(history, items, vectors, users) if has_vectors else None
        kept = items.drop(columns=[C.TITLE], errors="ignore")
        return cls(now, kept, item_features(history, kept, now), embeddings)

    def table(self, history: pd.DataFrame, candidates: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """Merged candidates with every feature. ``history`` may be only the candidates' users' events (the item
        features were computed on the whole history at fit time), so a few users cost milliseconds."""
        merged = merge_candidates(candidates)
        vectors = None
        if self.embeddings is not None:
            codes, queries = self.embeddings.user_queries(merged[C.USER].unique())
            vectors = (pd.DataFrame(queries, index=codes), self.embeddings.item_vectors_)
        return build_features(history, self.items, merged, self.now, vectors, self.item_feats)
