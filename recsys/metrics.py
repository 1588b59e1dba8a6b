"""The competition metric, implemented once, and the diagnostics used to understand it.

Recall per buyer = |submitted ∩ bought| / |bought|. The score is the mean over **every** user who bought in the
test period: a buyer absent from the submission scores 0, users who bought nothing are not counted, and a
submission with more than ``top_users`` users scores 0. Only the first ``k`` products of a list count and a
product listed twice counts once.

Recommendations are a mapping ``user -> sequence of items`` and the truth a DataFrame of (user, item) pairs or
a mapping ``user -> set of items``; users and items can be raw ids or integer codes, as long as both sides
agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recsys.schema import DEFAULT_K, DEFAULT_TOP_USERS
from recsys.schema import Columns as C

Recs = Mapping[object, Sequence[object]]
Truth = Mapping[object, set]


def truth_sets(truth: pd.DataFrame | Truth, user_col: str = C.USER, item_col: str = C.ITEM) -> dict:
    """``user -> set(items)`` from a (user, item) DataFrame (or a mapping, returned as a dict of sets)."""
    if isinstance(truth, pd.DataFrame):
        if truth.empty:
            return {}
        return {u: set(items) for u, items in truth.groupby(user_col, sort=False)[item_col]}
    return {u: set(items) for u, items in truth.items()}


def recs_from_frame(
    frame: pd.DataFrame, user_col: str = C.USER, item_col: str = C.ITEM, order_col: str | None = C.RANK
) -> dict:
    """``user -> [items]`` from a long (user, item[, rank]) DataFrame, ordered by ``order_col`` ascending."""
    if order_col is not None and order_col in frame:
        frame = frame.sort_values([user_col, order_col], kind="stable")
    return {u: list(items) for u, items in frame.groupby(user_col, sort=False)[item_col]}


def user_recalls(recs: Recs, truth: pd.DataFrame | Truth, k: int = DEFAULT_K) -> pd.Series:
    """Recall of every buyer in ``truth`` (0 for buyers without recommendations), indexed by user."""
    sets = truth_sets(truth)
    values = {}
    for user, bought in sets.items():
        listed = set(list(recs.get(user, ()))[:k])
        values[user] = len(listed & bought) / len(bought)
    return pd.Series(values, dtype=float)


def recall(recs: Recs, truth: pd.DataFrame | Truth, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K) -> float:
    """The competition score: mean recall over all buyers; 0 when more than ``top_users`` users are submitted."""
    per_user = buyer_recalls(recs, truth, top_users, k)
    return float(per_user.mean()) if len(per_user) else 0.0


@dataclass(frozen=True)
class Diagnostics:
    """Where the score comes from.

    ``recall`` is the metric; ``buyers_captured`` the share of real buyers among the submitted users (the
    score if every submitted buyer's items were perfect); ``selected_precision`` the share of submitted users who
    bought; ``recall_selected`` the mean recall over the submitted buyers only (item quality); ``recall_se`` the
    standard error of ``recall`` over the period's buyers (the sampling noise of one window: a difference
    smaller than about twice it is no measurable difference).
    """

    recall: float
    buyers: int
    selected: int
    selected_buyers: int
    buyers_captured: float
    selected_precision: float
    recall_selected: float
    recall_se: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def diagnostics(
    recs: Recs, truth: pd.DataFrame | Truth, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K
) -> Diagnostics:
    """The metric with the user-selection / item-quality breakdown."""
    sets = truth_sets(truth)
    per_user = user_recalls(recs, sets, k)
    selected_buyers = [u for u in recs if u in sets]
    n_sel = len(recs)
    return Diagnostics(
        recall=recall(recs, sets, top_users, k),
        buyers=len(sets),
        selected=n_sel,
        selected_buyers=len(selected_buyers),
        buyers_captured=len(selected_buyers) / len(sets) if sets else 0.0,
        selected_precision=len(selected_buyers) / n_sel if n_sel else 0.0,
        recall_selected=float(per_user[selected_buyers].mean()) if selected_buyers else 0.0,
        recall_se=float(per_user.std(ddof=1) / np.sqrt(len(per_user)))
        if len(per_user) > 1 and n_sel <= top_users
        else 0.0,
    )


def buyer_recalls(recs: Recs, truth: pd.DataFrame | Truth, top_users: int = DEFAULT_TOP_USERS, k: int = DEFAULT_K):
    """The recall of every buyer of ``truth`` under the competition's rules (0 for a buyer left out, and for every
    buyer when more than ``top_users`` users are submitted): the terms :func:`recall` averages."""
    per_user = user_recalls(recs, truth, k)
    return per_user * 0.0 if len(recs) > top_users else per_user


def paired_difference(a: Mapping[str, pd.Series], b: Mapping[str, pd.Series]) -> tuple[float, float]:
    """How much ``a`` beats ``b`` over validation windows, paired per buyer: ``(difference, standard error)``.

    ``a`` and ``b`` map a window to the recall of each of its buyers (indexed by user, as :func:`buyer_recalls`
    gives; a buyer missing on one side counts as 0). A window's difference is the mean over its buyers of
    ``a - b``, so the result is exactly the difference of the two mean recalls over the windows both have. Its
    standard error is the larger of the windows' spread over sqrt(n) and the buyer-sampling error
    (sqrt(sum of var_w / n_w) / n), the rule of the single figures (``recsys.validation.over_windows``); paired,
    it is far smaller than the two figures' own errors, which mostly share the same hard and easy buyers.
    NaN when the two have no window in common.
    """
    windows = [w for w in a if w in b]
    if not windows:
        return float("nan"), float("nan")
    means, variances = [], []
    for w in windows:
        users = a[w].index.union(b[w].index)
        diff = a[w].reindex(users, fill_value=0.0) - b[w].reindex(users, fill_value=0.0)
        means.append(float(diff.mean()) if len(diff) else 0.0)
        variances.append(float(diff.var(ddof=1)) / len(diff) if len(diff) > 1 else 0.0)
    n = len(windows)
    spread = float(np.std(means, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return float(np.mean(means)), max(spread, float(np.sqrt(np.sum(variances)) / n))


def candidate_recall(
    candidates: pd.DataFrame,
    truth: pd.DataFrame | Truth,
    ns: Iterable[int] = (25, 50, 100, 200),
    users: Iterable | None = None,
) -> dict[int, float]:
    """Mean share of each buyer's bought items found in their top-``n`` candidates (by ``rank``).

    Averaged over the buyers in ``truth`` (restricted to ``users`` when given); buyers without candidates count
    as 0. This bounds what any reranker can reach with these candidates.
    """
    sets = truth_sets(truth)
    if users is not None:
        keep = set(users)
        sets = {u: s for u, s in sets.items() if u in keep}
    out = {}
    if not sets:
        return {int(n): 0.0 for n in ns}
    cand = candidates[candidates[C.USER].isin(sets.keys())]
    bought = pd.DataFrame(
        [(u, i) for u, items in sets.items() for i in items], columns=[C.USER, C.ITEM]
    ).drop_duplicates()
    sizes = bought.groupby(C.USER).size()
    hits = cand.merge(bought, on=[C.USER, C.ITEM], how="inner")
    for n in ns:
        n_hits = hits[hits[C.RANK] <= n].groupby(C.USER).size()
        per_user = n_hits.reindex(sizes.index, fill_value=0) / sizes
        out[int(n)] = float(per_user.mean())
    return out


def recall_by_familiarity(
    recs: Recs,
    truth: pd.DataFrame | Truth,
    bought: pd.DataFrame | Truth,
    seen: pd.DataFrame | Truth,
    k: int = DEFAULT_K,
) -> pd.DataFrame:
    """Each buyer's recall split by how well they knew the items they bought, and the most each part allows.

    ``bought`` and ``seen`` hold the (user, item) pairs the user had ordered / had any event on before the truth
    period (as ``truth`` is given; ``seen`` may include ``bought``). One row per buyer of ``truth``, indexed by
    user: ``recall`` (as :func:`user_recalls`) = ``rebought`` (listed items they had ordered before) + ``seen``
    (listed items they had only viewed, liked or put in a basket) + ``new`` (the rest), each over all the items
    they bought; ``rebought_ceiling`` = min(re-bought items, k) / bought items, the recall of a perfect list of
    the items they had ordered (what ranking their own purchases alone can reach), ``history_ceiling`` the same
    for every item of their history.
    """
    sets, before, known = truth_sets(truth), truth_sets(bought), truth_sets(seen)
    rows = {}
    for user, items in sets.items():
        listed = set(list(recs.get(user, ()))[:k]) & items
        b, s = before.get(user, set()), known.get(user, set()) | before.get(user, set())
        n = len(items)
        rows[user] = (
            len(listed) / n,
            len(listed & b) / n,
            len((listed & s) - b) / n,
            len(listed - s) / n,
            min(len(items & b), k) / n,
            min(len(items & s), k) / n,
        )
    columns = ["recall", "rebought", "seen", "new", "rebought_ceiling", "history_ceiling"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=float)


FAMILIARITY_KEYS = ("recall_rebought", "recall_seen", "recall_new", "rebought_ceiling", "history_ceiling")


def familiarity_diagnostics(
    recs: Recs,
    truth: pd.DataFrame | Truth,
    bought: pd.DataFrame | Truth,
    seen: pd.DataFrame | Truth,
    k: int = DEFAULT_K,
) -> dict[str, float]:
    """:func:`recall_by_familiarity` summed as the metric sums, over every buyer of ``truth`` (the budget rule
    aside): ``recall_rebought + recall_seen + recall_new`` is the recall of ``recs``; ``rebought_ceiling`` and
    ``history_ceiling`` are the recall that perfect lists of the submitted buyers' own past orders / whole
    history would reach."""
    table = recall_by_familiarity(recs, truth, bought, seen, k)
    if table.empty:
        return dict.fromkeys(FAMILIARITY_KEYS, 0.0)
    n, submitted = len(table), table.index.isin(list(recs))
    parts = {f"recall_{part}": table[part].sum() / n for part in ("rebought", "seen", "new")}
    ceilings = {c: table.loc[submitted, c].sum() / n for c in ("rebought_ceiling", "history_ceiling")}
    return {key: float(value) for key, value in {**parts, **ceilings}.items()}
