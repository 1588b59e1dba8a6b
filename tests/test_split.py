import pandas as pd
import pytest

from recsys.data import DataValidationError
from recsys.schema import ACTIONS_FILE, Action
from recsys.schema import Columns as C
from recsys.split import (
    Cut,
    check_log_covers_cuts,
    cut_names,
    daily_cuts,
    fit_cuts,
    history,
    labelled_names,
    log_days,
    make_cuts,
    target,
    train_cuts_that_fit,
)
from tests.conftest import make_interactions


def test_history_is_strictly_before_cut(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-04"))
    hist = history(tiny_interactions, cut)
    assert hist[C.TS].max() < cut.at
    assert len(hist) == 7


def test_target_is_orders_in_window(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-04"))
    tgt = target(tiny_interactions, cut)
    # orders on 09-04 and 09-05 are in [09-04, 09-07); the one at exactly 09-07 00:00 is not; views never count
    assert sorted(map(tuple, tgt[[C.USER, C.ITEM]].to_numpy().tolist())) == [(0, 1), (1, 2)]


def test_history_unsorted_input_gives_same_rows(tiny_interactions):
    cut = Cut(pd.Timestamp("2024-09-03"))
    shuffled = tiny_interactions.sample(frac=1.0, random_state=0)
    assert len(history(shuffled, cut)) == len(history(tiny_interactions, cut)) == 5


def test_make_cuts_walk_back_without_overlap():
    end = pd.Timestamp("2024-09-29")
    cuts = make_cuts(end, n_train=2)
    assert cuts["final"].at == end
    assert cuts["valid"].at == pd.Timestamp("2024-09-26")
    assert cuts["train"].at == pd.Timestamp("2024-09-23")
    assert cuts["train2"].at == pd.Timestamp("2024-09-22")  # training cuts are daily
    # a training target window never reaches into the validation window
    assert cuts["train"].target_end == cuts["valid"].at


def test_validation_windows_do_not_overlap_and_training_targets_end_before_them():
    end = pd.Timestamp("2024-09-29")
    cuts = make_cuts(end, n_train=3, n_valid=3)
    assert cut_names(cuts, "valid") == ["valid", "valid2", "valid3"]
    assert cut_names(cuts, "train") == ["train", "train2", "train3"]
    assert labelled_names(cuts) == ["valid", "valid2", "valid3", "train", "train2", "train3"]
    windows = sorted((cuts[n].at, cuts[n].target_end) for n in cut_names(cuts, "valid"))
    assert windows[-1][1] == end
    for (_, end_a), (start_b, _) in zip(windows, windows[1:], strict=False):
        assert end_a == start_b  # back to back, never overlapping
    oldest_valid = min(cuts[n].at for n in cut_names(cuts, "valid"))
    assert max(cuts[n].target_end for n in cut_names(cuts, "train")) == oldest_valid
    assert [cuts[n].at for n in cut_names(cuts, "train")] == list(
        pd.date_range(end=pd.Timestamp("2024-09-17"), periods=3, freq="D")[::-1]
    )


@pytest.mark.parametrize("bad", [{"n_train": 0}, {"n_valid": 0}, {"train_step_days": 0}])
def test_make_cuts_refuses_empty_layouts(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        make_cuts(pd.Timestamp("2024-09-29"), **{"n_train": 1, **bad})


# ----------------------------------------------------------------------------------------------------------
# A log too short for the cuts of a run is refused before any model is fitted
# ----------------------------------------------------------------------------------------------------------


def daily_orders(first: str, days: int):
    """One order a day at noon for ``days`` days from ``first``: a log covering exactly ``days`` days."""
    return make_interactions(
        [(0, 1, Action.ORDER, f"{pd.Timestamp(first) + pd.Timedelta(days=d):%Y-%m-%d} 12:00") for d in range(days)]
    )


@pytest.mark.parametrize(("n_train", "n_valid", "needed"), [(1, 1, 9), (2, 1, 10), (3, 1, 11), (4, 3, 18)])
def test_log_covering_the_cuts_passes_and_one_day_less_is_refused(n_train, n_valid, needed):
    log = daily_orders("2024-09-07", needed)
    assert log_days(log) == needed
    check_log_covers_cuts(
        log, make_cuts(pd.Timestamp("2024-09-07") + pd.Timedelta(days=needed), n_train, n_valid=n_valid)
    )

    short = log.iloc[1:]  # starts one day later
    cuts = make_cuts(pd.Timestamp("2024-09-07") + pd.Timedelta(days=needed), n_train, n_valid=n_valid)
    with pytest.raises(DataValidationError) as error:
        check_log_covers_cuts(short, cuts)
    message = str(error.value)
    assert f"{ACTIONS_FILE}: column 'date'" in message
    assert f"covers {needed - 1} days (2024-09-08 to " in message and f"needs at least {needed}" in message
    assert "--valid-windows" in message  # what to change, by its flag
    assert ("--train-cuts" in message) == (n_train > 1)  # one training cut is the fewest


@pytest.mark.parametrize(("n_train", "n_valid", "needed"), [(1, 1, 9), (2, 1, 10), (3, 1, 11), (4, 3, 18)])
def test_train_cuts_that_fit_count_a_day_of_log_per_cut(n_train, n_valid, needed):
    """The layouts above: a log of ``needed`` days holds ``n_train`` cuts (and no more), a day less one cut less,
    and what it says fits passes ``check_log_covers_cuts``."""
    log = daily_orders("2024-09-07", needed)
    assert train_cuts_that_fit(log, n_train + 5, n_valid) == n_train
    assert train_cuts_that_fit(log, n_train - 1, n_valid) == n_train - 1 or n_train == 1
    short = log.iloc[1:]
    fit = train_cuts_that_fit(short, n_train + 5, n_valid)
    assert fit == n_train - 1
    if fit:
        check_log_covers_cuts(
            short, make_cuts(pd.Timestamp("2024-09-07") + pd.Timedelta(days=needed), fit, n_valid=n_valid)
        )


def test_fit_cuts_learn_from_fewer_training_cuts_on_a_short_log_and_say_so():
    log = daily_orders("2024-09-07", 18)  # 3 validation windows and 4 training cuts need 18 days
    cuts, note = fit_cuts(log, 4, n_valid=3)
    assert note == "" and cut_names(cuts, "train") == ["train", "train2", "train3", "train4"]
    assert cuts == make_cuts(pd.Timestamp("2024-09-25"), 4, n_valid=3)

    cuts, note = fit_cuts(log.iloc[2:], 4, n_valid=3)  # two days less: two training cuts less
    assert cut_names(cuts, "train") == ["train", "train2"] and cut_names(cuts, "valid") == ["valid", "valid2", "valid3"]
    assert note == (
        "the log covers 16 days: 2 daily training cuts fit before the 3 validation windows, not --train-cuts 4; "
        "the run learns from 2"
    )
    with pytest.raises(DataValidationError, match="covers 14 days .* needs at least 15"):  # not even one fits
        fit_cuts(log.iloc[4:], 4, n_valid=3)


def test_no_training_cut_fits_a_log_shorter_than_the_validation_windows_need():
    log = daily_orders("2024-09-07", 8)  # one validation window and one training cut need 9 days
    assert train_cuts_that_fit(log, 6, n_valid=1) == 0


def test_a_target_window_without_orders_is_refused():
    log = daily_orders("2024-09-07", 12)
    log.loc[log[C.TS] >= "2024-09-16", C.ACTION] = int(Action.VIEW)  # the validation window: views only
    with pytest.raises(DataValidationError, match=f"{ACTIONS_FILE}: column 'action': no order .* the valid cut"):
        check_log_covers_cuts(log, make_cuts(pd.Timestamp("2024-09-19"), 2))


def test_the_tiny_preset_covers_the_default_cuts(tiny_dataset):
    check_log_covers_cuts(tiny_dataset.interactions, make_cuts(tiny_dataset.end, n_train=2))
    assert log_days(tiny_dataset.interactions) == 22


def test_daily_cuts_end_their_targets_by_the_end_and_keep_three_days_of_history():
    end = pd.Timestamp("2024-09-29")
    cuts = daily_cuts(end, 30, log_start=pd.Timestamp("2024-09-07 10:00"))
    ats = [c.at for c in cuts.values()]
    assert list(cuts)[:3] == ["buyer", "buyer2", "buyer3"]
    assert ats[0] == pd.Timestamp("2024-09-26") and max(c.target_end for c in cuts.values()) == end
    assert [a - b for a, b in zip(ats[:-1], ats[1:], strict=True)] == [pd.Timedelta(days=1)] * (len(ats) - 1)
    # 3 calendar days of log before the oldest (as check_log_covers_cuts counts them): 09-10 is the last cut
    assert ats[-1] == pd.Timestamp("2024-09-10") and len(cuts) == 17
    assert list(daily_cuts(end, 30, log_start=pd.Timestamp("2024-09-08 00:00:01")).values())[-1].at == pd.Timestamp(
        "2024-09-11"
    )
    assert len(daily_cuts(end, 4, pd.Timestamp("2024-09-07"))) == 4
    assert daily_cuts(end, 5, log_start=pd.Timestamp("2024-09-25")) == {}  # too short a log: none
    with pytest.raises(ValueError, match="n must be >= 1"):
        daily_cuts(end, 0, pd.Timestamp("2024-09-07"))


def test_cut_kinds_are_an_enum_on_the_cut_equal_to_their_names():
    from recsys.split import FINAL, CutKind, cut_kind, daily_cuts, numbered

    cuts = make_cuts(pd.Timestamp("2024-10-01"), n_train=2, n_valid=2)
    assert {name: cut.kind for name, cut in cuts.items()} == {
        FINAL: CutKind.FINAL,
        "valid": CutKind.VALID,
        "valid2": CutKind.VALID,
        "train": CutKind.TRAIN,
        "train2": CutKind.TRAIN,
    }
    assert cuts[CutKind.FINAL] is cuts["final"] and cut_names(cuts, CutKind.TRAIN) == ["train", "train2"]
    assert [cut_kind(numbered(kind, i)) for kind in CutKind for i in (0, 3)] == [k for k in CutKind for _ in (0, 1)]
    (buyer,) = daily_cuts(pd.Timestamp("2024-10-01"), 1, pd.Timestamp("2024-09-01")).values()
    assert buyer.kind is CutKind.BUYER
    with pytest.raises(ValueError, match="'holdout' is not a cut name"):
        cut_kind("holdout")
