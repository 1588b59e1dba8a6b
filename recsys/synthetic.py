"""Embedded synthetic dataset in the exact raw Stokman schema, with the truth of the 3 days after the log.

The real files cannot be shipped, so every test, example and benchmark runs on data simulated here. The
simulation is built so that no single heuristic is trivially perfect and every signal of the real task exists:

* **catalog**: categories grouped into departments; Zipf-like item popularity that drifts over the period
  (some items rise, some fade); new items arriving during the log with a novelty boost; log-normal prices by
  category; discounts that make buying a little more likely; each item has a few complementary items bought
  with it; titles made of integer word codes shared within a category and department; title embeddings =
  department centroid + category centroid + title-word part + item noise (nearest neighbours are mostly
  same-category items);
* **people**: many browsers and fewer shoppers, heavy-tailed activity, a separate purchase rate, a taste over
  a few categories of one or two departments and a price band; activity clustered in a few "missions" per
  person, a daily and weekly rhythm and a slight growth of traffic; ~5-10% of active people use 2-3
  user ids, linked only through the ``loc_user_id`` they share;
* **sessions** (one ``pageId`` each) with an intent category: visits, category visits, views, searches,
  likes, basket adds and deletes (per-``user_id`` baskets that persist for days), basket listings that show
  the basket's content at that moment, rare basket clears, and orders;
* **funnel**: every ordered item has an origin: added in the buying session after views, added days earlier
  and left in the basket, viewed in an earlier session (of any of the person's ids), or never seen in the
  log; most basket adds are never bought (deleted or abandoned);
* **junk** the loader must clean: ``'/*'`` user ids and a ``'/*'`` catalog product, duplicate catalog rows,
  missing titles, corrupted ``add_date`` strings, logged products missing from the catalog.

The whole period (log + horizon) is simulated at once with numpy arrays (no per-event or per-session Python
loops); the log is cut at ``log_days`` and the ``(user_id, product_id)`` pairs ordered in the following
``horizon_days`` are the truth.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.schema import (
    ACTIONS_FILE,
    CATALOG_FILE,
    HORIZON_DAYS,
    JUNK_ID,
    MAPPING_FILE,
    RAW_ACTIONS_COLUMNS,
    RAW_CATALOG_COLUMNS,
    RAW_FILES,
    RAW_MAPPING_COLUMNS,
    RAW_TRUTH_COLUMNS,
    TRUTH_FILE,
    VECTORS_FILE,
    VECTORS_KEY,
    Action,
)

logger = logging.getLogger("recsys.synthetic")

#: Bumped whenever the simulation changes, so that cached datasets are regenerated.
GENERATOR_VERSION = 1
#: Name of the small description file written next to the data.
META_FILE = "synthetic.json"

#: Arrow schemas of the written files: the same types as the real files (``products`` is read back as
#: ``list<element: string>``; ``add_date`` is text because the real column holds corrupted values).
ACTIONS_SCHEMA = pa.schema(
    list(
        zip(
            RAW_ACTIONS_COLUMNS,
            [
                pa.large_string(),
                pa.large_string(),
                pa.int64(),
                pa.timestamp("ns"),
                pa.list_(pa.field("element", pa.string())),
                pa.int64(),
            ],
            strict=True,
        )
    )
)
CATALOG_SCHEMA = pa.schema(
    list(
        zip(
            RAW_CATALOG_COLUMNS,
            [pa.large_string()] * 4 + [pa.int64(), pa.large_string(), pa.int64()],
            strict=True,
        )
    )
)
MAPPING_SCHEMA = pa.schema(list(zip(RAW_MAPPING_COLUMNS, [pa.large_string(), pa.int64()], strict=True)))
TRUTH_SCHEMA = pa.schema(list(zip(RAW_TRUTH_COLUMNS, [pa.large_string(), pa.large_string()], strict=True)))

_DAY = 86_400
#: Relative traffic by hour of day (night trough, lunch and evening peaks).
_HOUR_PROFILE = np.array(
    [1.2, 0.7, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.5, 3.5, 4.2, 4.6]  # 00:00-11:59
    + [4.8, 4.8, 4.7, 4.6, 4.6, 4.8, 5.1, 5.6, 5.9, 5.6, 4.3, 2.5]  # 12:00-23:59
)
#: Relative traffic by weekday, Monday first.
_WEEKDAY_PROFILE = np.array([1.0, 0.98, 0.97, 0.97, 0.95, 1.03, 1.1])
_SHOP_ID = "350"
_CATALOG_EXPORT_TIME = "03:07:09"
_RAW_WORDS = ("workhorse powerequipment", "Central", "semiconductor ltd", "Mechanical", "of", "seven")
_CORRUPT_SUFFIXES = ("ellactive", "85", "ilen")
_MAX_TITLE = 15
_N_COMPLEMENTS = 3
#: Extra items added to the basket at a moment of adding (a session with adds adds 1 + Poisson of this).
_EXTRA_ADDS = 1.6
# Funnel origins of an ordered item.
_SAME_SESSION, _EARLIER_ADD, _EARLIER_VIEW, _UNSEEN = range(4)
# Fates of an abandoned basket add.
_DELETE_SAME, _DELETE_LATER, _REMAIN = range(3)


@dataclass(frozen=True)
class Preset:
    """Knobs of one synthetic dataset.

    Sizes differ between presets; the behavioural knobs (defaults) are calibrated so that ``full`` matches the
    real figures of DATA_FACTS.md. Rates are per person and day over the whole simulated period (log +
    horizon), before the weekly rhythm and the traffic growth thin them (about 0.8 of them remain).
    """

    name: str
    n_items: int
    n_categories: int
    n_departments: int
    #: People who never buy, and people with a purchase rate.
    n_browsers: int
    n_shoppers: int
    browser_sessions_per_day: float
    shopper_sessions_per_day: float
    #: Mean orders per shopper and day (log-normal across shoppers: a few repeat buyers buy often).
    orders_per_shopper_day: float
    #: Mean abandoned basket adds per session.
    browser_adds_per_session: float
    shopper_adds_per_session: float
    vector_dim: int = 64
    start: str = "2024-09-07"
    log_days: int = 22
    horizon_days: int = HORIZON_DAYS
    # --- catalog
    #: Spread of the log-normal category sizes (real: 968 categories in a 5,000-row sample, largest 7%).
    category_size_sigma: float = 1.8
    new_item_share: float = 0.06
    discount_share: float = 0.6
    #: Buying weight of a discounted item relative to a full-price one.
    discount_boost: float = 1.3
    # --- browsing, per session (session depth is log-normal around these means)
    visits_per_session: float = 2.85
    category_visits_per_session: float = 0.73
    views_per_session: float = 0.73
    searches_per_session: float = 0.06
    likes_per_view: float = 0.03
    #: Basket listings per session of a user_id whose basket has held something.
    basket_lists_per_session: float = 2.6
    basket_lists_per_session_empty: float = 0.01
    clears_per_session: float = 0.01
    # --- orders
    extra_items_per_order: float = 2.3
    complement_share: float = 0.35
    rebuy_share: float = 0.12
    #: Shares of ordered items added in the buying session, added earlier, viewed earlier, never seen.
    origin_shares: tuple[float, float, float, float] = (0.38, 0.16, 0.08, 0.38)
    #: Fates of abandoned adds: deleted in the same session, deleted later (the rest stay in the basket).
    delete_same_share: float = 0.36
    delete_later_share: float = 0.5
    # --- people
    taste_focus: float = 0.75
    multi_id_share: float = 0.12
    # --- junk
    junk_user_rows: int = 5
    missing_catalog_items: int = 5
    duplicate_catalog_rows: int = 20

    @property
    def total_days(self) -> int:
        """Simulated days: the log plus the horizon of the truth."""
        return self.log_days + self.horizon_days


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="tiny",
            n_items=1_000,
            n_categories=60,
            n_departments=6,
            category_size_sigma=1.0,
            n_browsers=500,
            n_shoppers=1_400,
            browser_sessions_per_day=0.12,
            shopper_sessions_per_day=0.2,
            orders_per_shopper_day=0.02,
            browser_adds_per_session=0.1,
            shopper_adds_per_session=0.15,
            basket_lists_per_session=0.6,
            vector_dim=32,
            junk_user_rows=3,
            missing_catalog_items=3,
            duplicate_catalog_rows=5,
        ),
        Preset(
            name="default",
            n_items=8_000,
            n_categories=300,
            n_departments=10,
            n_browsers=12_000,
            n_shoppers=11_000,
            browser_sessions_per_day=0.15,
            shopper_sessions_per_day=0.2,
            orders_per_shopper_day=0.02,
            browser_adds_per_session=0.1,
            shopper_adds_per_session=0.15,
            basket_lists_per_session=0.6,
        ),
        Preset(
            name="full",
            n_items=90_000,
            n_categories=1_800,
            n_departments=14,
            n_browsers=400_000,
            n_shoppers=12_000,
            browser_sessions_per_day=0.21,
            shopper_sessions_per_day=0.2,
            orders_per_shopper_day=0.02,
            browser_adds_per_session=0.025,
            shopper_adds_per_session=0.15,
            missing_catalog_items=40,
            duplicate_catalog_rows=150,
            junk_user_rows=30,
        ),
    )
}


@dataclass
class RawData:
    """A generated dataset, as ``pd.read_parquet`` returns the written files.

    Attributes:
        actions: ``train_actions.pq`` (``products`` holds arrays of string ids).
        catalog: ``stokman_catalog_preprocessed.pq``.
        mapping: ``catalog_vector_mapping.pq``.
        vectors: the ``arr_0`` array of ``vectors.npz`` (float32, one row per ``vector_id``).
        truth: distinct ``(user_id, product_id)`` ordered in the ``horizon_days`` after the log.
    """

    actions: pd.DataFrame
    catalog: pd.DataFrame
    mapping: pd.DataFrame
    vectors: np.ndarray
    truth: pd.DataFrame


# ----------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------


def generate(preset: str | Preset = "default", seed: int = 0) -> RawData:
    """Simulate a dataset (deterministic per preset and seed) and return it in the raw schema."""
    tables, vectors = _simulate(_resolve(preset), seed)
    frames = {name: table.to_pandas() for name, table in tables.items()}
    return RawData(frames["actions"], frames["catalog"], frames["mapping"], vectors, frames["truth"])


def write_dataset(out_dir, preset: str | Preset = "default", seed: int = 0, *, overwrite: bool = False) -> Path:
    """Generate a dataset; write the raw files, the truth and ``synthetic.json`` to ``out_dir`` atomically.

    The files are written to a temporary directory next to ``out_dir`` which is then renamed, so a reader
    never sees a half-written dataset. Raises ``FileExistsError`` if ``out_dir`` exists and ``overwrite`` is
    false.
    """
    preset = _resolve(preset)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} exists (pass overwrite=True to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables, vectors = _simulate(preset, seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        pq.write_table(tables["actions"], tmp / ACTIONS_FILE)
        pq.write_table(tables["catalog"], tmp / CATALOG_FILE)
        pq.write_table(tables["mapping"], tmp / MAPPING_FILE)
        np.savez(tmp / VECTORS_FILE, **{VECTORS_KEY: vectors})
        (tmp / TRUTH_FILE).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(tables["truth"], tmp / TRUTH_FILE)
        meta = {
            "preset": preset.name,
            "seed": seed,
            "generator_version": GENERATOR_VERSION,
            "knobs": asdict(preset),
            "rows": {name: table.num_rows for name, table in tables.items()},
            "vectors": list(vectors.shape),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{tmp.name}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("wrote %s (%s, seed %d) in %.1fs", out_dir, preset.name, seed, time.perf_counter() - started)
    return out_dir


def ensure_dataset(preset: str | Preset = "default", seed: int = 0, cache_dir="data/synthetic") -> Path:
    """Return ``cache_dir/<preset>-seed<seed>``, generating it unless a complete, up-to-date copy exists."""
    preset = _resolve(preset)
    out_dir = Path(cache_dir) / f"{preset.name}-seed{seed}"
    if _is_complete(out_dir, preset, seed):
        logger.info("reusing %s", out_dir)
        return out_dir
    try:
        return write_dataset(out_dir, preset, seed, overwrite=True)
    except OSError:
        # Another process may have written the same dataset concurrently: accept its copy if complete.
        if _is_complete(out_dir, preset, seed):
            return out_dir
        raise


#: Largest scale factor of a preset (``full@4`` is four times the real volume: ~27M exploded rows).
MAX_SCALE = 4.0


def scaled(preset: str | Preset, fraction: float) -> Preset:
    """``preset`` with ``fraction`` of its people, items and categories (named ``<name>@<fraction>``): the same
    behaviour per person, so rows, users and buyers scale with ``fraction`` (the performance scaling series;
    ``full@2`` is a shop twice the real volume)."""
    base = _resolve(preset)
    if not 0 < fraction <= MAX_SCALE:
        raise ValueError(f"fraction must be in (0, {MAX_SCALE:g}], got {fraction}")
    if fraction == 1:
        return base
    return replace(
        base,
        name=f"{base.name}@{fraction:g}",
        n_items=max(100, round(base.n_items * fraction)),
        n_categories=max(10, round(base.n_categories * fraction)),
        n_browsers=max(10, round(base.n_browsers * fraction)),
        n_shoppers=max(10, round(base.n_shoppers * fraction)),
    )


def _resolve(preset: str | Preset) -> Preset:
    """A preset, a preset's name, or ``<name>@<fraction>`` (see :func:`scaled`)."""
    if isinstance(preset, Preset):
        return preset
    name, _, fraction = preset.partition("@")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)} (optionally @<fraction>)")
    if not fraction:
        return PRESETS[name]
    try:
        return scaled(name, float(fraction))
    except ValueError as err:
        raise ValueError(f"bad preset {preset!r}: {err}") from None


