import logging

from recsys.progress import CatBoostProgress, Progress, setup_logging


def test_progress_lines_are_throttled_but_the_last_one_always_shows():
    lines = []
    progress = Progress("work", 4, every=3600, emit=lines.append)
    for done in range(1, 5):
        progress.update(done, note=f"item {done}")
    assert lines == [lines[-1]] and lines[0].startswith("work: 4/4 (100%)") and lines[0].endswith("item 4")


def test_every_line_has_a_counter_and_an_estimate_until_the_end():
    lines = []
    progress = Progress("ablation", 3, every=0, emit=lines.append)
    for done in (1, 2, 3):
        progress.update(done)
    assert [line.split(":")[1].split(",")[0].strip() for line in lines] == ["1/3 (33%)", "2/3 (67%)", "3/3 (100%)"]
    assert all("left" in line for line in lines[:2]) and "left" not in lines[2]


def test_catboost_callback_reports_trees_and_never_stops_training():
    lines = []
    callback = CatBoostProgress("trial", 10, every=0, emit=lines.append)

    class Info:
        iteration = 5

    assert callback.after_iteration(Info()) is True
    assert lines == [lines[0]] and lines[0].startswith("trial trees: 5/10 (50%)")


def test_third_party_loggers_only_warn():
    setup_logging()
    assert logging.getLogger("faiss.loader").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("mlflow.store.db.utils").getEffectiveLevel() == logging.WARNING
