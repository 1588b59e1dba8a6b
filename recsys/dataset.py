"""The in-memory dataset every step works on: one exploded interactions table plus user and item tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.frames import PackedFrame
from recsys.schema import Columns as C


def log_end(interactions: pd.DataFrame) -> pd.Timestamp:
    """The end of a log: the midnight after its last event (the final cut)."""
    return interactions[C.TS].max().floor("D") + pd.Timedelta(days=1)


@dataclass(frozen=True)
class Catalog:
    """The raw ids behind the codes: ``user_ids[user code]`` and ``product_ids[item code]``. What turns a model's
    lists into a submission, small enough for the steps that never read the log."""

    user_ids: np.ndarray
    product_ids: np.ndarray

    def raw_recs(self, recs: dict) -> dict[str, list[str]]:
        """``user code -> [item codes]`` as ``user_id -> [product_id]`` (order kept)."""
        return {str(self.user_ids[u]): [str(p) for p in self.product_ids[list(items)]] for u, items in recs.items()}


@dataclass
class Dataset:
    """Clean, validated data in compact internal form.

    Attributes:
        interactions: one row per (event, product): ``user`` int32, ``item`` int32 (``NO_ITEM`` for events
            without a product, such as visits and searches), ``action`` int8, ``ts`` datetime64[ns],
            ``page`` int64; sorted by ``ts``.
        users: indexed by user code: ``user_id`` (raw string) and ``loc_user_id`` (the most frequent one).
        items: indexed by item code: ``product_id``, ``category`` (int32 code, -1 unknown), ``category_id``,
            ``price``, ``old_price`` (float32, NaN unknown), ``add_date`` (NaT unknown), ``title`` (str, "" when
            missing), ``vector_row`` (int32, -1 when no embedding), ``in_catalog`` (bool).
        vectors: float32 array of title embeddings, addressed by ``items.vector_row``.
        report: counts of everything the loader cleaned, by name.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    vectors: np.ndarray
    report: dict[str, int] = field(default_factory=dict)
    #: distinct (user code, loc_user_id) pairs with the time of their first event (``ts``): the links that
    #: identity stitching can use
    user_locs: pd.DataFrame | None = None
    #: when True, a cut's model history includes the events of the same person's other user_ids (linked through
    #: loc_user_ids seen before the cut), see ``recsys.identity``; targets never change
    stitch_identities: bool = False

    def __getstate__(self) -> dict:
        # the frames packed (zstd Arrow): a full@4 log pickles into 0.18 GB instead of 0.92, and a step loads it in
        # ~3 s instead of ~7 s (most of which was Metaflow's gunzip of the plain pickle)
        return {k: PackedFrame(v) if isinstance(v, pd.DataFrame) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({k: v.frame if isinstance(v, PackedFrame) else v for k, v in state.items()})

    @property
    def start(self) -> pd.Timestamp:
        return self.interactions[C.TS].min()

    @property
    def end(self) -> pd.Timestamp:
        """End of the log: midnight after the last event, i.e. the cut for the final prediction."""
        return log_end(self.interactions)

    @property
    def catalog(self) -> Catalog:
        """The raw ids of the users and items (:class:`Catalog`)."""
        return Catalog(self.users[C.USER_ID].to_numpy(), self.items[C.PRODUCT_ID].to_numpy())

    def raw_recs(self, recs: dict) -> dict[str, list[str]]:
        """``user code -> [item codes]`` as ``user_id -> [product_id]`` (order kept)."""
        return self.catalog.raw_recs(recs)

    def padding_ids(self, k: int) -> list[str]:
        """Product ids to complete short lists: the project's one padding recipe
        (:func:`recsys.candidates.popularity.padding_items`) over the whole log."""
        from recsys.candidates.popularity import padding_items

        codes = padding_items(self.interactions, len(self.items), 4 * k)
        return self.items[C.PRODUCT_ID].to_numpy()[codes].tolist()