def _is_complete(out_dir: Path, preset: Preset, seed: int) -> bool:
    meta_path = out_dir / META_FILE
    if not meta_path.is_file() or not all((out_dir / name).is_file() for name in (*RAW_FILES, TRUTH_FILE)):
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("seed") == seed
        and meta.get("generator_version") == GENERATOR_VERSION
        and meta.get("knobs") == json.loads(json.dumps(asdict(preset)))
    )


# ----------------------------------------------------------------------------------------------------------
# Sampling helpers
# ----------------------------------------------------------------------------------------------------------


class _GroupSampler:
    """Draws one member of a given group per request, by weights that may change from day to day.

    All (day, group) cumulative distributions live in one sorted array, so a batch of requests is a single
    ``searchsorted``. Every group must have a positive total weight on every day.
    """

    def __init__(self, groups: np.ndarray, weights: np.ndarray):
        weights = np.atleast_2d(weights)
        self.n_members = len(groups)
        self.n_groups = int(groups.max()) + 1
        self.order = np.argsort(groups, kind="stable")
        sorted_groups = groups[self.order]
        cum = np.cumsum(weights[:, self.order], axis=1)
        bounds = np.searchsorted(sorted_groups, np.arange(self.n_groups + 1))
        first, last = bounds[:-1], bounds[1:] - 1
        if np.any(last < first):
            raise ValueError("every group needs at least one member")
        before = np.where(first > 0, cum[:, np.maximum(first - 1, 0)], 0.0)
        total = cum[:, last] - before
        if np.any(total <= 0):
            raise ValueError("every group needs a positive weight on every day")
        frac = (cum - before[:, sorted_groups]) / total[:, sorted_groups]
        offsets = np.arange(len(weights))[:, None] * self.n_groups + sorted_groups[None, :]
        self.keys = (offsets + frac).ravel()

    def sample(self, rng: np.random.Generator, groups: np.ndarray, days: np.ndarray | int = 0) -> np.ndarray:
        """One member per entry of ``groups`` (on the matching ``days``)."""
        query = (np.asarray(days) * self.n_groups + groups) + (1.0 - rng.random(len(groups)))
        pos = np.searchsorted(self.keys, query, side="left")
        return self.order[pos % self.n_members]


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random version-1-looking UUID strings."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x10
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _lognormal_mean(rng: np.random.Generator, mean: float, sigma: float, n: int) -> np.ndarray:
    """Log-normal draws with the given arithmetic mean."""
    return mean * rng.lognormal(-(sigma**2) / 2, sigma, n)


