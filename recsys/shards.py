"""User shards: a cut's users split into contiguous runs of sorted user codes, so that the work whose memory grows
with the number of users (a cut's feature table, scoring it) is done one shard at a time, and on a cluster each
shard is its own task.

Nothing computed for a user depends on which other users share its shard (candidates and features come from the
user's own history and from statistics of the whole cut), and tables are sorted by user: the shards' tables, put
end to end in shard order, are the table of the whole pool, row for row (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.buyers import BuyerInputs
from recsys.schema import Columns as C

#: ``tables(cut name)``: a cut's shard tables, in shard order, each loaded only when the iteration reaches it.
TableReader = Callable[[str], Iterator[pd.DataFrame]]


@dataclass(frozen=True)
class Shard:
    """One shard of one cut: the flow's unit of table work (``index`` of ``count`` shards of the cut)."""

    cut: str
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.cut} (shard {self.index + 1} of {self.count})"

    def users(self, pool: np.ndarray) -> np.ndarray:
        """This shard's users of the cut's ``pool`` (sorted user codes)."""
        return np.array_split(np.asarray(pool), self.count)[self.index]

    @property
    def table_artifact(self) -> str:
        """The flow artifact holding this shard's feature table (a step loads only the shards it scores)."""
        return table_artifact(self.cut, self.index)

    @property
    def rows_artifact(self) -> str:
        """The flow artifact holding this shard's learnable rows (what a reranker trains on; small)."""
        return rows_artifact(self.cut, self.index)


def shard_count(n_users: int, size: int) -> int:
    """Shards of at most ``size`` users for ``n_users`` (at least one, even for an empty pool)."""
    if size < 1:
        raise ValueError(f"shard size must be at least 1, got {size}")
    return max(1, -(-n_users // size))


def plan(pools: dict[str, np.ndarray], size: int) -> list[Shard]:
    """Every (cut, shard) of a run, cut by cut in ``pools`` order: the flow's ``foreach`` over table tasks."""
    shards = []
    for cut, pool in pools.items():
        count = shard_count(len(pool), size)
        shards.extend(Shard(cut, i, count) for i in range(count))
    return shards


def shards_of(plan_: list[Shard], cut: str) -> list[Shard]:
    """The shards of one cut, in order."""
    return [s for s in plan_ if s.cut == cut]


def table_artifact(cut: str, index: int) -> str:
    return f"table_{cut}_{index}"


def rows_artifact(cut: str, index: int) -> str:
    return f"rows_{cut}_{index}"


def candidates_artifact(cut: str) -> str:
    """The flow artifact holding every source's candidates at one cut (``{source: candidates}``)."""
    return f"candidates_{cut}"


def final_sources_artifact(branch: str) -> str:
    """The flow artifact holding a branch's sources fitted on the final cut (``{source: fitted source}``): passed
    on by reference from the branch to ``final``, the join never loads them."""
    return f"final_sources_{branch}"


def for_users(candidates: dict[str, pd.DataFrame], users: np.ndarray) -> dict[str, pd.DataFrame]:
    """Each source's candidates of ``users`` only."""
    return {s: c[c[C.USER].isin(users)] for s, c in candidates.items()}


def concat_tables(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Shard tables (or learnable rows) of one cut end to end, in shard order: the whole cut's table, with a
    default index whatever the number of shards (one shard is not copied)."""
    columns = list(parts[0].columns)
    if len(parts) == 1:
        return pd.DataFrame({c: parts[0][c].to_numpy() for c in columns}, copy=False)
    return pd.DataFrame({c: np.concatenate([p[c].to_numpy() for p in parts]) for c in columns}, copy=False)


def concat_inputs(parts: list[BuyerInputs]) -> BuyerInputs:
    """The buyer inputs of a cut's shards as one (the activity scores are the cut's, the same in every shard)."""
    if len(parts) == 1:
        return parts[0]
    labels = None if parts[0].labels is None else pd.concat([p.labels for p in parts])
    return BuyerInputs(pd.concat([p.user_feats for p in parts]), parts[0].activity, labels)


def join_inputs(done: list[tuple[Shard, BuyerInputs | None]]) -> dict[str, BuyerInputs]:
    """Each cut's buyer inputs from its shards' (in shard order; cuts without inputs, the training ones, left out)."""
    by_cut: dict[str, list[tuple[int, BuyerInputs]]] = {}
    for shard, inputs in done:
        if inputs is not None:
            by_cut.setdefault(shard.cut, []).append((shard.index, inputs))
    return {cut: concat_inputs([i for _, i in sorted(parts, key=lambda p: p[0])]) for cut, parts in by_cut.items()}


class ArtifactReader:
    """Reads a Metaflow step's per-shard artifacts one at a time, without keeping them on the flow object: an
    artifact left on ``self`` would be pickled again when the step ends (seconds for a feature table)."""

    def __init__(self, flow, plan_: list[Shard]):
        self.flow, self.plan = flow, plan_

    def take(self, name: str):
        """An artifact of an earlier step, forgotten by the flow object once read."""
        value = getattr(self.flow, name)
        self.flow.__dict__.pop(name, None)
        return value

    def tables(self, cut: str) -> Iterator[pd.DataFrame]:
        """The cut's shard tables, one at a time (:data:`TableReader`)."""
        for shard in shards_of(self.plan, cut):
            yield self.take(shard.table_artifact).frame

    def table(self, cut: str) -> pd.DataFrame:
        """The whole cut's table (its shards end to end)."""
        return concat_tables(list(self.tables(cut)))

    def final_sources(self) -> dict:
        """Every branch's sources fitted on the final cut, by source name in sorted order (the served model's)."""
        from recsys.candidates import branches

        found = {}
        for branch in branches():
            found.update(self.take(final_sources_artifact(branch)))
        return dict(sorted(found.items()))

    def candidates(self, cut: str) -> dict[str, pd.DataFrame]:
        """Every source's candidates at ``cut`` (``{source: candidates}``)."""
        return self.take(candidates_artifact(cut))

    def rows(self, cut: str) -> pd.DataFrame:
        """The cut's learnable rows (small: users with a bought candidate), its shards end to end."""
        return concat_tables([self.take(s.rows_artifact).frame for s in shards_of(self.plan, cut)])
