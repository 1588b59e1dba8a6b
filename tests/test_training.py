"""The training pieces on the tiny synthetic dataset: nothing computed for a cut reads the log after it (the
candidates, features, user pools and buyer models), training windows never see the validation windows, and a
training cut's light table learns the same rows as the whole pool's."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recsys import buyers, training
from recsys.candidates import SOURCES, branches
from recsys.reranker import learnable_rows
from recsys.schema import Action
from recsys.schema import Columns as C
from recsys.settings import RunSettings
from recsys.split import cut_names, daily_cuts, make_cuts, model_history, target
from recsys.training import labelled_buyer_inputs, learning_pool, shard_data

SETTINGS = RunSettings(top_users=50, k=10, candidates=30, pool_size=400, train_cuts=1, buyer_cuts=4, valid_windows=1)


def tamper_after(ds, cut, seed=1):
    """A copy of ``ds`` whose events at or after ``cut`` are replaced by different ones (same log end)."""
    rng = np.random.default_rng(seed)
    inter = ds.interactions
    before = inter[inter[C.TS] < cut.at]
    after = inter[inter[C.TS] >= cut.at].copy()
    after[C.USER] = rng.permutation(after[C.USER].to_numpy())
    after[C.ITEM] = np.where(after[C.ITEM] >= 0, rng.integers(0, len(ds.items), len(after)), after[C.ITEM])
    after[C.ACTION] = np.where(after[C.ACTION] == int(Action.VIEW), int(Action.ORDER), after[C.ACTION])
    after[C.ACTION] = after[C.ACTION].astype(inter[C.ACTION].dtype)
    after[C.ITEM] = after[C.ITEM].astype(inter[C.ITEM].dtype)
    changed = pd.concat([before, after], ignore_index=True)
    return dataclasses.replace(ds, interactions=changed)


def candidates_at(ds, cuts, pools, settings=SETTINGS, names=None):
    """Every branch's candidates (``{source: {cut: frame}}``) and metrics, as the flow's branches give them."""
    joined = training.join_branches(
        [training.branch_candidates(b, ds, cuts, pools, settings) for b in names or branches()]
    )
    return joined.candidates, joined.metrics


def at(cands, name):
    return {s: c[name] for s, c in cands.items()}


@pytest.fixture(scope="module")
def candidates(setup):
    return candidates_at(*setup)


@pytest.mark.parametrize("branch", list(branches()))
def test_events_after_a_cut_change_nothing_computed_for_it(setup, branch):
    """The whole first stage and the features of a cut, computed from a log whose future was rewritten."""
    ds, cuts, _ = setup
    cut = {"valid": cuts["valid"]}
    tampered = tamper_after(ds, cuts["valid"])
    assert tampered.end == ds.end
    assert not tampered.interactions.equals(ds.interactions)
    pools = training.user_pools(ds, cut, 400)
    pools_t = training.user_pools(tampered, cut, 400)
    np.testing.assert_array_equal(pools["valid"], pools_t["valid"])

    cands, _ = candidates_at(ds, cut, pools, names=[branch])
    cands_t, _ = candidates_at(tampered, cut, pools, names=[branch])
    for source in cands:
        pd.testing.assert_frame_equal(cands[source]["valid"], cands_t[source]["valid"])

    data = shard_data(ds, cuts["valid"], pools["valid"], at(cands, "valid"))
    data_t = shard_data(tampered, cuts["valid"], pools["valid"], at(cands_t, "valid"))
    pd.testing.assert_frame_equal(data.table.drop(columns=C.TARGET), data_t.table.drop(columns=C.TARGET))
    assert not data.table[C.TARGET].equals(data_t.table[C.TARGET])  # only the labels may (and here do) change
    pd.testing.assert_frame_equal(data.inputs.table(), data_t.inputs.table())
    assert not data.inputs.labels.equals(data_t.inputs.labels)


def test_events_after_the_validation_windows_change_no_pool_the_buyer_model_chooses(setup):
    """The validation windows' pools are chosen by a buyer model learnt before the oldest window: rewriting the log
    from that window on changes neither the model's choices nor which users get candidates at any window."""
    ds, cuts, _ = setup
    windows = {n: cuts[n] for n in cut_names(cuts, "valid")}
    oldest = windows[cut_names(cuts, "valid")[-1]]
    tampered = tamper_after(ds, oldest)
    models = training.fit_buyer_models(ds, cuts, SETTINGS).models
    models_t = training.fit_buyer_models(tampered, cuts, SETTINGS).models
    pools = training.user_pools(ds, {cut_names(cuts, "valid")[-1]: oldest}, 100, {"valid": models["valid"]})
    pools_t = training.user_pools(tampered, {cut_names(cuts, "valid")[-1]: oldest}, 100, {"valid": models_t["valid"]})
    for name in pools:
        np.testing.assert_array_equal(pools[name], pools_t[name])
    whole = training.user_pools(ds, windows, 100, models)
    assert all(len(p) == 100 for p in whole.values())
    assert any(not np.array_equal(whole[n], training.user_pools(ds, windows, 100)[n]) for n in windows)


