"""Devnet liquidity maths: raw prices for any token order, and position budgets that add up."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devnet.liquidity import TICK_SPACING, PairLayout, amounts_for_budget, plan_positions, tick_at


@pytest.mark.parametrize("base_is_token0", [True, False])
def test_raw_price_round_trips_usd_price(base_is_token0: bool) -> None:
    layout = PairLayout(base_is_token0, base_decimals=18, quote_decimals=6)
    raw = layout.raw_price(3000.0)
    # 1 WETH (1e18 raw) is worth 3000 USDC (3e9 raw) whatever the token order.
    usdc_raw_for_one_weth = raw * 1e18 if base_is_token0 else 1e18 / raw
    value_of_one_base_in_usd = usdc_raw_for_one_weth * 1e-6
    assert value_of_one_base_in_usd == pytest.approx(3000.0, rel=1e-12)


@given(
    price=st.floats(100, 100_000),
    budget=st.floats(1e3, 1e8),
    lo=st.floats(0.5, 0.999),
    hi=st.floats(1.001, 2.0),
    base_is_token0=st.booleans(),
)
def test_position_worth_its_budget(price: float, budget: float, lo: float, hi: float, base_is_token0: bool) -> None:
    layout = PairLayout(base_is_token0, 18, 6)
    raw = layout.raw_price(price)
    tl, tu = sorted((tick_at(raw * lo), tick_at(raw * hi)))
    tu = max(tu, tl + 1)
    plan = amounts_for_budget(raw, tl, tu, budget, layout.usd_per_raw_token1(price))
    usd_t1 = layout.usd_per_raw_token1(price)
    value = (plan.amount0 * raw + plan.amount1) * usd_t1
    assert value == pytest.approx(budget, rel=2e-3)


@pytest.mark.parametrize("shape", ["ladder", "wide", "skewed"])
def test_plans_are_aligned_and_distinct(shape: str) -> None:
    layout = PairLayout(True, 18, 6)
    plans = plan_positions(shape, 12, layout.raw_price(3000), 500, 1e7, layout.usd_per_raw_token1(3000), seed=7)  # type: ignore[arg-type]
    spacing = TICK_SPACING[500]
    assert all(p.tick_lower % spacing == 0 and p.tick_upper % spacing == 0 for p in plans)
    assert all(p.tick_lower < p.tick_upper for p in plans)
    assert len({(p.tick_lower, p.tick_upper) for p in plans}) >= 10
    if shape == "skewed":  # some positions hold only one token: they sit entirely above or below the price
        assert any(p.amount0 == 0 for p in plans) and any(p.amount1 == 0 for p in plans)


def test_ladder_concentrates_liquidity_near_the_price() -> None:
    layout = PairLayout(True, 18, 6)
    raw = layout.raw_price(3000)
    plans = plan_positions("ladder", 16, raw, 500, 1e7, layout.usd_per_raw_token1(3000), seed=1)
    widths = [p.tick_upper - p.tick_lower for p in plans]
    sp = math.sqrt(raw)
    liquidity = [p.amount1 / (sp - math.sqrt(1.0001**p.tick_lower)) for p in plans]
    narrow, wide = liquidity[widths.index(min(widths))], liquidity[widths.index(max(widths))]
    assert narrow > 10 * wide