def _group_bounds(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted key array: first and last position of each element's run of equal keys."""
    return np.searchsorted(keys, keys, side="left"), np.searchsorted(keys, keys, side="right") - 1


def _nice_prices(rng: np.random.Generator, price: np.ndarray) -> np.ndarray:
    """Round most prices to shop-like values ending in 90 (e.g. 4,090); keep the rest as plain integers."""
    price = np.asarray(price, dtype=np.float64)
    nice = np.ceil(price / 100) * 100 - 10
    use_nice = (rng.random(len(price)) < 0.7) & (price >= 100)
    return np.where(use_nice, nice, np.round(price)).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------------------


@dataclass
class _Catalog:
    dept: np.ndarray  # (n_items,) department of each item
    cat: np.ndarray  # category of each item
    log_price: np.ndarray
    discounted: np.ndarray
    complements: np.ndarray  # (n_items, _N_COMPLEMENTS)
    sampler: _GroupSampler  # item within category, by day
    cat_sampler: _GroupSampler  # category within department (static)
    global_cat_sampler: _GroupSampler  # any category (group 0), by day
    dept_weights: np.ndarray
    is_new: np.ndarray
    arrival: np.ndarray  # day a new item arrives (-10,000 for the others)


@dataclass
class _People:
    act: np.ndarray  # sessions per day
    buy_rate: np.ndarray  # orders per day
    add_rate: np.ndarray  # abandoned adds per session
    band: np.ndarray  # preferred log price
    fav_cats: np.ndarray  # (n, k)
    fav_cum: np.ndarray  # (n, k) cumulative weights over fav_cats
    bursts: np.ndarray  # (n, 3) mission centres in days
    n_bursts: np.ndarray
    first_uid: np.ndarray  # first user_id index of each person
    n_uids: np.ndarray


@dataclass
class _Sessions:
    """Sessions sorted by (user_id, start)."""

    person: np.ndarray
    uid: np.ndarray
    loc: np.ndarray
    start: np.ndarray  # seconds since the start of the period
    duration: np.ndarray
    buy: np.ndarray
    intent: np.ndarray
    depth: np.ndarray
    page: np.ndarray
    #: first and last position of each session's user_id run (sessions are sorted by user_id)
    uid_bounds: tuple[np.ndarray, np.ndarray]
    #: sessions ordered by (person, start), each session's position in that order, and its person's run bounds
    by_person: np.ndarray
    person_pos: np.ndarray
    person_bounds: tuple[np.ndarray, np.ndarray]

    def neighbour(
        self,
        rng: np.random.Generator,
        sess: np.ndarray,
        *,
        later: bool,
        any_uid: bool = False,
        max_gap: int = 4,
    ) -> np.ndarray:
        """A random session up to ``max_gap`` sessions before (or after) each given one, of the same user_id
        (or of any user_id of the same person); -1 where there is none."""
        if any_uid:
            pos = self.person_pos[sess]
            first, last = (bound[pos] for bound in self.person_bounds)
        else:
            pos = sess
            first, last = (bound[sess] for bound in self.uid_bounds)
        room = np.minimum((last - pos) if later else (pos - first), max_gap)
        gap = 1 + np.floor(rng.random(len(pos)) * room).astype(np.int64)
        found = np.where(later, pos + gap, pos - gap)
        if any_uid:
            found = self.by_person[np.clip(found, 0, len(self.by_person) - 1)]
        return np.where(room > 0, found, -1)

    @property
    def day(self) -> np.ndarray:
        return self.start // _DAY

    @property
    def end(self) -> np.ndarray:
        return self.start + self.duration


class _EventLog:
    """Events collected by type; each event has a session, an action, a time and 0..n products."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, sess, action: Action, t, items=None, counts=None) -> None:
        sess = np.asarray(sess, dtype=np.int64)
        if items is None:
            items, counts = np.empty(0, np.int64), np.zeros(len(sess), np.int64)
        elif counts is None:
            counts = np.ones(len(sess), np.int64)
        self.parts.append(
            (
                sess,
                int(action),
                np.asarray(t, np.int64),
                np.asarray(items, np.int64),
                np.asarray(counts, np.int64),
            )
        )

    def assemble(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Concatenate and sort by time: (session, action, t, products per event, flat products)."""
        sess = np.concatenate([p[0] for p in self.parts])
        action = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in self.parts])
        t = np.concatenate([p[2] for p in self.parts])
        items = np.concatenate([p[3] for p in self.parts])
        counts = np.concatenate([p[4] for p in self.parts])
        order = np.lexsort((action, sess, t))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        counts = counts[order]
        new_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        gather = np.repeat(starts[order] - new_starts, counts) + np.arange(counts.sum())
        return sess[order], action[order], t[order], counts, items[gather]


