"""Champion gating: the decisions of recsys.promotion on hand-made standings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from recsys.promotion import (
    CHAMPION_ALIAS,
    Standing,
    decide,
    default_lineage,
    gate,
    lineage_alias,
    lineage_name,
    serving,
)


def standing(recalls: dict[str, list[float]], *, baseline=0.1, lift=(0.05, 0.01), **kw) -> Standing:
    """A run whose chosen model gave each window's buyers u0, u1, ... these recalls."""
    by_window = {w: pd.Series(r, index=range(len(r)), dtype=float) for w, r in recalls.items()}
    mean = sum(sum(r) / len(r) for r in recalls.values()) / len(recalls)
    fields = {"lineage": "shop", "fingerprint": "f1", "synthetic": False} | kw
    return Standing(**fields, recall=mean, baseline=baseline, lift=lift, buyer_recalls=by_window, version="1")


WINDOWS = {"2026-11-20T00:00:00": [0.5, 0.0, 1.0], "2026-11-23T00:00:00": [0.2, 0.4]}


def test_the_first_model_of_a_lineage_is_promoted():
    assert decide(standing(WINDOWS), None)[:2] == (True, "first")


def test_same_data_compares_the_two_validations_buyer_by_buyer():
    champion = standing(WINDOWS)
    better = standing({**WINDOWS, "2026-11-23T00:00:00": [0.4, 0.4]})
    promote, rule, reason, figures = decide(better, champion)
    assert (promote, rule) == (True, "same data")
    # hand-computed: window 1 differs by 0, window 2 by (0.2 + 0) / 2 = 0.1: mean 0.05
    assert figures["difference"] == pytest.approx(0.05)
    assert "+0.0500" in reason
    worse = standing({**WINDOWS, "2026-11-20T00:00:00": [0.5, 0.0, 0.7]})
    assert decide(worse, champion)[:2] == (False, "same data")
    assert decide(standing(WINDOWS), champion)[0]  # as good: promoted (the newer code and run win a tie)


def test_same_data_without_common_windows_falls_back_to_the_baseline_rule():
    champion = standing({"2026-11-01T00:00:00": [0.3]})
    assert decide(standing(WINDOWS), champion)[1] == "newer data"


def test_newer_data_needs_a_measurable_lift_comparable_to_the_champions():
    champion = standing(WINDOWS, baseline=0.30)  # recall 0.40: 1.33 x its baseline
    ok = standing(WINDOWS, fingerprint="f2", baseline=0.31, lift=(0.04, 0.01))  # 1.29 x >= 0.9 x 1.33 = 1.2
    assert decide(ok, champion)[:2] == (True, "newer data")
    flat = standing(WINDOWS, fingerprint="f2", baseline=0.31, lift=(0.04, 0.03))  # not measurably above its own
    assert not decide(flat, champion)[0]
    weak = standing(WINDOWS, fingerprint="f2", baseline=0.34, lift=(0.01, 0.001))  # 1.18 x < 1.2 x
    promote, _, reason, figures = decide(weak, champion)
    assert not promote and figures["champion_ratio"] == pytest.approx(0.40 / 0.30) and "needed" in reason


def test_modes():
    champion = standing(WINDOWS)
    worse = standing({**WINDOWS, "2026-11-20T00:00:00": [0.0, 0.0, 0.0]})
    assert decide(worse, champion, "always")[:2] == (True, "always")
    assert decide(standing(WINDOWS), None, "never")[:2] == (False, "never")
    with pytest.raises(ValueError, match="--promote must be one of"):
        decide(worse, champion, "sometimes")


def test_the_serving_alias_stays_with_its_lineage():
    real, synthetic = standing(WINDOWS), standing(WINDOWS, lineage="synthetic-default-seed0", synthetic=True)
    other_real = standing(WINDOWS, lineage="other-shop")
    assert serving(real, True, None, "if-better")[0]  # nothing holds it
    assert serving(real, True, standing(WINDOWS), "if-better")[0]  # its own lineage holds it
    assert serving(real, True, synthetic, "if-better")[0]  # real data takes it from the embedded data
    assert not serving(synthetic, True, real, "if-better")[0]  # never the other way
    kept, why = serving(other_real, True, real, "if-better")
    assert not kept and "@champion-other-shop" in why
    assert not serving(real, False, None, "if-better")[0]  # not promoted: takes nothing
    assert serving(synthetic, False, real, "always")[0]


def test_gate_lists_the_aliases_and_tags_the_decision():
    promotion = gate(standing(WINDOWS), "7", (None, None), "if-better")
    assert promotion.aliases == ["champion-shop", CHAMPION_ALIAS]
    assert promotion.tags()["promotion.decision"] == "promoted"
    assert promotion.lines()[0].startswith("Champion: version 7 (shop) takes @champion-shop, @champion")
    assert promotion.summary == "the first model of lineage shop"
    real = standing(WINDOWS, lineage="other-shop")
    held = gate(real, "9", (None, standing(WINDOWS)), "if-better")
    assert held.summary.startswith(
        "the first model of lineage other-shop; @champion stays on version 1 of lineage shop"
    )
    kept = gate(standing(WINDOWS), "8", (None, None), "never")
    assert kept.aliases == [] and kept.tags()["promotion.decision"] == "kept"


def test_standings_survive_json():
    before = standing(WINDOWS)
    after = Standing.from_json(before.to_json(), version="1")
    assert after.to_json() == before.to_json()
    assert decide(before, after)[1] == "same data"  # buyers pair across a run's memory and its JSON


def test_lineage_names_and_aliases():
    assert default_lineage("", "default", 0) == "synthetic-default-seed0"
    assert default_lineage("", "full@0.25", 1) == "synthetic-full-0-25-seed1"
    assert default_lineage("../shared/data/onlineretail-2011-11-20/", "default", 0) == "onlineretail-2011-11-20"
    assert lineage_alias("My Shop (EU)") == "champion-my-shop-eu"
    assert lineage_alias("synthetic-full-0-25-seed1") == "champion-synthetic-full-0-25-seed1"
    assert lineage_name("") == "default" and lineage_name("Shop/EU 2") == "shop-eu-2"
    assert math.isnan(standing(WINDOWS, baseline=0.0).ratio)
