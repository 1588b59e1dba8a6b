"""Time-based cuts: history strictly before a cut, target = orders in the ``HORIZON_DAYS`` after it.

Every feature and candidate for a cut must be computed from :func:`history` of that cut only; the tests check
that changing events at or after a cut leaves everything computed for it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from recsys.dataset import log_end
from recsys.identity import linked_history
from recsys.schema import ACTIONS_FILE, HORIZON_DAYS, NO_ITEM, Action, DataValidationError
from recsys.schema import Columns as C

#: Days of log a run needs before its earliest training cut (history for candidates, features and user pools).
MIN_HISTORY_DAYS = HORIZON_DAYS


class CutKind(StrEnum):
    """What a cut is for, the prefix of its name (:func:`numbered`): ``train``, ``train2``, ... learning; ``valid``,
    ``valid2``, ... the validation windows; ``final`` the end of the log (the submission); ``buyer``, ``buyer2``,
    ... the buyer model's daily cuts. Equal to its text, so a cut's name keys dicts as before."""

    TRAIN = "train"
    VALID = "valid"
    FINAL = "final"
    BUYER = "buyer"


#: The name of the final cut (the end of the log), the one cut of its kind.
FINAL = CutKind.FINAL.value


@dataclass(frozen=True)
class Cut:
    """A point in time: history is ``ts < at``, the target window is ``[at, at + horizon)``."""

    at: pd.Timestamp
    horizon_days: int = HORIZON_DAYS
    name: str = ""

    @property
    def kind(self) -> CutKind:
        """The cut's :class:`CutKind`, from its name."""
        return cut_kind(self.name)

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
    linked = linked_history(ds, own, cut.at)
    return pd.concat([own, linked], ignore_index=True).sort_values(C.TS, kind="stable", ignore_index=True)


def target(interactions: pd.DataFrame, cut: Cut) -> pd.DataFrame:
    """Distinct (user, item) pairs ordered in ``[cut.at, cut.target_end)``: what the metric scores against."""
    ts = interactions[C.TS]
    mask = (ts >= cut.at) & (ts < cut.target_end)
    mask &= interactions[C.ACTION].eq(int(Action.ORDER)) & interactions[C.ITEM].ne(NO_ITEM)
    return interactions.loc[mask, [C.USER, C.ITEM]].drop_duplicates().reset_index(drop=True)


def make_cuts(
    end: pd.Timestamp,
    n_train: int = 1,
    horizon_days: int = HORIZON_DAYS,
    n_valid: int = 1,
    train_step_days: int = 1,
) -> dict[str, Cut]:
    """The cuts a run uses, walking back from the end of the log.

    ``final`` is the end of the log (no target known). ``valid``, ``valid2``, ... are ``n_valid`` validation
    cuts one horizon apart, newest first: their target windows do not overlap, so each is a separate sample of
    the quality of a model (model selection and the reported recall use their mean). ``train``, ``train2``, ...
    are ``n_train`` training cuts every ``train_step_days`` days before the oldest validation cut, newest first:
    the newest one's target window ends where the oldest validation window starts, so no training target
    overlaps a validation target (daily training windows overlap each other, which is fine for learning).
    """
    if n_train < 1:
        raise ValueError(f"n_train must be >= 1, got {n_train}")
    if n_valid < 1:
        raise ValueError(f"n_valid must be >= 1, got {n_valid}")
    if train_step_days < 1:
        raise ValueError(f"train_step_days must be >= 1, got {train_step_days}")
    step = pd.Timedelta(days=horizon_days)
    cuts = {FINAL: Cut(end, horizon_days, FINAL)}
    for i in range(n_valid):
        name = numbered(CutKind.VALID, i)
        cuts[name] = Cut(end - step * (i + 1), horizon_days, name)
    newest_train = end - step * (n_valid + 1)
    for i in range(n_train):
        name = numbered(CutKind.TRAIN, i)
        cuts[name] = Cut(newest_train - pd.Timedelta(days=train_step_days * i), horizon_days, name)
    return cuts