def _simulate(p: Preset, seed: int) -> tuple[dict[str, pa.Table], np.ndarray]:
    started = time.perf_counter()
    rng = np.random.default_rng([seed, GENERATOR_VERSION])
    catalog = _make_catalog(p, rng)
    people = _make_people(p, catalog, rng)
    sessions = _make_sessions(p, people, catalog, rng)
    logger.info(
        "%s: %d sessions of %d people (%.1fs)",
        p.name,
        len(sessions.start),
        len(np.unique(sessions.person)),
        time.perf_counter() - started,
    )
    log = _EventLog()
    _browse(p, catalog, people, sessions, log, rng)
    bought = _orders(p, catalog, people, sessions, log, rng)
    abandoned = _abandoned_adds(p, catalog, people, sessions, log, rng)
    entries = _Entries(
        *(np.concatenate([getattr(bought, f.name), getattr(abandoned, f.name)]) for f in fields(_Entries))
    )
    _basket_pages(p, sessions, entries, log, rng)
    sess, action, t, counts, items = log.assemble()
    keep = t < p.total_days * _DAY
    logger.info(
        "%s: %d events, %d exploded rows over %d days (%.1fs)",
        p.name,
        keep.sum(),
        np.maximum(counts[keep], 1).sum(),
        p.total_days,
        time.perf_counter() - started,
    )
    tables, vectors = _to_tables(p, catalog, people, sessions, (sess, action, t, counts, items), rng)
    logger.info("%s: done in %.1fs", p.name, time.perf_counter() - started)
    return tables, vectors


def _make_catalog(p: Preset, rng: np.random.Generator) -> _Catalog:
    n, n_cat, n_dept, n_days = p.n_items, p.n_categories, p.n_departments, p.total_days
    dept_weights = rng.dirichlet(np.full(n_dept, 3.0))
    cat_dept = np.concatenate([np.arange(n_dept), rng.choice(n_dept, n_cat - n_dept, p=dept_weights)])
    cat_size = rng.lognormal(0, p.category_size_sigma, n_cat)
    item_cat = np.concatenate([np.arange(n_cat), rng.choice(n_cat, n - n_cat, p=cat_size / cat_size.sum())])
    item_dept = cat_dept[item_cat]

    # Popularity: Zipf-like by a random rank, a category effect, a linear trend and a novelty boost.
    log_pop = -0.85 * np.log1p(rng.permutation(n)) + rng.normal(0, 0.6, n_cat)[item_cat]
    trend = rng.normal(0, 0.6, n)
    is_new = rng.random(n) < p.new_item_share
    is_new[:n_cat] = False  # every category keeps at least one item available from day 0
    arrival = np.where(is_new, rng.integers(-4, n_days, n), -10_000)
    days = np.arange(n_days)[:, None]
    age = days - arrival[None, :]
    log_w = log_pop + trend * (days - n_days / 2) / n_days + 1.2 * np.exp(-np.maximum(age, 0) / 6) * is_new
    weights = np.where(age >= 0, np.exp(log_w - log_w.max()), 0.0)

    cat_mu = 8.4 + rng.normal(0, 0.35, n_dept)[cat_dept] + rng.normal(0, 0.5, n_cat)
    log_price = np.clip(cat_mu[item_cat] + rng.normal(0, 0.9, n), np.log(30), np.log(76_990))
    discounted = rng.random(n) < p.discount_share

    # Complements: popular items of the same department, preferably of another category.
    base = np.where(is_new, 0.0, np.exp(log_pop - log_pop.max()))
    dept_sampler = _GroupSampler(item_dept, base)
    complements = dept_sampler.sample(rng, np.repeat(item_dept, _N_COMPLEMENTS)).reshape(n, _N_COMPLEMENTS)
    same = item_cat[complements] == item_cat[:, None]
    retry = dept_sampler.sample(rng, np.repeat(item_dept, _N_COMPLEMENTS)).reshape(n, _N_COMPLEMENTS)
    complements = np.where(same, retry, complements)

    cat_weight = np.bincount(item_cat, weights=base, minlength=n_cat)
    daily_cat = np.stack([np.bincount(item_cat, weights=w, minlength=n_cat) for w in weights])
    return _Catalog(
        dept=item_dept,
        cat=item_cat,
        log_price=log_price,
        discounted=discounted,
        complements=complements,
        sampler=_GroupSampler(item_cat, weights),
        cat_sampler=_GroupSampler(cat_dept, cat_weight),
        global_cat_sampler=_GroupSampler(np.zeros(n_cat, np.int64), daily_cat),
        dept_weights=dept_weights,
        is_new=is_new,
        arrival=arrival,
    )


def _make_people(p: Preset, catalog: _Catalog, rng: np.random.Generator) -> _People:
    n = p.n_browsers + p.n_shoppers
    shopper = np.arange(n) >= p.n_browsers
    act = np.where(
        shopper,
        _lognormal_mean(rng, p.shopper_sessions_per_day, 1.0, n),
        _lognormal_mean(rng, p.browser_sessions_per_day, 1.1, n),
    )
    buy_rate = np.where(shopper, _lognormal_mean(rng, p.orders_per_shopper_day, 1.0, n), 0.0)
    add_rate = np.where(
        shopper,
        _lognormal_mean(rng, p.shopper_adds_per_session, 0.8, n),
        _lognormal_mean(rng, p.browser_adds_per_session, 1.8, n),
    )
    band = rng.normal(8.4, 0.5, n)

    # Taste: one or two departments, four favourite categories in them with Dirichlet weights.
    n_fav = 4
    depts = rng.choice(len(catalog.dept_weights), size=(n, 2), p=catalog.dept_weights)
    second = rng.random(n) < 0.4
    slot_dept = np.where((np.arange(n_fav)[None, :] % 2 == 1) & second[:, None], depts[:, [1]], depts[:, [0]])
    fav_cats = catalog.cat_sampler.sample(rng, slot_dept.ravel()).reshape(n, n_fav)
    fav_cum = np.cumsum(rng.dirichlet(np.ones(n_fav), n), axis=1)

    n_bursts = 1 + np.minimum(rng.poisson(0.7, n), 2)
    bursts = rng.uniform(-3, p.total_days + 3, size=(n, 3))

    expected = act * p.total_days
    multi = (expected >= 1) & (rng.random(n) < p.multi_id_share)
    n_uids = np.where(multi, 2 + (rng.random(n) < 0.3), 1)
    first_uid = np.concatenate([[0], np.cumsum(n_uids)[:-1]])
    return _People(act, buy_rate, add_rate, band, fav_cats, fav_cum, bursts, n_bursts, first_uid, n_uids)


def _day_weights(p: Preset) -> np.ndarray:
    weekday = (pd.Timestamp(p.start).dayofweek + np.arange(p.total_days)) % 7
    return _WEEKDAY_PROFILE[weekday] * (1 + 0.013 * np.arange(p.total_days))


