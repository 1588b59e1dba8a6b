"""Popularity: what is selling now, overall or within the categories each user shops in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.candidates.base import CandidateSource, as_candidates, cut_time, decay, item_events, top_n
from recsys.schema import Action
from recsys.schema import Columns as C

#: Demand signals for popularity: orders count most, basket adds and views less.
POPULARITY_WEIGHTS: dict[int, float] = {
    int(Action.ORDER): 5.0,
    int(Action.ADD_BASKET): 2.0,
    int(Action.LIKE): 1.0,
    int(Action.VIEW): 0.2,
}


def item_popularity(
    history: pd.DataFrame, half_life_days: float = 3.0, weights: dict[int, float] = POPULARITY_WEIGHTS
) -> pd.Series:
    """Recency-weighted demand per item (index item code), descending."""
    events = item_events(history, weights)
    if events.empty:
        return pd.Series(dtype=np.float32)
    w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], cut_time(history), half_life_days)
    pop = pd.Series(w, index=events[C.ITEM].to_numpy()).groupby(level=0).sum()
    return pop.sort_values(ascending=False, kind="stable")


def popular_items(history: pd.DataFrame, n: int, days: float = 7.0) -> np.ndarray:
    """The ``n`` most demanded items of the last ``days`` (all history when that window is empty)."""
    recent = history[history[C.TS] >= cut_time(history) - pd.Timedelta(days=days)]
    pop = item_popularity(recent if len(recent) else history)
    return pop.index.to_numpy()[:n]


def padding_items(history: pd.DataFrame, n_items: int, n: int) -> np.ndarray:
    """The one padding recipe: ``n`` distinct item codes to complete short lists.

    The week's best sellers (:func:`popular_items`) first, then the rest of the history's items by demand, then
    the other item codes in order, so that a list can always be filled when the item table has ``n`` items.
    """
    ranked = [*popular_items(history, n), *item_popularity(history).index[: 2 * n]]
    ranked = list(dict.fromkeys(int(i) for i in ranked))[:n]
    if len(ranked) < n:
        taken = set(ranked)
        ranked += [i for i in range(min(n_items, n + len(taken))) if i not in taken][: n - len(ranked)]
    return np.asarray(ranked, dtype=np.int64)


def pad(ranked: list, padding: np.ndarray, k: int) -> list:
    """``ranked`` cut to ``k`` and completed with unused ``padding`` items, order kept."""
    out = list(dict.fromkeys(ranked))[:k]
    seen = set(out)
    for item in padding:
        if len(out) >= k:
            break
        if item not in seen:
            out.append(item)
            seen.add(item)
    return out


class PopularitySource(CandidateSource):
    """Trending items: ``mode="global"`` gives everyone the same list; ``mode="category"`` gives each user the
    trending items of the categories in their recent history, weighted by the user's share of that category."""

    def __init__(self, mode: str = "global", half_life_days: float = 3.0, user_half_life_days: float = 7.0):
        if mode not in ("global", "category"):
            raise ValueError(f"mode must be 'global' or 'category', got {mode!r}")
        self.mode = mode
        self.name = "popular" if mode == "global" else "popular_category"
        self.half_life_days = half_life_days
        self.user_half_life_days = user_half_life_days

    def fit(self, history: pd.DataFrame, items: pd.DataFrame, vectors: np.ndarray | None = None):
        self.popularity_ = item_popularity(history, self.half_life_days)
        if self.mode == "category":
            category = items[C.CATEGORY].to_numpy()
            pop = self.popularity_.to_frame(C.SCORE).rename_axis(C.ITEM).reset_index()
            pop[C.CATEGORY] = category[pop[C.ITEM].to_numpy()]
            self.category_top_ = pop[pop[C.CATEGORY] >= 0]
            events = item_events(history)
            w = events[C.WEIGHT].to_numpy() * decay(events[C.TS], cut_time(history), self.user_half_life_days)
            prefs = pd.DataFrame(
                {
                    C.USER: events[C.USER].to_numpy(),
                    C.CATEGORY: category[events[C.ITEM].to_numpy()],
                    C.WEIGHT: w,
                }
            )
            prefs = prefs[prefs[C.CATEGORY] >= 0].groupby([C.USER, C.CATEGORY], as_index=False)[C.WEIGHT].sum()
            prefs[C.WEIGHT] /= prefs.groupby(C.USER)[C.WEIGHT].transform("sum")
            self.user_categories_ = prefs
        return self

    def top_items(self, n: int) -> np.ndarray:
        return self.popularity_.index.to_numpy()[:n]

    def recommend(self, users: np.ndarray, n: int) -> pd.DataFrame:
        users = np.asarray(users)
        if self.mode == "global":
            top = self.popularity_.iloc[:n]
            m = len(top)
            return as_candidates(
                pd.DataFrame(
                    {
                        C.USER: np.repeat(users, m),
                        C.ITEM: np.tile(top.index.to_numpy(), len(users)),
                        C.SCORE: np.tile(top.to_numpy(), len(users)),
                        C.RANK: np.tile(np.arange(1, m + 1), len(users)),
                    }
                )
            )
        prefs = self.user_categories_[self.user_categories_[C.USER].isin(users)]
        # keep the user's 5 main categories and each category's n best items, then score = share * popularity
        prefs = prefs.sort_values([C.USER, C.WEIGHT], ascending=[True, False]).groupby(C.USER).head(5)
        cat_top = self.category_top_.groupby(C.CATEGORY, sort=False).head(n)
        pairs = prefs.merge(cat_top, on=C.CATEGORY)
        pairs[C.SCORE] = pairs[C.WEIGHT] * pairs[C.SCORE]
        pairs = pairs.groupby([C.USER, C.ITEM], as_index=False)[C.SCORE].max()
        return top_n(pairs, n)
