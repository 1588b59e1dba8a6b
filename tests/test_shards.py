"""User shards: the plan of table tasks, and a cut's table built shard by shard equal to the whole, row for row."""

import numpy as np
import pandas as pd
import pytest

from recsys import shards, training
from recsys.buyers import BuyerInputs
from recsys.candidates import branches
from recsys.settings import RunSettings
from recsys.split import make_cuts


def test_a_pool_is_split_into_contiguous_shards_of_at_most_the_size():
    pools = {"train": np.arange(5), "valid": np.arange(0, 100, 2), "final": np.array([], dtype=np.int32)}
    plan = shards.plan(pools, 20)
    assert [(s.cut, s.index, s.count) for s in plan] == [
        ("train", 0, 1), ("valid", 0, 3), ("valid", 1, 3), ("valid", 2, 3), ("final", 0, 1)
    ]  # fmt: skip
    parts = [s.users(pools["valid"]) for s in shards.shards_of(plan, "valid")]
    assert all(len(p) <= 20 for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts), pools["valid"])  # in order, each user once
    assert len(shards.shards_of(plan, "final")[0].users(pools["final"])) == 0
    assert str(plan[2]) == "valid (shard 2 of 3)" and plan[2].table_artifact == "table_valid_1"
    with pytest.raises(ValueError, match="shard size must be at least 1"):
        shards.plan(pools, 0)


def test_buyer_inputs_of_shards_join_in_shard_order():
    def inputs(users):
        feats = pd.DataFrame({"f": np.asarray(users, float)}, index=pd.Index(users))
        return BuyerInputs(feats, pd.Series([1.0, 2.0]), pd.Series(1, index=pd.Index(users), dtype=np.int8))

    plan = shards.plan({"valid": np.arange(6), "train": np.arange(2)}, 2)
    done = [(s, inputs(s.users(np.arange(6)))) for s in plan if s.cut == "valid"][::-1]  # any finishing order
    done.append((plan[-1], None))  # a training cut has none
    joined = shards.join_inputs(done)
    assert list(joined) == ["valid"]
    assert joined["valid"].users.tolist() == list(range(6)) and joined["valid"].labels.index.tolist() == list(range(6))


@pytest.fixture(scope="module")
def cut_setup(tiny_dataset):
    ds = tiny_dataset
    cuts = make_cuts(ds.end, n_train=1)
    pools = training.user_pools(ds, cuts, 300)
    settings = RunSettings(candidates=20)
    found = [training.branch_candidates(b, ds, cuts, pools, settings) for b in branches()]
    return ds, cuts, pools, training.join_branches(found).by_cut()


@pytest.mark.parametrize("name", ["valid", "final", "train"])
def test_shard_tables_end_to_end_are_the_whole_table(cut_setup, name):
    """Sharding changes no result: every table, learnable row and buyer input of a cut is the same, to the bit,
    whether its users are one shard or several."""
    ds, cuts, pools, candidates = cut_setup
    learn_only = name == "train"
    whole = training.shard_data(ds, cuts[name], pools[name], candidates[name], learn_only)
    plan = shards.shards_of(shards.plan({name: pools[name]}, 70), name)
    assert len(plan) > 1 or learn_only
    parts = [training.shard_data(ds, cuts[name], s.users(pools[name]), candidates[name], learn_only) for s in plan]
    pd.testing.assert_frame_equal(shards.concat_tables([p.table for p in parts]), whole.table.reset_index(drop=True))
    if whole.rows is not None:
        joined = shards.concat_tables([p.rows for p in parts])
        pd.testing.assert_frame_equal(joined, shards.concat_tables([whole.rows]))
    if whole.inputs is not None:
        joined = shards.join_inputs(list(zip(plan, [p.inputs for p in parts], strict=True)))[name]
        pd.testing.assert_frame_equal(joined.table(), whole.inputs.table())
        if whole.inputs.labels is not None:
            pd.testing.assert_series_equal(joined.labels, whole.inputs.labels)


def test_the_reader_loads_each_shard_once_and_keeps_none(tmp_path):
    class Flow:  # the attributes a Metaflow step reads lazily from the datastore
        pass

    from recsys.frames import PackedFrame

    flow = Flow()
    plan = shards.plan({"valid": np.arange(4)}, 2)
    for s in plan:
        setattr(flow, s.table_artifact, PackedFrame(pd.DataFrame({"user": s.users(np.arange(4))})))
        setattr(flow, s.rows_artifact, PackedFrame(pd.DataFrame({"user": s.users(np.arange(4))})))
    reader = shards.ArtifactReader(flow, plan)
    assert [t["user"].tolist() for t in reader.tables("valid")] == [[0, 1], [2, 3]]
    assert not any(k.startswith("table_") for k in vars(flow))  # forgotten once read
    assert reader.rows("valid")["user"].tolist() == [0, 1, 2, 3]