def _pick_category(rng, people: _People, catalog: _Catalog, person, day, focus: float) -> np.ndarray:
    """A category from the person's favourites (with probability ``focus``) or from the day's popularity."""
    slot = (rng.random(len(person))[:, None] > people.fav_cum[person]).sum(axis=1)
    slot = np.minimum(slot, people.fav_cats.shape[1] - 1)
    fav = people.fav_cats[person, slot]
    other = catalog.global_cat_sampler.sample(rng, np.zeros(len(person), np.int64), day)
    return np.where(rng.random(len(person)) < focus, fav, other)


def _pick_items(
    rng,
    catalog: _Catalog,
    people: _People,
    person,
    cat,
    day,
    *,
    discount_boost: float = 1.0,
    n_candidates: int = 3,
) -> np.ndarray:
    """Items of the given categories on the given days: popularity-weighted candidates, then the best fit to
    the person's price band (and to discounts, when buying), with Gumbel noise."""
    n = len(person)
    cand = catalog.sampler.sample(rng, np.repeat(cat, n_candidates), np.repeat(day, n_candidates))
    cand = cand.reshape(n, n_candidates)
    score = -((catalog.log_price[cand] - people.band[person][:, None]) ** 2) / (2 * 0.8**2)
    score += np.log(np.where(catalog.discounted[cand], discount_boost, 1.0))
    score += rng.gumbel(size=score.shape)
    return cand[np.arange(n), score.argmax(axis=1)]


def _make_sessions(p: Preset, people: _People, catalog: _Catalog, rng: np.random.Generator) -> _Sessions:
    n_days = p.total_days
    n_browse = rng.poisson(people.act * n_days)
    n_buy = rng.poisson(people.buy_rate * n_days)
    person = np.concatenate([np.repeat(np.arange(len(n_browse)), n_browse), np.repeat(np.arange(len(n_buy)), n_buy)])
    buy = np.concatenate([np.zeros(n_browse.sum(), bool), np.ones(n_buy.sum(), bool)])

    # Day: around one of the person's missions (60%) or any day. Sessions outside the period are dropped and
    # the rest thinned by the weekly rhythm and traffic growth. Then an hour of day.
    which = np.floor(rng.random(len(person)) * people.n_bursts[person]).astype(np.int64)
    around = np.floor(people.bursts[person, which] + rng.normal(0, 1.5, len(person))).astype(np.int64)
    day = np.where(rng.random(len(person)) < 0.6, around, rng.integers(0, n_days, len(person)))
    day_w = _day_weights(p)
    keep = (day >= 0) & (day < n_days)
    keep[keep] = rng.random(keep.sum()) < day_w[day[keep]] / day_w.max()
    person, buy, day = person[keep], buy[keep], day[keep]
    n = len(person)
    hour = rng.choice(24, n, p=_HOUR_PROFILE / _HOUR_PROFILE.sum())
    start = day * _DAY + hour * 3600 + rng.integers(0, 3600, n)

    # user_id: the person's first id is used most; ids of one person share the person's loc_user_id.
    n_uids = people.n_uids[person]
    pick = np.where(rng.random(n) < 0.6, 0, np.floor(rng.random(n) * n_uids).astype(np.int64))
    uid = people.first_uid[person] + pick
    n_uid_total = int(people.first_uid[-1] + people.n_uids[-1])
    # A few user_ids also show a second loc_user_id in some sessions.
    second_loc = rng.random(n_uid_total) < 0.08
    extra_loc = len(people.act) + np.cumsum(second_loc) - 1
    loc = np.where(second_loc[uid] & (rng.random(n) < 0.2), extra_loc[uid], person)

    order = np.lexsort((start, uid))
    person, buy, uid, loc, start, day = (a[order] for a in (person, buy, uid, loc, start, day))
    depth = rng.lognormal(-(0.9**2) / 2, 0.9, n)
    duration = (60 + 225 * depth * rng.lognormal(0, 0.5, n)).astype(np.int64)
    intent = _pick_category(rng, people, catalog, person, day, p.taste_focus)
    page = rng.integers(1_000_000, 4_260_000_000, n)
    by_person = np.lexsort((start, person))
    person_pos = np.empty(n, np.int64)
    person_pos[by_person] = np.arange(n)
    return _Sessions(
        person,
        uid,
        loc,
        start,
        duration,
        buy,
        intent,
        depth,
        page,
        _group_bounds(uid),
        by_person,
        person_pos,
        _group_bounds(person[by_person]),
    )


@dataclass
class _Entries:
    """Basket entries: an item in a user_id's basket from ``added`` until ``removed`` (exclusive)."""

    uid: np.ndarray
    sess: np.ndarray  # session of the add
    item: np.ndarray
    added: np.ndarray
    removed: np.ndarray
    remain: np.ndarray  # abandoned and never deleted: cleared by clearB


def _at(rng, sessions: _Sessions, sess, lo, hi) -> np.ndarray:
    """Random times within [lo, hi) fractions of the sessions' durations."""
    frac = lo + (hi - lo) * rng.random(len(sess))
    return sessions.start[sess] + (frac * sessions.duration[sess]).astype(np.int64)


def _views_before(rng, log: _EventLog, sessions: _Sessions, sess, items, t_until, mean_extra=0.7) -> None:
    """1 + Poisson(mean_extra) views of each item in its session, before ``t_until``."""
    n_views = 1 + rng.poisson(mean_extra, len(sess))
    v_sess, v_item, v_until = (np.repeat(a, n_views) for a in (sess, items, t_until))
    begin = sessions.start[v_sess]
    t = begin + (rng.random(len(v_sess)) * np.maximum(v_until - begin, 1)).astype(np.int64)
    log.add(v_sess, Action.VIEW, np.minimum(t, v_until - 1), v_item)


def _browse(
    p: Preset,
    catalog: _Catalog,
    people: _People,
    sessions: _Sessions,
    log: _EventLog,
    rng: np.random.Generator,
) -> None:
    """Visits, category visits, searches, views of the intent category (or another favourite), likes."""
    idx = np.arange(len(sessions.start))
    depth, day, person = sessions.depth, sessions.day, sessions.person
    for action, mean in (
        (Action.VISIT, p.visits_per_session),
        (Action.VISIT_CATEGORY, p.category_visits_per_session),
        (Action.SEARCH, p.searches_per_session),
    ):
        counts = rng.poisson(mean * depth)
        if action == Action.VISIT:
            counts = np.maximum(counts, 1)
        sess = np.repeat(idx, counts)
        log.add(sess, action, _at(rng, sessions, sess, 0.0, 1.0))
    v_sess = np.repeat(idx, rng.poisson(p.views_per_session * depth))
    v_cat = np.where(
        rng.random(len(v_sess)) < 0.8,
        sessions.intent[v_sess],
        _pick_category(rng, people, catalog, person[v_sess], day[v_sess], 1.0),
    )
    v_item = _pick_items(rng, catalog, people, person[v_sess], v_cat, day[v_sess])
    v_t = _at(rng, sessions, v_sess, 0.0, 1.0)
    log.add(v_sess, Action.VIEW, v_t, v_item)
    liked = rng.random(len(v_sess)) < p.likes_per_view
    log.add(v_sess[liked], Action.LIKE, v_t[liked] + rng.integers(2, 60, liked.sum()), v_item[liked])