def test_the_leak_check_catches_features_that_read_the_target_window(setup, candidates, monkeypatch):
    """The check above can fail: with a history that includes the cut's target window, features differ."""
    ds, cuts, pools = setup
    cands = at(candidates[0], "valid")
    tampered = tamper_after(ds, cuts["valid"])
    monkeypatch.setattr(training, "model_history", lambda ds, cut: ds.interactions)  # a leaky history
    data = shard_data(ds, cuts["valid"], pools["valid"], cands)
    data_t = shard_data(tampered, cuts["valid"], pools["valid"], cands)
    assert not data.table.drop(columns=C.TARGET).equals(data_t.table.drop(columns=C.TARGET))
    assert not data.inputs.table().equals(data_t.inputs.table())


@pytest.fixture(scope="module")
def windows_layout(tiny_dataset):
    """The run's layout: daily training cuts before three back-to-back validation windows."""
    cuts = make_cuts(tiny_dataset.end, n_train=2, n_valid=3)
    return cuts, training.user_pools(tiny_dataset, cuts, 300)


def training_data(ds, cuts, pools, name):
    settings = dataclasses.replace(SETTINGS, candidates=20)
    cands, _ = candidates_at(ds, {name: cuts[name]}, {name: pools[name]}, settings)
    return shard_data(ds, cuts[name], pools[name], at(cands, name))


@pytest.mark.parametrize("name", ["train", "train2"])
def test_training_windows_with_their_labels_never_see_the_validation_windows(tiny_dataset, windows_layout, name):
    """Rewriting everything from the oldest validation window on changes nothing a trial learns from: not the
    candidates, features or buyer inputs of a daily training cut, and not its labels either."""
    cuts, pools = windows_layout
    oldest_valid = min((cuts[n] for n in cuts if n.startswith("valid")), key=lambda c: c.at)
    tampered = tamper_after(tiny_dataset, oldest_valid)
    data = training_data(tiny_dataset, cuts, pools, name)
    data_t = training_data(tampered, cuts, pools, name)
    pd.testing.assert_frame_equal(data.table, data_t.table)  # labels included
    pd.testing.assert_frame_equal(data.rows, data_t.rows)
    pd.testing.assert_frame_equal(data.inputs.table(), data_t.inputs.table())
    pd.testing.assert_series_equal(data.inputs.labels, data_t.inputs.labels)


def test_the_window_check_catches_a_training_target_reaching_into_validation(tiny_dataset, windows_layout):
    """The check above can fail: rewrite from one day earlier (inside the newest training window's target) and
    that window's labels change."""
    cuts, pools = windows_layout
    tampered = tamper_after(
        tiny_dataset, dataclasses.replace(cuts["train"], at=cuts["train"].target_end - pd.Timedelta(days=1))
    )
    data = training_data(tiny_dataset, cuts, pools, "train")
    data_t = training_data(tampered, cuts, pools, "train")
    pd.testing.assert_frame_equal(data.table.drop(columns=C.TARGET), data_t.table.drop(columns=C.TARGET))
    assert not data.table[C.TARGET].equals(data_t.table[C.TARGET])


