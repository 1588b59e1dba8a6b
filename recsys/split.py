"""Time-based cuts: history strictly before a cut, target = orders in the ``HORIZON_DAYS`` after it.

Every feature and candidate for a cut must be computed from :func:`history` of that cut only; the tests check
that changing events at or after a cut leaves everything computed for it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.schema import HORIZON_DAYS, NO_ITEM, Action
from recsys.schema import Columns as C


@dataclass(frozen=True)
class Cut:
    """A point in time: history is ``ts < at``, the target window is ``[at, at + horizon)``."""

    at: pd.Timestamp
    horizon_days: int = HORIZON_DAYS
    name: str = ""

    @property
    def target_end(self) -> pd.Timestamp:
        return self.at + pd.Timedelta(days=self.horizon_days)

    def __str__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"{label}cut {self.at:%Y-%m-%d %H:%M} (target to {self.target_end:%Y-%m-%d %H:%M})"


def history(interactions: pd.DataFrame, cut: Cut) -> pd.DataFrame:
    """Events strictly before the cut."""
    ts = interactions[C.TS]
    if ts.is_monotonic_increasing:
        return interactions.iloc[: ts.searchsorted(cut.at, side="left")]
    return interactions[ts < cut.at]


def model_history(ds, cut: Cut) -> pd.DataFrame:
    """What candidates and features of a cut may use: the log before the cut plus, when ``ds.stitch_identities``
    is set, the same events copied to the other user_ids of their person (see ``recsys.identity``)."""
    own = history(ds.interactions, cut)
    if not ds.stitch_identities:
        return own
    from recsys.identity import linked_history

    linked = linked_history(ds, own, cut.at)
    return pd.concat([own, linked], ignore_index=True).sort_values(C.TS, kind="stable", ignore_index=True)


def target(interactions: pd.DataFrame, cut: Cut) -> pd.DataFrame:
    """Distinct (user, item) pairs ordered in ``[cut.at, cut.target_end)``: what the metric scores against."""
    ts = interactions[C.TS]
    mask = (ts >= cut.at) & (ts < cut.target_end)
    mask &= interactions[C.ACTION].eq(int(Action.ORDER)) & interactions[C.ITEM].ne(NO_ITEM)
    return interactions.loc[mask, [C.USER, C.ITEM]].drop_duplicates().reset_index(drop=True)


def make_cuts(end: pd.Timestamp, n_train: int = 1, horizon_days: int = HORIZON_DAYS) -> dict[str, Cut]:
    """The cuts a run uses, walking back from the end of the log in ``horizon_days`` steps.

    ``final`` is the end of the log (no target known), ``valid`` one horizon earlier (model selection and the
    reported recall) and ``train``, ``train2``, ... further back (rows the reranker and buyer model learn from;
    their target windows end at or before the validation cut, so validation stays unseen).
    """
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    step = pd.Timedelta(days=horizon_days)
    cuts = {
        "final": Cut(end, horizon_days, "final"),
        "valid": Cut(end - step, horizon_days, "valid"),
    }
    for i in range(n_train):
        name = "train" if i == 0 else f"train{i + 1}"
        cuts[name] = Cut(end - step * (i + 2), horizon_days, name)
    return cuts


#: Days of log a run needs before its earliest training cut (history for candidates, features and user pools).
MIN_HISTORY_DAYS = HORIZON_DAYS


def log_days(interactions: pd.DataFrame) -> int:
    """Calendar days the log covers, from the midnight before its first event to the midnight after its last."""
    ts = interactions[C.TS]
    return int((ts.max().floor("D") + pd.Timedelta(days=1) - ts.min().floor("D")).days)


def check_log_covers_cuts(interactions: pd.DataFrame, cuts: dict[str, Cut], history_days: int = MIN_HISTORY_DAYS):
    """Refuse, before any model is fitted, a log too short for ``cuts`` or without orders in a target window.

    The earliest cut needs ``history_days`` of log before it, and every cut whose target window lies in the log
    (training and validation) needs at least one order in that window, to learn from and to score.

    Raises:
        DataValidationError: naming the file, the column, how many days the log has and how many the cuts need.
    """
    from recsys.data import DataValidationError
    from recsys.schema import ACTIONS_FILE

    ts = interactions[C.TS]
    first, last = ts.min(), ts.max()
    end = last.floor("D") + pd.Timedelta(days=1)
    ordered = sorted(cuts.items(), key=lambda named: named[1].at)
    have = log_days(interactions)
    need = int((end - ordered[0][1].at).days) + history_days
    if have < need:
        layout = ", ".join(f"{name} {cut.at:%Y-%m-%d}" for name, cut in ordered)
        raise DataValidationError(
            f"{ACTIONS_FILE}: column 'date': the log covers {have} days ({first:%Y-%m-%d} to {last:%Y-%m-%d}), "
            f"the run needs at least {need}: {history_days} days of history before the earliest cut and "
            f"{need - history_days} from it to the end of the log (cuts: {layout}); use fewer training cuts or a "
            "longer log"
        )
    for name, cut in cuts.items():
        if cut.target_end <= end and target(interactions, cut).empty:
            raise DataValidationError(
                f"{ACTIONS_FILE}: column 'action': no order (code {int(Action.ORDER)}) with a product from "
                f"{cut.at:%Y-%m-%d %H:%M} to {cut.target_end:%Y-%m-%d %H:%M}, the target window of the {name} cut: "
                "the run needs buyers in every training and validation window"
            )