def _orders(
    p: Preset,
    catalog: _Catalog,
    people: _People,
    sessions: _Sessions,
    log: _EventLog,
    rng: np.random.Generator,
) -> _Entries:
    """Orders of the buying sessions and the funnel before them; returns the basket entries of ordered items.

    Items: the main one from the intent category, complements of it, items of other favourite categories
    and re-buys of the person's previous main item. Each ordered item gets an origin (see
    ``Preset.origin_shares``).
    """
    n = len(sessions.start)
    day, person = sessions.day, sessions.person
    b_sess = np.flatnonzero(sessions.buy)
    b_main = _pick_items(
        rng,
        catalog,
        people,
        person[b_sess],
        sessions.intent[b_sess],
        day[b_sess],
        discount_boost=p.discount_boost,
    )
    e_sess = np.repeat(b_sess, rng.poisson(p.extra_items_per_order, len(b_sess)))
    e_main = b_main[np.searchsorted(b_sess, e_sess)]
    e_comp = rng.random(len(e_sess)) < p.complement_share
    comp = catalog.complements[e_main, rng.integers(0, _N_COMPLEMENTS, len(e_sess))]
    e_cat = _pick_category(rng, people, catalog, person[e_sess], day[e_sess], p.taste_focus)
    other = _pick_items(rng, catalog, people, person[e_sess], e_cat, day[e_sess], discount_boost=p.discount_boost)
    e_item = np.where(e_comp, comp, other)
    by_person = np.lexsort((sessions.start[b_sess], person[b_sess]))
    ordered_person = person[b_sess][by_person]
    has_prev = np.concatenate([[False], ordered_person[1:] == ordered_person[:-1]])
    prev_main = np.concatenate([[0], b_main[by_person][:-1]])
    rebuy = has_prev & (rng.random(len(b_sess)) < p.rebuy_share)

    n_items = len(catalog.cat)
    key = np.concatenate([b_sess, e_sess, b_sess[by_person][rebuy]]) * n_items + np.concatenate(
        [b_main, e_item, prev_main[rebuy]]
    )
    is_comp = np.concatenate([np.zeros(len(b_sess), bool), e_comp, np.zeros(rebuy.sum(), bool)])
    key, first = np.unique(key, return_index=True)
    o_sess, o_item, o_comp = key // n_items, key % n_items, is_comp[first]

    origin = rng.choice(4, len(o_sess), p=np.asarray(p.origin_shares) / np.sum(p.origin_shares))
    earlier_uid = sessions.neighbour(rng, o_sess, later=False)
    earlier_any = sessions.neighbour(rng, o_sess, later=False, any_uid=True)
    # fall back to the buying session when there is no earlier session, or the item did not exist yet
    arrival = catalog.arrival[o_item]
    too_early = (origin == _EARLIER_ADD) & ((earlier_uid < 0) | (day[earlier_uid] < arrival))
    too_early |= (origin == _EARLIER_VIEW) & ((earlier_any < 0) | (day[earlier_any] < arrival))
    origin = np.where(too_early, _SAME_SESSION, origin)

    in_basket = origin != _UNSEEN
    a_sess = np.where(origin == _EARLIER_ADD, earlier_uid, o_sess)[in_basket]
    a_item = o_item[in_basket]
    a_t = _at(rng, sessions, a_sess, 0.3, 0.85)
    log.add(a_sess, Action.ADD_BASKET, a_t, a_item)
    # views before the add, except for half of the complements (added from a "bought together" block)
    from_block = o_comp & (rng.random(len(o_sess)) < 0.5)
    viewed = (((origin == _SAME_SESSION) & ~from_block) | (origin == _EARLIER_ADD))[in_basket]
    _views_before(rng, log, sessions, a_sess[viewed], a_item[viewed], a_t[viewed])
    seen = origin == _EARLIER_VIEW
    _views_before(rng, log, sessions, earlier_any[seen], o_item[seen], sessions.end[earlier_any[seen]])

    order_t = sessions.end
    log.add(b_sess, Action.ORDER, order_t[b_sess], o_item, np.bincount(o_sess, minlength=n)[b_sess])
    return _Entries(sessions.uid[a_sess], a_sess, a_item, a_t, order_t[o_sess[in_basket]], np.zeros(len(a_sess), bool))


def _abandoned_adds(
    p: Preset,
    catalog: _Catalog,
    people: _People,
    sessions: _Sessions,
    log: _EventLog,
    rng: np.random.Generator,
) -> _Entries:
    """Basket adds never bought: after views, sometimes with a complement; deleted now, later, or never."""
    idx = np.arange(len(sessions.start))
    depth, day, person = sessions.depth, sessions.day, sessions.person
    moments = rng.poisson(people.add_rate[person] * np.sqrt(depth) / (1 + _EXTRA_ADDS))
    ab_sess = np.repeat(idx, moments + rng.poisson(_EXTRA_ADDS * moments))
    ab_cat = np.where(
        rng.random(len(ab_sess)) < 0.85,
        sessions.intent[ab_sess],
        _pick_category(rng, people, catalog, person[ab_sess], day[ab_sess], 1.0),
    )
    ab_item = _pick_items(rng, catalog, people, person[ab_sess], ab_cat, day[ab_sess])
    ab_t = _at(rng, sessions, ab_sess, 0.1, 0.85)
    _views_before(rng, log, sessions, ab_sess, ab_item, ab_t, mean_extra=0.5)
    with_comp = rng.random(len(ab_sess)) < 0.15
    comp_item = catalog.complements[ab_item[with_comp], rng.integers(0, _N_COMPLEMENTS, with_comp.sum())]
    ab_sess = np.concatenate([ab_sess, ab_sess[with_comp]])
    ab_item = np.concatenate([ab_item, comp_item])
    ab_t = np.concatenate([ab_t, ab_t[with_comp] + rng.integers(3, 40, with_comp.sum())])
    log.add(ab_sess, Action.ADD_BASKET, ab_t, ab_item)

    u = rng.random(len(ab_sess))
    fate = np.where(
        u < p.delete_same_share,
        _DELETE_SAME,
        np.where(u < p.delete_same_share + p.delete_later_share, _DELETE_LATER, _REMAIN),
    )
    later = sessions.neighbour(rng, ab_sess, later=True)
    fate = np.where((fate == _DELETE_LATER) & (later < 0), _REMAIN, fate)
    end = sessions.end[ab_sess]
    same_t = ab_t + 1 + (rng.random(len(ab_sess)) * np.maximum(end - ab_t, 1)).astype(np.int64)
    del_t = np.where(fate == _DELETE_SAME, same_t, _at(rng, sessions, np.maximum(later, 0), 0.0, 1.0))
    deleted = fate != _REMAIN
    del_sess = np.where(fate == _DELETE_SAME, ab_sess, later)[deleted]
    log.add(del_sess, Action.DEL_BASKET, del_t[deleted], ab_item[deleted])
    removed = np.where(deleted, del_t, np.iinfo(np.int64).max)
    return _Entries(sessions.uid[ab_sess], ab_sess, ab_item, ab_t, removed, ~deleted)