def test_the_buyer_models_daily_cuts_never_see_the_validation_windows(tiny_dataset, windows_layout):
    """The validation buyer model learns from daily cuts whose targets end where the oldest validation window
    starts: rewriting everything from there on changes none of their features or labels; ending them one day
    later (a target reaching into the window) does change them, so the check can fail."""
    cuts, _ = windows_layout
    oldest_valid = min((cuts[n] for n in cuts if n.startswith("valid")), key=lambda c: c.at)
    tampered = tamper_after(tiny_dataset, oldest_valid)
    daily = daily_cuts(oldest_valid.at, 30, tiny_dataset.interactions[C.TS].min())
    assert len(daily) > 2
    for cut in daily.values():
        a, b = labelled_buyer_inputs(tiny_dataset, cut, 300), labelled_buyer_inputs(tampered, cut, 300)
        assert a.labels.sum() > 0
        pd.testing.assert_frame_equal(a.table(), b.table())
        pd.testing.assert_series_equal(a.labels, b.labels)
    (late,) = daily_cuts(oldest_valid.at + pd.Timedelta(days=1), 1, tiny_dataset.interactions[C.TS].min()).values()
    a, b = labelled_buyer_inputs(tiny_dataset, late, 300), labelled_buyer_inputs(tampered, late, 300)
    assert not a.labels.equals(b.labels)


def test_buyer_models_learn_from_the_daily_cuts_before_their_windows(setup):
    ds, cuts, _ = setup
    settings = dataclasses.replace(SETTINGS, pool_size=300)
    found = training.fit_buyer_models(ds, cuts, settings)
    models, facts = found.models, found.facts
    assert set(models) == {"valid", "final"}
    assert facts["valid"]["cuts"] == facts["final"]["cuts"] == 4 and facts["final"]["buyers"] > 0
    assert found.lines()[0].startswith("buyer model (valid): 4 daily cuts")
    few_facts = training.fit_buyer_models(ds, cuts, dataclasses.replace(settings, buyer_cuts=1)).facts
    assert few_facts["valid"]["cuts"] == 1 and few_facts["valid"]["users"] < facts["valid"]["users"]
    late = dataclasses.replace(ds, interactions=ds.interactions[ds.interactions[C.TS] >= cuts["valid"].at])
    with pytest.raises(ValueError, match="no daily cut for the valid buyer model"):
        training.fit_buyer_models(late, cuts, settings)


def test_buyer_models_learnt_from_groups_of_daily_cuts_are_the_models_of_one_pass(setup):
    """The flow computes the buyer inputs in a fan-out over groups of daily cuts (``buyer_plan``: both models' cuts,
    each once, the heaviest first into the lightest group) and learns the models in the join: the same models as
    :func:`training.fit_buyer_models` in one process, whatever the grouping and the order the groups arrive in."""
    ds, cuts, _ = setup
    settings = dataclasses.replace(SETTINGS, pool_size=300, buyer_cuts=6)
    daily = training.buyer_cuts(ds, cuts, settings)
    distinct = {cut.at for group in daily.values() for cut in group}
    assert len(distinct) < len(daily["valid"]) + len(daily["final"])  # the models share some cuts
    one = training.fit_buyer_models(ds, cuts, settings)
    for rows in (1, 10**12):
        plan = training.buyer_plan(ds, daily, rows)
        assert sorted(cut.at for group in plan for cut in group) == sorted(distinct)
        assert len(plan) == (len(distinct) if rows == 1 else 1)
        inputs = {at: i for group in plan[::-1] for at, i in training.daily_inputs(ds, group, 300).items()}
        grouped = training.learn_buyer_models(daily, inputs, settings.seed)
        assert grouped.facts == one.facts
        for which, model in one.models.items():
            check = inputs[daily[which][0].at]
            pd.testing.assert_series_equal(grouped.models[which].predict(check), model.predict(check))
    assert training.daily_line(plan[0][:2]).startswith("buyer inputs at 2 daily cuts: ")


def test_a_learning_only_cut_gives_the_same_learnable_rows(setup, candidates):
    """A training cut's candidates and table are made for its buyers only: what the reranker learns from is the
    same as with the whole pool's; its buyer inputs are skipped (the buyer model's daily cuts compute the same)."""
    ds, cuts, pools = setup
    cut = cuts["train"]
    whole = buyers.user_pool(model_history(ds, cut), 400)  # the setup's pool size, before keeping the buyers
    np.testing.assert_array_equal(pools["train"], learning_pool(ds, cut, whole))
    bought = target(ds.interactions, cut)[C.USER].unique()
    assert 0 < len(pools["train"]) < len(whole) and set(pools["train"]) <= set(bought)
    whole_cands, _ = candidates_at(ds, {"train": cut}, {"train": whole})
    full = shard_data(ds, cut, whole, at(whole_cands, "train"))
    light = shard_data(ds, cut, pools["train"], at(candidates[0], "train"), learn_only=True)
    assert light.table[C.USER].nunique() < full.table[C.USER].nunique()
    pd.testing.assert_frame_equal(light.rows.reset_index(drop=True), full.rows.reset_index(drop=True))
    pd.testing.assert_frame_equal(full.rows, learnable_rows(full.table))
    assert light.inputs is None
    daily = labelled_buyer_inputs(ds, cut, 400)
    pd.testing.assert_frame_equal(daily.table(), full.inputs.table())
    pd.testing.assert_series_equal(daily.labels, full.inputs.labels)
    with pytest.raises(ValueError, match="target window inside the log"):
        shard_data(ds, cuts["final"], pools["final"], at(candidates[0], "final"), learn_only=True)


