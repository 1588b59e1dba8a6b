"""Peak memory and time of loading a dataset (``recsys.data.load_dataset``), stage by stage.

    python -m benchmarks.studies.load_memory --preset full@4
    python -m benchmarks.studies.load_memory --data-dir ../shared/data/holdout-dev/onlineretail-2011-11-20

Prints each loading stage with its time, the process's resident memory after it and its peak during it (sampled
every 10 ms), then the whole load's peak and the dataset's size in memory.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

import psutil

from recsys.cli import resolve_data_dir
from recsys.data import load_dataset


class PeakWatch:
    """The process's resident memory, sampled in a thread: the peak since the last :meth:`take`."""

    def __init__(self) -> None:
        self.process, self.peak, self.overall = psutil.Process(), 0, 0
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            rss = self.process.memory_info().rss
            self.peak, self.overall = max(self.peak, rss), max(self.overall, rss)
            time.sleep(0.01)

    def take(self) -> tuple[float, float]:
        rss, peak = self.process.memory_info().rss / 1e9, max(self.peak, self.process.memory_info().rss) / 1e9
        self.peak = 0
        return rss, peak


class StageLines(logging.Handler):
    """Print the loader's stage timings ("read actions: 19.67 s") with the memory after and during each stage."""

    def __init__(self, watch: PeakWatch) -> None:
        super().__init__()
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith(" s") and ": " in message:
            rss, peak = self.watch.take()
            print(f"{message:40s} after {rss:5.2f} GB   peak {peak:5.2f} GB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir, args.preset, args.seed)
    watch = PeakWatch()
    loader_log = logging.getLogger("recsys.data")
    loader_log.addHandler(StageLines(watch))
    loader_log.setLevel(logging.INFO)
    started = time.perf_counter()
    ds = load_dataset(data_dir)
    seconds = time.perf_counter() - started
    size = sum(f.memory_usage(deep=True).sum() for f in (ds.interactions, ds.items, ds.users, ds.user_locs))
    print(f"loaded {len(ds.interactions):,} rows in {seconds:.1f} s: peak {watch.overall / 1e9:.2f} GB, dataset "
          f"{(size + ds.vectors.nbytes) / 1e9:.2f} GB in memory")  # fmt: skip


if __name__ == "__main__":
    main()