def _alive(entries: _Entries, uid: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(event, entry) pairs such that the entry is in the event's user_id basket at the event's time.

    Events come out in ascending order, and the entries of one event in the order they were added."""
    order = np.lexsort((entries.added, entries.uid))
    sorted_uid = entries.uid[order]
    lo = np.searchsorted(sorted_uid, uid, side="left")
    counts = np.searchsorted(sorted_uid, uid, side="right") - lo
    event = np.repeat(np.arange(len(uid)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    entry = order[np.repeat(lo - starts, counts) + np.arange(counts.sum())]
    alive = (entries.added[entry] <= t[event]) & (t[event] < entries.removed[entry])
    return event[alive], entry[alive]


def _basket_pages(p: Preset, sessions: _Sessions, entries: _Entries, log: _EventLog, rng: np.random.Generator) -> None:
    """Basket clears and basket listings (``products`` = the basket's content at that moment)."""
    n = len(sessions.start)
    idx = np.arange(n)
    first_add = np.full(int(sessions.uid.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_add, entries.uid, entries.added)
    holder = sessions.end > first_add[sessions.uid]

    # clearB: empties abandoned items; skipped when the basket holds an item bought or deleted later.
    c_sess = idx[holder & (rng.random(n) < p.clears_per_session)]
    c_t = _at(rng, sessions, c_sess, 0.0, 1.0)
    event, entry = _alive(entries, sessions.uid[c_sess], c_t)
    blocked = np.zeros(len(c_sess), bool)
    blocked[event[~entries.remain[entry]]] = True
    ok = ~blocked[event]
    np.minimum.at(entries.removed, entry[ok], c_t[event[ok]])
    log.add(c_sess[~blocked], Action.CLEAR_BASKET, c_t[~blocked])

    # listB: before each order, after some adds, and now and then in sessions of basket holders.
    buy = idx[sessions.buy & (rng.random(n) < 0.9)]
    after_add = rng.random(len(entries.sess)) < 0.4
    n_random = rng.poisson(
        np.where(holder, p.basket_lists_per_session, p.basket_lists_per_session_empty) * sessions.depth
    )
    r_sess = np.repeat(idx, n_random)
    l_sess = np.concatenate([buy, entries.sess[after_add], r_sess])
    l_t = np.concatenate(
        [
            _at(rng, sessions, buy, 0.88, 0.98),
            entries.added[after_add] + rng.integers(5, 120, after_add.sum()),
            _at(rng, sessions, r_sess, 0.0, 1.0),
        ]
    )
    event, entry = _alive(entries, sessions.uid[l_sess], l_t)
    log.add(l_sess, Action.LIST_BASKET, l_t, entries.item[entry], np.bincount(event, minlength=len(l_sess)))


def _titles(p: Preset, catalog: _Catalog, rng: np.random.Generator) -> np.ndarray:
    """Title word codes (n_items, 15; -1 padded): category, department, shop-wide and other words."""
    n, n_cat, n_dept = len(catalog.cat), p.n_categories, p.n_departments
    codes = rng.permutation(np.arange(1, 60_000))
    common, codes = codes[:6], codes[6:]
    dept_words, codes = codes[: 4 * n_dept].reshape(n_dept, 4), codes[4 * n_dept :]
    cat_words, codes = codes[: 3 * n_cat].reshape(n_cat, 3), codes[3 * n_cat :]
    common_share = np.array([0.45, 0.17, 0.15, 0.09, 0.06, 0.05])

    first = rng.integers(0, 3, n)
    required = np.full((n, 3 + len(common)), -1)
    required[:, 0] = cat_words[catalog.cat, first]
    required[:, 1] = np.where(rng.random(n) < 0.5, cat_words[catalog.cat, (first + 1) % 3], -1)
    required[:, 2] = np.where(rng.random(n) < 0.45, dept_words[catalog.dept, rng.integers(0, 4, n)], -1)
    required[:, 3:] = np.where(rng.random((n, len(common))) < common_share, common, -1)
    n_required = (required >= 0).sum(axis=1)
    length = np.clip(np.round(rng.normal(5.4, 1.8, n)), 2, _MAX_TITLE).astype(np.int64)
    length = np.maximum(length, n_required)
    rank = np.minimum((rng.pareto(0.9, (n, _MAX_TITLE)) * 30).astype(np.int64), len(codes) - 1)
    filler = np.where(np.arange(_MAX_TITLE) < (length - n_required)[:, None], codes[rank], -1)
    tokens = np.concatenate([required, filler], axis=1)
    shuffle = np.where(tokens >= 0, rng.random(tokens.shape), 2.0).argsort(axis=1)
    return np.take_along_axis(tokens, shuffle, axis=1)[:, :_MAX_TITLE]


def _embeddings(p: Preset, catalog: _Catalog, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Department centroid + category centroid + mean of title-word vectors + item noise."""
    dim = p.vector_dim
    dept_c = rng.normal(0, 1.0, (p.n_departments, dim))
    cat_c = rng.normal(0, 0.8, (p.n_categories, dim))
    vocab, inverse = np.unique(tokens, return_inverse=True)
    word_vec = rng.normal(0, 1.0, (len(vocab), dim))
    word_vec[vocab < 0] = 0.0
    valid = (tokens >= 0).sum(axis=1, keepdims=True)
    words = word_vec[inverse.reshape(tokens.shape)].sum(axis=1) / valid
    noise = rng.normal(0, 1.4, (len(catalog.cat), dim))
    return (dept_c[catalog.dept] + cat_c[catalog.cat] + 0.8 * words + noise).astype(np.float32)


def _title_strings(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Space-joined word codes; a few raw words leak through and a few titles are missing."""
    titles = np.array([" ".join(str(t) for t in row if t >= 0) for row in tokens.tolist()], dtype=object)
    leak = np.flatnonzero(rng.random(len(titles)) < 0.004)
    for i, word in zip(leak, rng.choice(_RAW_WORDS, len(leak)), strict=True):
        titles[i] = f"{titles[i].rsplit(' ', 1)[0]} {word}"
    titles[rng.random(len(titles)) < 0.004] = None
    return titles


def _add_dates(p: Preset, catalog: _Catalog, rng: np.random.Generator) -> np.ndarray:
    """``add_date`` text: arrival for new items; for old ones a past date or the catalog export stamp."""
    n = len(catalog.cat)
    start = np.datetime64(p.start, "s")
    is_new = catalog.is_new
    past = start - (np.minimum(rng.exponential(150, n), 2_000) * _DAY).astype("timedelta64[s]")
    past = past - rng.integers(0, _DAY, n).astype("timedelta64[s]")
    export = (
        start + np.timedelta64(p.log_days + 1, "D") + np.timedelta64(pd.Timedelta(_CATALOG_EXPORT_TIME).seconds, "s")
    )
    nightly = (
        start
        + catalog.arrival.astype("timedelta64[D]")
        + np.timedelta64(3 * 3600 + 7 * 60, "s")
        + rng.integers(0, 60, n).astype("timedelta64[s]")
    )
    dates = np.where(is_new, nightly, np.where(rng.random(n) < 0.4, export, past))
    text = np.char.replace(np.datetime_as_string(dates, unit="s"), "T", " ").astype(object)
    for i, suffix in zip(rng.choice(n, 2, replace=False), _CORRUPT_SUFFIXES, strict=False):
        text[i] = f"{text[i][:14]}06:{suffix}"
    return text


def _to_tables(
    p: Preset, catalog: _Catalog, people: _People, sessions: _Sessions, events, rng: np.random.Generator
) -> tuple[dict[str, pa.Table], np.ndarray]:
    """Arrow tables of the log (with junk user ids), the truth, the catalog and the mapping; the vectors."""
    sess, action, t, counts, items = events
    item_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_items = len(catalog.cat)

    # --- truth: distinct (user_id, product) ordered in the horizon
    log_end = p.log_days * _DAY
    in_horizon = (action == Action.ORDER) & (t >= log_end) & (t < p.total_days * _DAY)
    pos = np.repeat(item_start[in_horizon], counts[in_horizon]) + _ragged_arange(counts[in_horizon])
    truth_uid = np.repeat(sessions.uid[sess[in_horizon]], counts[in_horizon])
    pairs = np.unique(truth_uid * n_items + items[pos])

    # --- the log
    train = t < log_end
    sess, action, t, counts = sess[train], action[train], t[train], counts[train]
    items = items[: counts.sum()]  # events are time-sorted, so the train events' products come first

    # --- ids
    item_ids = rng.choice(9_000_000, n_items, replace=False) + 1_000_000
    item_str = item_ids.astype(str)
    n_uids = int(people.first_uid[-1] + people.n_uids[-1])
    uid_str = _uuids(rng, n_uids)
    loc_str = _uuids(rng, int(sessions.loc.max()) + 1)

    # --- junk: '/*' user ids on a few visits
    user_idx = sessions.uid[sess]
    visits = np.flatnonzero(action == Action.VISIT)
    user_idx[rng.choice(visits, min(p.junk_user_rows, len(visits)), replace=False)] = n_uids

    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    products = pa.ListArray.from_arrays(
        pa.array(offsets),
        pa.array(item_str, pa.string()).take(pa.array(items)),
        type=ACTIONS_SCHEMA.field("products").type,
    )
    dates = np.datetime64(p.start, "ns") + t.astype("timedelta64[s]")
    actions = pa.Table.from_arrays(
        [
            pa.array(uid_str + [JUNK_ID], pa.large_string()).take(pa.array(user_idx)),
            pa.array(loc_str, pa.large_string()).take(pa.array(sessions.loc[sess])),
            pa.array(action, pa.int64()),
            pa.array(dates, pa.timestamp("ns")),
            products,
            pa.array(sessions.page[sess], pa.int64()),
        ],
        schema=ACTIONS_SCHEMA,
    )
    truth = pa.Table.from_arrays(
        [
            pa.array([uid_str[u] for u in pairs // n_items], pa.large_string()),
            pa.array(item_str[pairs % n_items], pa.large_string()),
        ],
        schema=TRUTH_SCHEMA,
    )
    catalog_table, mapping, vectors = _catalog_tables(p, catalog, item_str, np.unique(items), rng)
    tables = {"actions": actions, "catalog": catalog_table, "mapping": mapping, "truth": truth}
    return tables, vectors


def _catalog_tables(
    p: Preset, catalog: _Catalog, item_str: np.ndarray, logged: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Catalog (all items but a few logged ones, plus duplicates and a '/*' row), mapping and vectors."""
    n_items = len(catalog.cat)
    cat_ids = rng.choice(
        np.arange(1, 60_000),
        p.n_categories,
        replace=False,
        p=1 / np.arange(1, 60_000) / np.sum(1 / np.arange(1, 60_000)),
    )
    tokens = _titles(p, catalog, rng)
    vectors_by_item = _embeddings(p, catalog, tokens, rng)
    titles = _title_strings(tokens, rng)
    add_dates = _add_dates(p, catalog, rng)
    price = _nice_prices(rng, np.exp(catalog.log_price))
    markup = 1 + rng.lognormal(np.log(0.55), 0.35, n_items)
    old_price = np.where(catalog.discounted, np.maximum(_nice_prices(rng, price * markup), price + 10), price)

    missing = rng.choice(logged, min(p.missing_catalog_items, len(logged)), replace=False)
    in_catalog = np.setdiff1d(np.arange(n_items), missing)
    dup = rng.choice(in_catalog, p.duplicate_catalog_rows, replace=False)
    rows = np.concatenate([in_catalog, dup, rng.choice(in_catalog, 1)])
    kind = np.repeat([0, 1, 2], [len(in_catalog), len(dup), 1])  # 0 product, 1 duplicate, 2 '/*' junk row
    perm = rng.permutation(len(rows))
    rows, kind = rows[perm], kind[perm]
    # half of the duplicates carry another (lower) price, as if exported from a later price list
    row_price = price[rows]
    repriced = (kind == 1) & (rng.random(len(rows)) < 0.5)
    row_price[repriced] = _nice_prices(rng, row_price[repriced] * rng.uniform(0.7, 1.0, repriced.sum()))
    row_old = np.maximum(old_price[rows], row_price)
    junk_row = kind == 2
    catalog_table = pa.Table.from_arrays(
        [
            pa.array(add_dates[rows], pa.large_string()),
            pa.array(np.full(len(rows), _SHOP_ID, dtype=object), pa.large_string()),
            pa.array(np.where(junk_row, JUNK_ID, item_str[rows]).astype(object), pa.large_string()),
            pa.array(cat_ids[catalog.cat[rows]].astype(str).astype(object), pa.large_string()),
            pa.array(row_price, pa.int64()),
            pa.array(titles[rows], pa.large_string()),
            pa.array(row_old, pa.int64()),
        ],
        schema=CATALOG_SCHEMA,
    )

    # --- mapping and vectors: one row per catalog product, in a shuffled order
    vector_id = rng.permutation(len(in_catalog))
    vectors = np.empty((len(in_catalog), p.vector_dim), np.float32)
    vectors[vector_id] = vectors_by_item[in_catalog]
    mapping = pa.Table.from_arrays(
        [pa.array(item_str[in_catalog].astype(object), pa.large_string()), pa.array(vector_id, pa.int64())],
        schema=MAPPING_SCHEMA,
    )
    return catalog_table, mapping, vectors


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.arange(counts.sum()) - np.repeat(starts, counts)
