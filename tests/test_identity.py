import dataclasses

import numpy as np
import pandas as pd

from recsys import training
from recsys.dataset import Dataset
from recsys.identity import linked_events, person_ids
from recsys.schema import Action as A
from recsys.schema import Columns as C
from recsys.split import Cut, history, make_cuts, model_history, target
from tests.conftest import make_interactions, make_items


def test_people_are_connected_components_of_shared_locs():
    locs = pd.DataFrame(
        {
            C.USER: [0, 1, 1, 2, 3, 4, 5, 6, 7],
            C.LOC_USER_ID: ["a", "a", "b", "b", "c", "d", "shared", "shared", "shared"],
        }
    )
    persons = person_ids(locs, 8, max_ids_per_loc=2)
    assert persons[0] == persons[1] == persons[2]  # 0-a-1-b-2: a chain
    assert len({persons[0], persons[3], persons[4], persons[5], persons[6], persons[7]}) == 6
    # with a larger cap, the loc shared by three ids links them
    persons = person_ids(locs, 8, max_ids_per_loc=3)
    assert persons[5] == persons[6] == persons[7]


def test_linked_events_are_copied_to_the_other_ids_only():
    log = make_interactions(
        [(0, 1, A.VIEW, "2024-09-01 10:00"), (1, 2, A.ADD_BASKET, "2024-09-02 10:00"), (2, 3, A.VIEW, "2024-09-02")]
    )
    persons = np.array([0, 0, 1])
    copies = linked_events(log, persons)
    assert sorted(zip(copies[C.USER], copies[C.ITEM], strict=True)) == [(0, 2), (1, 1)]
    assert list(copies.columns) == list(log.columns) and copies[C.USER].dtype == log[C.USER].dtype


def test_stitched_history_grows_but_targets_do_not(tiny_dataset):
    ds = dataclasses.replace(tiny_dataset, stitch_identities=True)
    cut = make_cuts(ds.end)["valid"]
    plain, stitched = history(ds.interactions, cut), model_history(ds, cut)
    assert len(stitched) > len(plain) and stitched[C.TS].max() < cut.at
    pd.testing.assert_frame_equal(stitched.iloc[:0], plain.iloc[:0])  # same columns and dtypes
    pd.testing.assert_frame_equal(target(ds.interactions, cut), target(tiny_dataset.interactions, cut))


def test_links_first_seen_after_the_cut_are_not_used():
    log = make_interactions([(0, 1, A.VIEW, "2024-09-01 10:00"), (1, 2, A.VIEW, "2024-09-02 10:00")])
    users = pd.DataFrame({C.USER_ID: ["u0", "u1"], C.LOC_USER_ID: ["a", "a"]})
    locs = pd.DataFrame(
        {C.USER: [0, 1], C.LOC_USER_ID: ["a", "a"], C.TS: pd.to_datetime(["2024-09-01 10:00", "2024-09-05 00:00"])}
    )
    ds = Dataset(log, users, make_items(3), np.zeros((3, 2), np.float32), user_locs=locs, stitch_identities=True)
    assert len(model_history(ds, Cut(pd.Timestamp("2024-09-04")))) == 2  # u1 joins "a" only on 09-05
    assert len(model_history(ds, Cut(pd.Timestamp("2024-09-06")))) == 4


def test_stitching_keeps_the_pipeline_leak_free(tiny_dataset):
    from recsys.settings import RunSettings
    from tests.test_training import tamper_after

    ds = dataclasses.replace(tiny_dataset, stitch_identities=True)
    cut = make_cuts(ds.end)["valid"]
    tampered = tamper_after(ds, cut)
    pools = training.user_pools(ds, {"valid": cut}, 300)
    settings = RunSettings(candidates=20)
    a = training.branch_candidates("history", ds, {"valid": cut}, pools, settings).candidates
    b = training.branch_candidates("history", tampered, {"valid": cut}, pools, settings).candidates
    pd.testing.assert_frame_equal(a["history"]["valid"], b["history"]["valid"])
