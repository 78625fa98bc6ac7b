"""The exact V4 model: SwapMath's V4 exact-in step against V3's, the swap fee per direction, recorded V4 states."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import Side, UniswapV4PoolState, load_pool_state
from adapters.uniswap import math as m
from adapters.uniswap_v3 import PoolModel
from adapters.uniswap_v4 import UniswapV4Adapter, V4Model, swap_fee
from crosshedge import InputError, PriceLimitError
from tests.unit.adapters.test_pool_state import v4_document, write

PROTOCOL_FEE = (400 << 12) | 250


@given(st.integers(-200_000, 200_000), st.integers(1, 5000), st.booleans(), st.integers(1, 2**110),
       st.integers(1, 2**100), st.sampled_from([0, 1, 100, 500, 3000, 10_000, 999_999]))
def test_v4_step_moves_the_same_amounts_as_v3s(tick: int, ticks: int, zf1: bool, liquidity: int, remaining: int,
                                                fee: int) -> None:
    # The two steps differ only in how the fee is split off a step that ends inside its range (the whole remainder
    # is consumed either way), so price, input consumed and output agree.
    current = m.get_sqrt_ratio_at_tick(tick)
    target = m.get_sqrt_ratio_at_tick(max(m.MIN_TICK, tick - ticks) if zf1 else min(m.MAX_TICK, tick + ticks))
    v3 = m.swap_step_exact_in(current, target, liquidity, remaining, fee)
    v4 = m.swap_step_exact_in_v4(current, target, liquidity, remaining, fee)
    assert (v4[0], v4[1] + v4[3], v4[2]) == (v3[0], v3[1] + v3[3], v3[2])
    assert v4[1] + v4[3] <= remaining and (v4[0] == target or v4[1] + v4[3] == remaining)


def test_v4_step_takes_a_full_fee_as_all_input() -> None:
    current, target = m.get_sqrt_ratio_at_tick(0), m.get_sqrt_ratio_at_tick(-60)
    assert m.swap_step_exact_in_v4(current, target, 10**18, 10**15, m.PIPS) == (current, 0, 0, 10**15)
    # An empty range is crossed for free even at 100% (V3's formula would divide by zero here).
    assert m.swap_step_exact_in_v4(current, target, 0, 10**15, m.PIPS) == (target, 0, 0, 0)


def one_range(lp_fee: int, protocol_fee: int) -> V4Model:
    """A pool at tick 0 with one position over [-600, 600) (spacing 60)."""
    nets = {-600: 10**20, 600: -10**20}
    return V4Model.from_ticks(m.get_sqrt_ratio_at_tick(0), 0, 10**20, lp_fee, protocol_fee, 60, nets)


@pytest.mark.parametrize("zf1", [True, False])
def test_each_direction_pays_its_own_swap_fee(zf1: bool) -> None:
    amount, model = 10**15, one_range(3000, PROTOCOL_FEE)
    fee = 3000 + (250 if zf1 else 400) - (250 if zf1 else 400) * 3000 // 10**6
    assert model.direction(zf1).fee == fee == swap_fee(3000, PROTOCOL_FEE, zf1)
    # Inside one range the swap is one step: the price from the input less the fee, the output from the prices.
    less_fee = amount * (10**6 - fee) // 10**6
    sqrt0 = m.get_sqrt_ratio_at_tick(0)
    after = m.next_sqrt_price_from_input(sqrt0, 10**20, less_fee, zf1)
    expected = m.get_amount1_delta(after, sqrt0, 10**20, False) if zf1 else \
        m.get_amount0_delta(sqrt0, after, 10**20, False)
    result = model.direction(zf1).swap_exact_in(zf1, amount)
    assert (result.amount_out, result.sqrt_price_x96, result.amount_in) == (expected, after, amount)
    without = one_range(3000, 0).direction(zf1).swap_exact_in(zf1, amount)
    assert without.amount_out > result.amount_out  # the protocol fee really costs the swapper


def test_a_swap_past_the_last_tick_is_a_partial_fill() -> None:
    result = one_range(500, 0).direction(True).swap_exact_in(True, 10**30)
    assert result.partial and result.amount_in < 10**30 and result.initialized_ticks_crossed == 1


def test_recorded_v4_state_quotes_with_its_protocol_fee(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v4_document()))
    assert isinstance(record, UniswapV4PoolState)
    adapter = UniswapV4Adapter()
    sell = adapter.quote_pool_state(record, Side.SELL, 10**18)  # base is token0: zeroForOne, 100 pips protocol fee
    cheaper = adapter.quote_pool_state(record.model_copy(update={"protocol_fee": 0}), Side.SELL, 10**18)
    assert 0 < sell.amount_out < cheaper.amount_out and not sell.partial
    buy = adapter.quote_pool_state(record, Side.BUY, 10**9)
    assert buy.amount_out > 0 and buy.price_after > sell.price_after


def test_recorded_state_with_delta_hooks_is_refused(tmp_path: Path) -> None:
    record = load_pool_state(write(tmp_path, v4_document() | {"hooks": "0x" + "00" * 19 + "08"}))
    with pytest.raises(InputError, match="return deltas"):
        UniswapV4Adapter().quote_pool_state(record, Side.SELL, 10**18)


@st.composite
def pools(draw: st.DrawFn) -> tuple[int, int, dict[int, int]]:
    """(tick, spacing, nets) of a pool of 1-6 random positions around its tick."""
    spacing = draw(st.sampled_from([1, 5, 30, 60, 200]))
    tick = draw(st.integers(-100_000, 100_000))
    nets: dict[int, int] = {}
    for _ in range(draw(st.integers(1, 6))):
        lo = (tick // spacing - draw(st.integers(1, 300))) * spacing
        hi = (tick // spacing + draw(st.integers(1, 300))) * spacing
        liq = draw(st.integers(10**6, 10**24))
        nets[lo], nets[hi] = nets.get(lo, 0) + liq, nets.get(hi, 0) - liq
    return tick, spacing, {t: n for t, n in nets.items() if n}


@given(pools(), st.integers(0, 10_000), st.integers(0, 1000), st.integers(0, 1000), st.booleans(),
       st.integers(1, 2**96))
def test_v4_model_is_v3s_loop_at_the_directions_swap_fee(pool: tuple[int, int, dict[int, int]], lp_fee: int,
                                                         zf1_fee: int, ofz_fee: int, zf1: bool, amount: int) -> None:
    tick, spacing, nets = pool
    liquidity = sum(n for t, n in nets.items() if t <= tick)
    sqrt_p, protocol_fee = m.get_sqrt_ratio_at_tick(tick), (ofz_fee << 12) | zf1_fee
    v4 = V4Model.from_ticks(sqrt_p, tick, liquidity, lp_fee, protocol_fee, spacing, nets)
    v3 = PoolModel.from_ticks(sqrt_p, tick, liquidity, swap_fee(lp_fee, protocol_fee, zf1), spacing, nets)
    got, expected = v4.direction(zf1).swap_exact_in(zf1, amount), v3.swap_exact_in(zf1, amount)
    assert got == expected
    assert v4.direction(zf1).v4_step and v4.direction(not zf1).fee == swap_fee(lp_fee, protocol_fee, not zf1)


def test_a_limit_on_the_wrong_side_names_v4s_revert() -> None:
    model = one_range(500, 0).direction(True)
    with pytest.raises(PriceLimitError, match="PriceLimitAlreadyExceeded"):
        model.swap_exact_in(True, 10**15, model.sqrt_price_x96 + 1)
