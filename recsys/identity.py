"""Identity stitching: ``user_id``s of one person, linked through shared ``loc_user_id``s.

One person can browse under several ``user_id``s (devices, sites). Users that share a ``loc_user_id`` (directly
or through a chain) form one person. Stitching gives every ``user_id`` the events of its person's other ids as
extra history, *copied* and attributed to it: candidates and features then see the whole person, while the target
and the metric stay per ``user_id``, exactly as the competition scores them. For a cut, only links first seen
before the cut count, so stitching cannot leak what happens after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from recsys.dataset import Dataset
from recsys.schema import Columns as C


def person_ids(user_locs: pd.DataFrame, n_users: int, max_ids_per_loc: int = 5) -> np.ndarray:
    """Person id of every user code (connected components of the user - loc_user_id graph).

    A ``loc_user_id`` shared by more than ``max_ids_per_loc`` users is ignored: a shared or default device id
    would otherwise merge strangers into one giant "person".
    """
    links = user_locs.dropna(subset=[C.LOC_USER_ID]).drop_duplicates([C.USER, C.LOC_USER_ID])
    sizes = links.groupby(C.LOC_USER_ID)[C.USER].transform("size")
    links = links[sizes.between(2, max_ids_per_loc)]
    loc_codes = pd.factorize(links[C.LOC_USER_ID])[0]
    n_locs = int(loc_codes.max()) + 1 if len(loc_codes) else 0
    graph = sp.coo_matrix(
        (np.ones(len(links)), (links[C.USER].to_numpy(), n_users + loc_codes)), shape=(n_users + n_locs,) * 2
    )
    _, labels = connected_components(graph, directed=False)
    return labels[:n_users]


def linked_events(interactions: pd.DataFrame, persons: np.ndarray) -> pd.DataFrame:
    """Copies of every event of a multi-id person, attributed to each of the person's *other* ids."""
    ids_per_person = np.bincount(persons)
    multi = ids_per_person[persons] > 1
    members = pd.DataFrame({"person": persons[multi], "other": np.flatnonzero(multi)})
    events = interactions[multi[interactions[C.USER].to_numpy()]]
    events = events.assign(person=persons[events[C.USER].to_numpy()])
    copies = events.merge(members, on="person")
    copies = copies[copies["other"] != copies[C.USER]]
    copies = copies.drop(columns=[C.USER, "person"]).rename(columns={"other": C.USER})
    copies[C.USER] = copies[C.USER].astype(interactions[C.USER].dtype)
    return copies[list(interactions.columns)].sort_values(C.TS, kind="stable").reset_index(drop=True)


def linked_history(ds: Dataset, history: pd.DataFrame, cut_at: pd.Timestamp, max_ids_per_loc: int = 5):
    """Events of ``history`` (a cut's events) copied to the other ids of their person, with people linked only
    through (user, loc_user_id) pairs first seen before the cut."""
    if ds.user_locs is None:
        raise ValueError("the dataset has no user_locs: cannot stitch identities")
    links = ds.user_locs[ds.user_locs[C.TS] < cut_at]
    return linked_events(history, person_ids(links, len(ds.users), max_ids_per_loc))
