"""Generate a synthetic preset and print its measured statistics next to the real Stokman figures.

Usage::

    python -m benchmarks.studies.dataset_stats --preset default [--seed 0]

Prints a markdown table (statistic | real Stokman | synthetic) that docs/synthetic_data.md quotes. The real
figures come from /work/shared/DATA_FACTS.md (published notebook outputs and a 5,000-row catalog sample); "—"
marks figures that were not published.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from recsys import synthetic
from recsys.schema import DEFAULT_TOP_USERS, JUNK_ID, Action

#: Rows by action over 2024-09-07..2024-09-25 in the real log (DATA_FACTS.md), for the action mix.
REAL_ACTION_ROWS = {
    Action.VISIT: 3_554_985,
    Action.VISIT_CATEGORY: 876_035,
    Action.VIEW: 875_680,
    Action.LIST_BASKET: 314_936,
    Action.SEARCH: 69_354,
    Action.ADD_BASKET: 44_249,
    Action.LIKE: 26_346,
    Action.DEL_BASKET: 24_150,
    Action.ORDER: 10_478,
    Action.CLEAR_BASKET: 333,
}
REAL = {
    "exploded rows (22 days)": "6,859,002",
    "exploded rows per day": f"{6_859_002 / 22:,.0f}",
    "exploded rows, last 3 days": "1,062,417",
    "distinct (user_id, pageId)": "1,421,473",
    "users with an order, last 3 days": "496",
    "users with an addB, last 5 days": "3,598",
    "catalog products with a title": "~89,500",
    "categories in a 5,000-row catalog sample": "968",
    "price min / median / max": "30 / ~4,100 / 76,990",
    "share of rows with old_price > price": "62% (sample)",
    "title tokens min / mean / max": "2 / 5.6 / 15",
}


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.3f}%"


def measure(raw: synthetic.RawData, preset: synthetic.Preset, seconds: float) -> dict[str, str]:
    """Statistics of a generated dataset, keyed like ``REAL`` (plus synthetic-only figures)."""
    actions = raw.actions
    exploded = actions.explode("products", ignore_index=True)
    start = pd.Timestamp(preset.start)
    end = start + pd.Timedelta(days=preset.log_days)
    last3 = exploded["date"] >= end - pd.Timedelta(days=3)
    stats = {
        "exploded rows (22 days)": f"{len(exploded):,}",
        "exploded rows per day": f"{len(exploded) / preset.log_days:,.0f}",
        "exploded rows, last 3 days": f"{last3.sum():,}",
        "event rows (file rows)": f"{len(actions):,}",
        "distinct (user_id, pageId)": f"{len(actions[['user_id', 'pageId']].drop_duplicates()):,}",
        "distinct user_id / loc_user_id": (f"{actions['user_id'].nunique():,} / {actions['loc_user_id'].nunique():,}"),
    }
    # action mix over the same window as the real table (all but the last 3 days)
    window = exploded[~last3]
    counts = window["action"].value_counts()
    for action in REAL_ACTION_ROWS:
        stats[f"share {action.name.lower()}"] = _share(counts.get(int(action), 0), len(window))

    orders = exploded[exploded["action"] == Action.ORDER]
    adds = exploded[exploded["action"] == Action.ADD_BASKET]
    stats["users with an order, last 3 days"] = f"{orders.loc[last3, 'user_id'].nunique():,}"
    stats["users with an addB, last 5 days"] = (
        f"{adds.loc[adds['date'] >= end - pd.Timedelta(days=5), 'user_id'].nunique():,}"
    )

    # funnel: ordered items viewed or added before by the same user_id
    seen = exploded[exploded["action"].isin([Action.VIEW, Action.ADD_BASKET])]
    first_seen = seen.groupby(["user_id", "products"])["date"].min().rename("seen")
    joined = orders.join(first_seen, on=["user_id", "products"])
    stats["ordered items viewed/added before by the user"] = _share(
        (joined["seen"] < joined["date"]).sum(), len(joined)
    )

    # identities: user_ids sharing a loc_user_id
    pairs = actions[["user_id", "loc_user_id"]].drop_duplicates()
    ids_per_loc = pairs.groupby("loc_user_id")["user_id"].nunique()
    stats["loc_user_ids shared by 2+ user_ids"] = _share((ids_per_loc > 1).sum(), len(ids_per_loc))

    truth = raw.truth
    buyers = truth["user_id"].unique()
    history = set(actions["user_id"])
    interacted = exploded[
        exploded["action"].isin([Action.VIEW, Action.ADD_BASKET, Action.LIST_BASKET, Action.LIKE, Action.ORDER])
    ]
    known_pairs = set(zip(interacted["user_id"], interacted["products"], strict=True))
    stats["truth: buyers / pairs"] = f"{len(buyers):,} / {len(truth):,}"
    stats["truth buyers with history in the log"] = _share(sum(b in history for b in buyers), len(buyers))
    past_buyers = set(orders["user_id"])
    stats["truth buyers who ordered in the log"] = _share(sum(b in past_buyers for b in buyers), len(buyers))
    truth_pairs = list(zip(truth["user_id"], truth["product_id"], strict=True))
    stats["truth pairs the user interacted with in the log"] = _share(
        sum(pair in known_pairs for pair in truth_pairs), len(truth)
    )
    stats["organisers' baseline recall (3,000 users)"] = f"{_organisers_recall(adds, truth, end):.3f}"

    catalog = raw.catalog
    valid = catalog[catalog["product_id"] != JUNK_ID]
    titled = valid.dropna(subset=["title"])
    stats["catalog products with a title"] = f"{titled['product_id'].nunique():,}"
    sample = valid.sample(min(5_000, len(valid)), random_state=0)
    stats["categories in a 5,000-row catalog sample"] = f"{sample['category_id'].nunique():,}"
    stats["categories (all)"] = f"{valid['category_id'].nunique():,}"
    price = valid["price"]
    stats["price min / median / max"] = f"{price.min():,} / {price.median():,.0f} / {price.max():,}"
    stats["share of rows with old_price > price"] = _share((valid["old_price"] > price).sum(), len(valid))
    added = pd.to_datetime(valid["add_date"], errors="coerce", format="%Y-%m-%d %H:%M:%S")
    inside = (added >= start) & (added < end)
    stats["products with add_date inside the log"] = _share(inside.sum(), len(valid))
    lengths = titled["title"].str.split().str.len()
    stats["title tokens min / mean / max"] = f"{lengths.min()} / {lengths.mean():.1f} / {lengths.max()}"
    logged = set(exploded["products"].dropna())
    stats["junk: '/*' user rows, '/*' catalog rows, duplicate product rows"] = (
        f"{(actions['user_id'] == JUNK_ID).sum()}, {(catalog['product_id'] == JUNK_ID).sum()}, "
        f"{valid['product_id'].duplicated().sum()}"
    )
    stats["junk: missing titles, logged products not in catalog"] = (
        f"{valid['title'].isna().sum()}, {len(logged - set(valid['product_id']))}"
    )
    stats["vectors"] = f"{raw.vectors.shape[0]:,} x {raw.vectors.shape[1]}"
    stats["generation time (s)"] = f"{seconds:.1f}"
    return stats


def _organisers_recall(adds: pd.DataFrame, truth: pd.DataFrame, end: pd.Timestamp) -> float:
    """The organisers' baseline: users with an addB in the last 5 days (most recent first, at most 3,000),
    each recommended the products of their adds; mean recall over the truth's buyers."""
    recent = adds[adds["date"] >= end - pd.Timedelta(days=5)]
    users = recent.groupby("user_id")["date"].max().sort_values(ascending=False).index[:DEFAULT_TOP_USERS]
    recommended = set(zip(recent["user_id"], recent["products"], strict=True))
    chosen = set(users)
    pairs = zip(truth["user_id"], truth["product_id"], strict=True)
    hit = np.array([(u in chosen) and ((u, i) in recommended) for u, i in pairs])
    per_buyer = pd.Series(hit).groupby(truth["user_id"].to_numpy()).mean()
    return float(per_buyer.mean()) if len(per_buyer) else 0.0


def main(argv: list[str] | None = None) -> None:
    """Generate the preset, measure it and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(synthetic.PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    preset = synthetic.PRESETS[args.preset]
    started = time.perf_counter()
    raw = synthetic.generate(preset, args.seed)
    seconds = time.perf_counter() - started
    stats = measure(raw, preset, seconds)
    print(f"`python -m benchmarks.studies.dataset_stats --preset {args.preset} --seed {args.seed}`\n")
    print(f"| statistic | real Stokman | synthetic `{args.preset}` |")
    print("|---|---|---|")
    for action, rows in REAL_ACTION_ROWS.items():
        REAL[f"share {action.name.lower()}"] = _share(rows, sum(REAL_ACTION_ROWS.values()))
    for name, value in stats.items():
        print(f"| {name} | {REAL.get(name, '—')} | {value} |")


if __name__ == "__main__":
    main()
