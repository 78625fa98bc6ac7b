"""Trigger policies: textbook band widths, decisions at and beyond the band, gas-dependent bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crosshedge.config import PolicySettings
from risk import bsm
from risk.policy import (
    POLICIES,
    PolicyInput,
    VenueCost,
    decide,
    ewma_vol,
    fixed_cost_half_width,
    ww_half_width,
    zakamouline_terms,
)

S = PolicySettings(min_band_usd=0.0)


def test_whalley_wilmott_reference() -> None:
    gamma = float(bsm(True, 100.0, 100.0, 1.0, 0.0, 0.0, 0.3).gamma)
    assert gamma == pytest.approx(0.013149, abs=1e-6)
    assert ww_half_width(100.0, gamma, 0.02, 1.0, 1.0) == pytest.approx(0.08035, abs=1e-5)


def test_zakamouline_reference() -> None:
    gamma = float(bsm(True, 100.0, 100.0, 1.0, 0.0, 0.0, 0.3).gamma)
    h0, h1, k = zakamouline_terms(100.0, gamma, 0.02, 1.0, 0.3, 1.0)
    assert h0 == pytest.approx(0.002222, abs=1e-6)
    assert h1 == pytest.approx(0.05161, abs=1e-5)
    assert k == pytest.approx(-0.6324, abs=1e-4)


def test_fixed_cost_band_scales_as_quarter_power() -> None:
    assert fixed_cost_half_width(0.5, 16.0, 1e-4) / fixed_cost_half_width(0.5, 1.0, 1e-4) == pytest.approx(2.0)


def _inp(net_delta: float, **kw: object) -> PolicyInput:
    base: dict[str, object] = dict(underlying="ETH", spot=3000.0, net_delta=net_delta, gamma=-0.4, vol=0.6, tau=0.1)
    base.update(kw)
    return PolicyInput.model_validate(base)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_flattens_a_huge_delta_and_ignores_a_tiny_one(name: str) -> None:
    big = decide(_inp(5_000.0, hours_since_trade=25.0), S, name)
    assert big.trade and big.trade_units < 0 and big.lower <= big.target <= big.upper
    assert big.net_delta + big.trade_units == pytest.approx(big.target)
    small = decide(_inp(1e-9, hours_since_trade=1.0), S, name)
    assert not small.trade and small.trade_units == 0.0
    assert big.reason and small.reason


def test_band_policies_trade_to_the_edge_and_threshold_to_zero() -> None:
    ww = decide(_inp(200.0), S, "whalley_wilmott")
    assert ww.trade and ww.target == pytest.approx(ww.upper)
    neg = decide(_inp(-200.0), S, "whalley_wilmott")
    assert neg.target == pytest.approx(neg.lower)
    th = decide(_inp(200.0), S, "delta_threshold")
    assert th.trade and th.target == 0.0


def test_fixed_interval_waits_for_the_interval() -> None:
    assert not decide(_inp(100.0, hours_since_trade=23.0), S, "fixed_interval").trade
    d = decide(_inp(100.0, hours_since_trade=24.0), S, "fixed_interval")
    assert d.trade and d.target == 0.0


def test_vol_threshold_tightens_when_realised_vol_rises() -> None:
    calm = decide(_inp(0.0, realised_vol=0.3), S, "vol_threshold")
    wild = decide(_inp(0.0, realised_vol=1.2), S, "vol_threshold")
    assert wild.upper < calm.upper


def test_zakamouline_short_gamma_centre_shifts_against_vanna() -> None:
    d = decide(_inp(0.0, vanna=50.0), S, "zakamouline")
    assert (d.lower + d.upper) / 2 < 0  # higher hedging vol for a short book: centre moves by -vanna * dσ


def test_cost_aware_band_is_wider_on_an_expensive_chain() -> None:
    l1 = VenueCost(chain="ethereum", venue="v3", gas_usd=20.0, fee_rate=5e-4, impact_per_unit=1e-5)
    l2 = VenueCost(chain="base", venue="v3", gas_usd=0.02, fee_rate=5e-4, impact_per_unit=1e-5)
    d = decide(_inp(0.0, costs=(l1, l2)), S, "cost_aware_band")
    widths = {b.chain: b.half_width for b in d.bands}
    assert widths["ethereum"] > widths["base"]
    assert d.chain == "base" and d.upper == pytest.approx(widths["base"])
    only_l1 = decide(_inp(0.0, costs=(l1,)), S, "cost_aware_band")
    assert only_l1.upper > d.upper


def test_cost_aware_reduces_to_ww_without_gas_and_to_reset_without_fees() -> None:
    inp = _inp(500.0, costs=(VenueCost(chain="c", venue="v", gas_usd=0.0, fee_rate=1e-3, impact_per_unit=0.0),))
    d = decide(inp, S, "cost_aware_band")
    assert d.upper == pytest.approx(ww_half_width(3000.0, -0.4, 1e-3, S.risk_aversion, 0.1), rel=1e-9)
    assert d.target == pytest.approx(d.upper)
    fixed = decide(_inp(500.0, costs=(VenueCost(chain="c", venue="v", gas_usd=5.0, fee_rate=0.0,
                                                impact_per_unit=0.0),)), S, "cost_aware_band")
    assert fixed.target == pytest.approx(0.0, abs=1e-12)
    assert fixed.upper == pytest.approx(fixed_cost_half_width(-0.4, 5.0, S.risk_aversion))


@given(gas=st.floats(0.0, 100.0), fee=st.floats(0.0, 0.01), gamma=st.floats(-5.0, 5.0), d=st.floats(-1e4, 1e4))
def test_cost_aware_decision_is_consistent(gas: float, fee: float, gamma: float, d: float) -> None:
    cost = VenueCost(chain="c", venue="v", gas_usd=gas, fee_rate=fee, impact_per_unit=1e-5)
    dec = decide(_inp(d, gamma=gamma, costs=(cost,)), PolicySettings(), "cost_aware_band")
    assert dec.lower <= 0 <= dec.upper
    assert dec.trade == (not dec.lower <= d <= dec.upper)
    if dec.trade:
        assert abs(dec.target) <= dec.upper and dec.target * d >= 0


def test_decision_round_trips_to_json() -> None:
    d = decide(_inp(300.0, costs=(VenueCost(chain="c", venue="v", gas_usd=1, fee_rate=1e-3, impact_per_unit=0),)), S)
    assert type(d).model_validate_json(d.model_dump_json()) == d


def test_ewma_vol_recovers_constant_vol() -> None:
    rng = np.random.default_rng(1)
    sigma, dt = 0.8, 1 / 8760
    r = rng.normal(0, sigma * math.sqrt(dt), 20_000)
    assert ewma_vol(list(r), 0.999, dt) == pytest.approx(sigma, rel=0.1)