def daily_cuts(end: pd.Timestamp, n: int, log_start: pd.Timestamp, horizon_days: int = HORIZON_DAYS) -> dict[str, Cut]:
    """Up to ``n`` cuts one day apart, newest first, whose target windows end at or before ``end``: ``buyer``,
    ``buyer2``, ... (what the buyer model learns from; it needs only the users' features at each, so it can learn
    from many). Cuts with less than :data:`MIN_HISTORY_DAYS` of log before them (from the midnight before
    ``log_start``, the first event: calendar days, as :func:`check_log_covers_cuts` counts them) are left out: a
    pool of users seen for a day or two says little about one seen for weeks."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    newest = end - pd.Timedelta(days=horizon_days)
    earliest = log_start.floor("D") + pd.Timedelta(days=MIN_HISTORY_DAYS)
    cuts = {}
    for i in range(n):
        at = newest - pd.Timedelta(days=i)
        if at < earliest:
            break
        name = numbered(CutKind.BUYER, i)
        cuts[name] = Cut(at, horizon_days, name)
    return cuts


def numbered(kind: CutKind, i: int) -> str:
    """``kind`` for the first cut of a kind, then ``kind2``, ``kind3``, ..."""
    return kind.value if i == 0 else f"{kind.value}{i + 1}"


def cut_kind(name: str) -> CutKind:
    """The kind of a cut name (:func:`numbered`'s inverse): ``valid3`` -> ``CutKind.VALID``; a name of no kind is
    a ValueError naming it."""
    try:
        return CutKind(name.rstrip("0123456789"))
    except ValueError:
        kinds = ", ".join(k.value for k in CutKind)
        raise ValueError(f"{name!r} is not a cut name (one of {kinds}, numbered)") from None


def cut_names(cuts: dict[str, Cut], kind: CutKind | str) -> list[str]:
    """The names of the cuts of one ``kind`` (training or validation; its text works too), newest first."""
    kind = CutKind(kind)
    names = [n for n in cuts if cut_kind(n) is kind]
    return sorted(names, key=lambda n: cuts[n].at, reverse=True)


def labelled_names(cuts: dict[str, Cut]) -> list[str]:
    """Every cut with a known target (validation and training), newest first: what the final model learns from."""
    return sorted((n for n in cuts if cut_kind(n) is not CutKind.FINAL), key=lambda n: cuts[n].at, reverse=True)


def log_days(interactions: pd.DataFrame) -> int:
    """Calendar days the log covers, from the midnight before its first event to the midnight after its last."""
    ts = interactions[C.TS]
    return int((log_end(interactions) - ts.min().floor("D")).days)


def train_cuts_that_fit(
    interactions: pd.DataFrame,
    wanted: int,
    n_valid: int,
    horizon_days: int = HORIZON_DAYS,
    history_days: int = MIN_HISTORY_DAYS,
) -> int:
    """The most daily training cuts, up to ``wanted``, that the log holds in :func:`make_cuts`' layout with
    ``n_valid`` validation windows, by :func:`check_log_covers_cuts`' rule (``history_days`` of log before the
    earliest cut); 0 when not even one does. Each training cut less needs a day less of log."""
    room = log_days(interactions) - history_days - (n_valid + 1) * horizon_days + 1
    return max(0, min(wanted, room))


def fit_cuts(interactions: pd.DataFrame, n_train: int, n_valid: int) -> tuple[dict[str, Cut], str]:
    """A run's cuts (:func:`make_cuts` from the end of the log) and a note: ``n_train`` daily training cuts, or
    as many as a shorter log holds (the note, empty otherwise, says how many); checked by
    :func:`check_log_covers_cuts`, which refuses a log too short for one."""
    fit = train_cuts_that_fit(interactions, n_train, n_valid)
    cuts = make_cuts(log_end(interactions), n_train=max(fit, 1), n_valid=n_valid)
    check_log_covers_cuts(interactions, cuts)
    if fit >= n_train:
        return cuts, ""
    return cuts, (
        f"the log covers {log_days(interactions)} days: {fit} daily training cuts fit before the {n_valid} "
        f"validation windows, not --train-cuts {n_train}; the run learns from {fit}"
    )


def check_log_covers_cuts(interactions: pd.DataFrame, cuts: dict[str, Cut], history_days: int = MIN_HISTORY_DAYS):
    """Refuse, before any model is fitted, a log too short for ``cuts`` or without orders in a target window.

    The earliest cut needs ``history_days`` of log before it, and every cut whose target window lies in the log
    (training and validation) needs at least one order in that window, to learn from and to score.

    Raises:
        DataValidationError: naming the file, the column, how many days the log has and how many the cuts need.
    """
    ts = interactions[C.TS]
    first, last = ts.min(), ts.max()
    end = log_end(interactions)
    ordered = sorted(cuts.items(), key=lambda named: named[1].at)
    have = log_days(interactions)
    need = int((end - ordered[0][1].at).days) + history_days
    if have < need:
        layout = ", ".join(f"{name} {cut.at:%Y-%m-%d}" for name, cut in ordered)
        several = len(cut_names(cuts, CutKind.TRAIN)) > 1
        fewer = "training cuts (--train-cuts: each one less needs a day less) or " if several else ""
        raise DataValidationError(
            f"{ACTIONS_FILE}: column 'date': the log covers {have} days ({first:%Y-%m-%d} to {last:%Y-%m-%d}), "
            f"the run needs at least {need}: {history_days} days of history before the earliest cut and "
            f"{need - history_days} from it to the end of the log (cuts: {layout}); use fewer {fewer}"
            "validation windows (--valid-windows: 3 days each), or a longer log"
        )
    for name, cut in cuts.items():
        if cut.target_end <= end and target(interactions, cut).empty:
            raise DataValidationError(
                f"{ACTIONS_FILE}: column 'action': no order (code {int(Action.ORDER)}) with a product from "
                f"{cut.at:%Y-%m-%d %H:%M} to {cut.target_end:%Y-%m-%d %H:%M}, the target window of the {name} cut: "
                "the run needs buyers in every training and validation window"
            )
