"""What a candidate source finds alone, and what it adds to the union of the others, on the validation windows.

    python -m benchmarks.studies.source_recall --data-dir ../shared/data/holdout-dev/completejourney-2017-03-15
    python -m benchmarks.studies.source_recall --preset default --extra neighbours neighbours:own_weight=0.5

For each validation window (the flow's three), every source of the registry is fitted on the window's history
and asked for its candidates for the user pool the flow scores (4 x --top-users); ``--extra`` adds sources that
are not (yet) in the registry, with constructor keywords after a colon. Printed per source: its recall@25 (its
own top 25 as the list) and recall@N (its N candidates, N as the flow asks of its kind) over the pool's buyers,
how much it adds to the union of the registry's candidates (the share of each buyer's purchases found in the
union, minus the union without it, paired per buyer) and, for an ``--extra`` source, what the union finds with it
in place of the registry's source of its kind (e.g. ``history:half_life_days=28.0`` for the history source),
each as a mean over the windows ± its standard error (:func:`recsys.metrics.paired_difference`). A fit time per
window is given too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from recsys.buyers import user_pool
from recsys.candidates import SOURCES, candidates_of, make_source
from recsys.candidates.covisit import CovisitationSource
from recsys.candidates.history import HistorySource
from recsys.candidates.neighbours import NeighboursSource
from recsys.cli import resolve_data_dir
from recsys.data import load_dataset
from recsys.metrics import paired_difference, truth_sets
from recsys.schema import DEFAULT_K
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import cut_names, make_cuts, model_history, target

EXTRA = {"neighbours": NeighboursSource, "history": HistorySource, "covisit": CovisitationSource}


def found_share(candidates: pd.DataFrame, sets: dict, n: int | None = None) -> pd.Series:
    """Per buyer: the share of their purchases among their candidates (the ``n`` best-ranked when given)."""
    if n is not None:
        candidates = candidates[candidates[C.RANK] <= n]
    listed = candidates.groupby(C.USER)[C.ITEM].agg(set).to_dict()
    return pd.Series({u: len(items & listed.get(u, set())) / len(items) for u, items in sets.items()}, dtype=float)


def parse_extra(spec: str):
    name, _, kwargs = spec.partition(":")
    params = dict(kv.split("=", 1) for kv in kwargs.split(",") if kv)
    return spec, EXTRA[name](**{k: float(v) if "." in v else int(v) for k, v in params.items()}), name


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="", help="a folder of the four files; empty: --preset")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--top-users", type=int, default=3000)
    parser.add_argument("--candidates", type=int, default=50, help="the flow's --candidates")
    parser.add_argument("--extra", nargs="*", default=["neighbours"], help=f"of {sorted(EXTRA)}, NAME:key=value,...")
    args = parser.parse_args(argv)

    ds = load_dataset(resolve_data_dir(args.data_dir, args.preset, 0), progress=False)
    cuts = make_cuts(ds.end, n_valid=3)
    alone: dict[str, dict[str, tuple[pd.Series, pd.Series]]] = {}
    depth: dict[str, int] = {}
    added: dict[str, dict[str, pd.Series]] = {}
    replacing: dict[str, dict[str, pd.Series]] = {}
    fit_s: dict[str, list[float]] = {}
    for window in cut_names(cuts, "valid"):
        cut = cuts[window]
        hist = model_history(ds, cut)
        pool = user_pool(hist, RunSettings(top_users=args.top_users).pool)
        sets = truth_sets(target(ds.interactions, cut))
        sets = {u: s for u, s in sets.items() if u in set(pool)}
        sources = [(name, make_source(name), name) for name in SOURCES]
        sources += [parse_extra(spec) for spec in args.extra]
        cands = {}
        for label, source, kind in sources:
            started = time.perf_counter()
            source.fit(hist, ds.items, ds.vectors)
            cands[label] = source.recommend(pool, candidates_of(kind, args.candidates))
            fit_s.setdefault(label, []).append(time.perf_counter() - started)
            n = int(cands[label][C.RANK].max()) if len(cands[label]) else 0
            depth[label] = max(depth.get(label, 0), n)
            alone.setdefault(label, {})[window] = (
                found_share(cands[label], sets, DEFAULT_K),
                found_share(cands[label], sets),
            )
        union = pd.concat([cands[name] for name in SOURCES], ignore_index=True)
        base = found_share(union, sets)
        added.setdefault("union of the registry", {})[window] = base
        for label, _, _kind in sources:
            rest = [cands[name] for name in SOURCES if name != label]
            without = found_share(pd.concat(rest, ignore_index=True), sets) if label in SOURCES else base
            with_it = base if label in SOURCES else found_share(pd.concat([union, cands[label]]), sets)
            added.setdefault(label, {})[window] = with_it - without
            if label not in SOURCES:  # in place of the registry's source of its kind
                others = [cands[name] for name in SOURCES if name != _kind] + [cands[label]]
                replacing.setdefault(label, {})[window] = found_share(pd.concat(others, ignore_index=True), sets) - base
        print(f"{window}: {len(sets)} pool buyers; union of the registry finds {base.mean():.4f}", flush=True)

    zero = {w: s * 0 for w, s in added["union of the registry"].items()}
    print(
        "\n| source | recall@25 alone | recall@N alone (N) | added to the union of the others "
        "| the union with it in place of the registry's source of its kind, minus the union | fit + recommend s |"
    )
    print("|---|---|---|---|---|---|")
    for label in alone:
        at25 = paired_difference({w: v[0] for w, v in alone[label].items()}, zero)
        at_n = paired_difference({w: v[1] for w, v in alone[label].items()}, zero)
        n_max = depth[label]
        gain = paired_difference(added[label], zero)
        swap = paired_difference(replacing[label], zero) if label in replacing else None
        swapped = f"{swap[0]:+.4f} ± {swap[1]:.4f}" if swap else ""
        print(
            f"| {label} | {at25[0]:.4f} ± {at25[1]:.4f} | {at_n[0]:.4f} ± {at_n[1]:.4f} ({n_max}) "
            f"| {gain[0]:+.4f} ± {gain[1]:.4f} | {swapped} | {np.mean(fit_s[label]):.1f} |"
        )
    union = paired_difference(added["union of the registry"], zero)
    print(f"| union of the registry | | {union[0]:.4f} ± {union[1]:.4f} | | | |")


if __name__ == "__main__":
    main()