def test_branches_run_every_registered_source(candidates):
    cands, metrics = candidates
    assert set(cands) == set(SOURCES)
    for source in SOURCES:
        assert f"{source}.valid.recall_at_25" in metrics and f"{source}.final.recall_at_25" not in metrics
        assert f"{source}.valid.recall_at_25" in metrics and f"{source}.valid.recall_at_100" not in metrics


def test_a_cut_after_the_log_has_a_table_without_labels_or_rows(setup, candidates):
    ds, cuts, pools = setup
    final = shard_data(ds, cuts["final"], pools["final"], at(candidates[0], "final"))
    assert C.TARGET not in final.table and final.rows is None and final.inputs.labels is None


def test_joined_branches_do_not_depend_on_the_order_they_finish(setup):
    ds, cuts, pools = setup
    one = {"valid": cuts["valid"]}
    results = [training.branch_candidates(b, ds, one, pools, SETTINGS) for b in ["popularity", "history"]]
    a, b = training.join_branches(results), training.join_branches(results[::-1])
    assert list(a.candidates) == list(b.candidates) == sorted(a.candidates)
    assert list(a.final_sources) == list(b.final_sources) and a.metrics == b.metrics
    assert training.by_source(a.by_cut()).keys() == a.candidates.keys()


def test_cut_groups_hold_about_the_rows_asked_for_each_cut_once():
    sizes = {"train": 40, "valid": 50, "final": 60, "train2": 30}
    assert training.fit_groups(sizes, 1_000) == [["train", "valid", "final", "train2"]]  # all in one task
    assert training.fit_groups(sizes, 1) == [["train"], ["valid"], ["final"], ["train2"]]  # one task per cut
    groups = training.fit_groups(sizes, 90)  # 180 rows: two groups of 90, the largest placed first
    assert groups == [["train", "valid"], ["final", "train2"]]
    assert sorted(n for g in groups for n in g) == sorted(sizes)
    with pytest.raises(ValueError, match="at least 1"):
        training.fit_groups(sizes, 0)


def test_history_rows_count_the_events_before_each_cut(setup):
    ds, cuts, _ = setup
    rows = training.history_rows(ds, cuts)
    assert rows == {n: int((ds.interactions[C.TS] < c.at).sum()) for n, c in cuts.items()}


def test_branches_fitted_in_groups_of_cuts_join_to_one_task_per_branch(setup):
    """The flow's grouping of cuts (any grouping) gives the candidates, the final sources and the candidate
    recalls of one task per branch fitting every cut, in the same order (so the means over cuts are the same)."""
    ds, cuts, pools = setup
    whole = training.join_branches([training.branch_candidates(b, ds, cuts, pools, SETTINGS) for b in branches()])
    parts, final = [], {}
    for group in training.fit_groups({n: 1 for n in cuts}, 1)[::-1]:  # one cut each, joined in any order
        one = {n: cuts[n] for n in group}
        joined = training.join_branches([training.branch_candidates(b, ds, one, pools, SETTINGS) for b in branches()])
        assert ("final" in group) == bool(joined.final_sources)
        for branch in branches():
            artifacts = training.branch_candidates(branch, ds, one, pools, SETTINGS).artifacts(branch)
            assert (f"final_sources_{branch}" in artifacts) == ("final" in group)
        final.update(joined.final_sources)
        parts.append(joined)
    metrics = training.join_metrics([p.metrics for p in parts], cuts)
    assert list(metrics.items()) == list(whole.metrics.items())
    assert sorted(final) == list(whole.final_sources)
    for cut in cuts:
        got = next(p.by_cut()[cut] for p in parts if cut in p.by_cut())
        assert list(got) == list(whole.by_cut()[cut])
        for source, frame in got.items():
            pd.testing.assert_frame_equal(frame, whole.by_cut()[cut][source])
