"""The exact pool model and the curves sampled from it, on pools built from explicit LP positions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import Side, ordered_curve_ok
from adapters.uniswap import math as m
from adapters.uniswap.curve import cumulative, curve_from_points, size_within_bps
from adapters.uniswap_v3 import curve_of, sample_points
from adapters.uniswap_v3.pool import OutOfWindow
from adapters.uniswap_v3.reader import initialized_ticks
from tests.unit.adapters.pool_helpers import pool_with


def test_single_range_swap_matches_closed_form() -> None:
    pool = pool_with([(-600, 600, 10**20)], tick=0, spacing=60, fee=0, window=1200)
    amount = 10**17
    result = pool.swap_exact_in(False, amount)  # token1 in: sqrtP rises by amount/L
    sqrt_after = 2**96 + (amount << 96) // 10**20
    assert result.sqrt_price_x96 == sqrt_after
    assert result.amount_out == m.get_amount0_delta(2**96, sqrt_after, 10**20, False)
    assert result.initialized_ticks_crossed == 0


def test_crossing_down_subtracts_liquidity_net() -> None:
    # Two stacked ranges: below tick -60 only the wide one remains, so crossing -60 downwards removes the narrow L.
    pool = pool_with([(-12000, 12000, 10**20), (-60, 60, 5 * 10**20)], tick=0, spacing=60, fee=500, window=1200)
    assert pool.liquidity == 6 * 10**20
    small = pool.swap_exact_in(True, 10**15)
    assert small.initialized_ticks_crossed == 0
    big = pool.swap_exact_in(True, 10**19)
    assert big.initialized_ticks_crossed >= 1 and big.tick < -60
    # Past the narrow range the marginal price falls faster (less liquidity): its average is worse.
    assert big.amount_out / 10**19 < small.amount_out / 10**15


def test_swap_past_window_raises() -> None:
    pool = pool_with([(-887220, 887220, 10**18)], tick=0, spacing=60, fee=3000, window=100)
    with pytest.raises(OutOfWindow):
        pool.swap_exact_in(True, 10**30)


def test_initialized_ticks_round_trip_through_the_bitmap() -> None:
    pool = pool_with([(-1200, 600, 1), (-60, 1800, 2)], tick=0, spacing=60, fee=3000, window=5000)
    assert initialized_ticks(pool.bitmap, 60) == [-1200, -60, 600, 1800]


positions_strategy = st.lists(
    st.tuples(st.integers(-60, 59), st.integers(1, 60), st.integers(10**15, 10**21)), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(raw=positions_strategy, tick=st.integers(-600, 600), fee=st.sampled_from([100, 500, 3000]))
def test_curves_are_convex_and_exact_at_breakpoints(raw: list[tuple[int, int, int]], tick: int, fee: int) -> None:
    spacing = {100: 1, 500: 10, 3000: 60}[fee]
    positions = [(lo * spacing * 20, (lo + w) * spacing * 20, liq) for lo, w, liq in raw]
    pool = pool_with(positions, tick=tick, spacing=spacing, fee=fee, window=40 * 60 * spacing)
    for zf1 in (True, False):
        side = Side.SELL if zf1 else Side.BUY  # base = token0, both 18 decimals
        points, crossed = sample_points(pool, zf1)
        curve = curve_from_points(side, points, 18, 18, crossed)
        assert ordered_curve_ok(curve)
        for base, quote in cumulative(curve):
            # Every breakpoint is one of the exact sample points (merging only removes points, never moves them).
            raw_in = (base if side is Side.SELL else quote) * 10**18
            amount_in = min((a for a, _ in points), key=lambda a: abs(a - raw_in))
            assert abs(raw_in / amount_in - 1) < 1e-9
            exact_out = pool.swap_exact_in(zf1, amount_in).amount_out / 10**18
            curve_out = quote if side is Side.SELL else base
            assert abs(curve_out / exact_out - 1) < 1e-4  # within 1 bp of the exact model


def test_size_within_bps_grows_with_tolerance_and_respects_fee() -> None:
    pool = pool_with([(-6000, 6000, 10**21)], tick=0, spacing=60, fee=3000, window=8000)
    curve = curve_of(pool, True, Side.SELL, 18, 18)
    assert size_within_bps(curve, 1.0, 10) == 0  # a 30 bp fee is never within 10 bp
    sizes = [size_within_bps(curve, 1.0, b) for b in (50, 100, 200)]
    assert 0 < sizes[0] < sizes[1] < sizes[2]


def test_sampling_is_immune_to_a_zero_liquidity_gap() -> None:
    pool = pool_with([(-1200, -600, 10**20), (0, 1200, 10**20)], tick=60, spacing=60, fee=500, window=3000)
    pool = replace(pool)
    curve = curve_of(pool, True, Side.SELL, 18, 18)
    assert curve.segments and ordered_curve_ok(curve)
