"""Uniswap V3 LP closed forms: regimes, finite differences, LVR and the on-chain unit conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import human_price, human_range, lp_amounts, lp_delta, lp_gamma, lp_value, lvr_rate


def test_value_matches_closed_form_in_range() -> None:
    big_l, p, pa, pb = 1000.0, 3000.0, 2500.0, 3600.0
    expected = big_l * (2 * math.sqrt(p) - math.sqrt(pa) - p / math.sqrt(pb))
    assert float(lp_value(big_l, p, pa, pb)) == pytest.approx(expected, rel=1e-12)


def test_regimes() -> None:
    big_l, pa, pb = 1000.0, 2500.0, 3600.0
    below, above = 2000.0, 4000.0
    assert float(lp_delta(big_l, below, pa, pb)) == pytest.approx(big_l * (1 / math.sqrt(pa) - 1 / math.sqrt(pb)))
    assert float(lp_gamma(big_l, below, pa, pb)) == 0.0
    assert float(lp_delta(big_l, above, pa, pb)) == 0.0
    assert float(lp_gamma(big_l, above, pa, pb)) == 0.0
    x, y = lp_amounts(big_l, above, pa, pb)
    assert float(x) == 0.0 and float(y) == pytest.approx(big_l * (math.sqrt(pb) - math.sqrt(pa)))
    assert float(lp_gamma(big_l, 3000.0, pa, pb)) == pytest.approx(-big_l / (2 * 3000.0**1.5))


@settings(max_examples=200, deadline=None)
@given(p=st.floats(100.0, 10000.0), width=st.floats(1.01, 4.0), centre=st.floats(0.3, 3.0))
def test_delta_gamma_are_derivatives_of_value(p: float, width: float, centre: float) -> None:
    pa, pb = p * centre / width, p * centre * width
    h = p * 1e-5
    if min(abs(p - pa), abs(p - pb)) < 3 * h:  # skip the kinks
        return
    def v(x: float) -> float:
        return float(lp_value(50.0, x, pa, pb))
    assert float(lp_delta(50.0, p, pa, pb)) == pytest.approx((v(p + h) - v(p - h)) / (2 * h), rel=1e-6, abs=1e-9)
    fd_gamma = (v(p + h) - 2 * v(p) + v(p - h)) / h**2
    roundoff = 10 * np.finfo(float).eps * v(p) / h**2
    assert float(lp_gamma(50.0, p, pa, pb)) == pytest.approx(fd_gamma, rel=1e-3, abs=roundoff)


def test_lvr_constant_product() -> None:
    # Full range (pa -> 0, pb -> inf) is constant product: LVR / V = sigma^2 / 8; 5%/day -> 3.125 bp/day.
    big_l, p, sig_day = 1000.0, 3000.0, 0.05
    v = float(lp_value(big_l, p, 1e-12, 1e30))
    ratio = float(lvr_rate(big_l, p, 1e-12, 1e30, sig_day)) / v
    assert ratio == pytest.approx(sig_day**2 / 8, rel=1e-6)
    assert ratio * 1e4 == pytest.approx(3.125, rel=1e-6)


def test_human_range_token_order_is_symmetric() -> None:
    # WETH(18)/USDC(6): the same economic position written with either token order has the same Greeks.
    price = 3000.0
    tick = math.log(price * 10 ** (6 - 18)) / math.log(1.0001)  # WETH token0: raw price = USDC raw per WETH raw
    lo, hi = round(tick) - 2000, round(tick) + 2000
    liq = 10**15
    a = human_range(liq, lo, hi, 18, 6, risky_is_token0=True)
    b = human_range(liq, -hi, -lo, 6, 18, risky_is_token0=False)  # USDC token0: ticks negate
    assert a.lower == pytest.approx(b.lower, rel=1e-9) and a.upper == pytest.approx(b.upper, rel=1e-9)
    assert a.liquidity == pytest.approx(b.liquidity, rel=1e-12)
    # Holdings in human units agree with the raw formulas.
    sp_raw = math.sqrt(price * 10 ** (6 - 18))
    x_raw = liq * (1 / sp_raw - 1 / math.sqrt(1.0001**hi))
    assert float(lp_delta(a.liquidity, price, a.lower, a.upper)) == pytest.approx(x_raw / 1e18, rel=1e-9)
    sqrt_x96 = int(sp_raw * 2**96)
    assert human_price(sqrt_x96, 18, 6, True) == pytest.approx(price, rel=1e-9)
    assert human_price(int(2**96 / sp_raw), 6, 18, False) == pytest.approx(price, rel=1e-9)


def test_vectorised() -> None:
    p = np.linspace(1000, 5000, 9)
    assert lp_value(10.0, p, 2000.0, 4000.0).shape == (9,)
