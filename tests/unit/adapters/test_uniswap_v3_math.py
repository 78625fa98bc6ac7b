"""Uniswap V3 integer math against values derived by hand, published test vectors and exact-rational properties."""

from __future__ import annotations

from decimal import Decimal, getcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.uniswap import math as m

getcontext().prec = 80


def exact_sqrt_ratio(tick: int) -> Decimal:
    return (Decimal("1.0001") ** tick).sqrt() * (2**96)


def encode_price_sqrt(reserve1: int, reserve0: int) -> int:
    """Uniswap's test helper: floor(sqrt(reserve1 / reserve0) * 2^96)."""
    return int((Decimal(reserve1) / Decimal(reserve0)).sqrt() * (2**96))


def test_tick_math_end_points_and_zero() -> None:
    assert m.get_sqrt_ratio_at_tick(0) == 2**96
    assert m.get_sqrt_ratio_at_tick(m.MIN_TICK) == m.MIN_SQRT_RATIO
    assert m.get_sqrt_ratio_at_tick(m.MAX_TICK) == m.MAX_SQRT_RATIO
    assert m.get_tick_at_sqrt_ratio(m.MIN_SQRT_RATIO) == m.MIN_TICK
    assert m.get_tick_at_sqrt_ratio(m.MAX_SQRT_RATIO - 1) == m.MAX_TICK - 1
    with pytest.raises(m.MathError):
        m.get_sqrt_ratio_at_tick(m.MAX_TICK + 1)
    with pytest.raises(m.MathError):
        m.get_tick_at_sqrt_ratio(m.MAX_SQRT_RATIO)


@given(st.integers(min_value=m.MIN_TICK, max_value=m.MAX_TICK))
def test_sqrt_ratio_matches_exact_value(tick: int) -> None:
    got, exact = Decimal(m.get_sqrt_ratio_at_tick(tick)), exact_sqrt_ratio(tick)
    # Q128.128 table products lose up to ~1e-19 relatively; the final shift rounds up by < 1 unit.
    assert exact - Decimal("1e-18") * exact <= got <= exact + 1 + Decimal("1e-18") * exact


@given(st.integers(min_value=m.MIN_TICK, max_value=m.MAX_TICK - 1))
def test_tick_at_sqrt_ratio_is_the_greatest_tick_below(tick: int) -> None:
    ratio = m.get_sqrt_ratio_at_tick(tick)
    assert m.get_tick_at_sqrt_ratio(ratio) == tick
    nxt = m.get_sqrt_ratio_at_tick(tick + 1)
    assert m.get_tick_at_sqrt_ratio(nxt - 1) == tick
    assert nxt > ratio


def test_full_math_rounding() -> None:
    assert m.mul_div(7, 3, 2) == 10 and m.mul_div_rounding_up(7, 3, 2) == 11
    assert m.mul_div_rounding_up(4, 3, 2) == 6
    big = 2**255
    assert m.mul_div(big, big, big) == big  # no 256-bit overflow in the intermediate product


def test_swap_step_capped_at_target_one_for_zero() -> None:
    # v3-core SwapMath test vector: price 1 -> 1.01, L = 2e18, 1e18 in, fee 600 pips.
    step = m.compute_swap_step(encode_price_sqrt(1, 1), encode_price_sqrt(101, 100), 2 * 10**18, 10**18, 600)
    assert (step.amount_in, step.fee_amount, step.amount_out) == (9975124224178055, 5988667735148, 9925619580021728)
    assert step.sqrt_price_next == encode_price_sqrt(101, 100)


def test_swap_step_amount_one_for_zero_by_hand() -> None:
    # Token1 in moves sqrtP up by amount/L exactly (rounded down); out is L·(1/√P − 1/√P') rounded down.
    sqrt_p, liquidity, amount = 2**96, 10**18, 10**15
    step = m.compute_swap_step(sqrt_p, m.get_sqrt_ratio_at_tick(1000), liquidity, amount, 0)
    assert step.sqrt_price_next == sqrt_p + (amount << 96) // liquidity
    assert step.amount_in == amount and step.fee_amount == 0
    expected_out = (liquidity << 96) * (step.sqrt_price_next - sqrt_p) // step.sqrt_price_next // sqrt_p
    assert step.amount_out == expected_out


@settings(max_examples=300)
@given(
    tick=st.integers(min_value=-200_000, max_value=200_000),
    delta=st.integers(min_value=1, max_value=5000),
    liquidity=st.integers(min_value=10**6, max_value=10**30),
    amount=st.integers(min_value=1, max_value=10**30),
    fee=st.sampled_from([100, 500, 3000, 10000]),
    zero_for_one=st.booleans(),
)
def test_swap_step_exact_in_conserves_input(  # hypothesis strategies
    tick: int, delta: int, liquidity: int, amount: int, fee: int, zero_for_one: bool
) -> None:
    current = m.get_sqrt_ratio_at_tick(tick)
    target = m.get_sqrt_ratio_at_tick(tick - delta if zero_for_one else tick + delta)
    step = m.compute_swap_step(current, target, liquidity, amount, fee)
    assert step.amount_in + step.fee_amount <= amount
    if step.sqrt_price_next != target:
        assert step.amount_in + step.fee_amount == amount  # the remainder is all consumed
    lo, hi = sorted((current, target))
    assert lo <= step.sqrt_price_next <= hi
    # The pool rounds in its own favour: input rounded up, output rounded down.
    if zero_for_one:
        assert step.amount_out <= m.get_amount1_delta(step.sqrt_price_next, current, liquidity, True)
    else:
        assert step.amount_out <= m.get_amount0_delta(current, step.sqrt_price_next, liquidity, True)


def test_amount0_overflow_fallback_matches_solidity() -> None:
    # amount·sqrtP >= 2^256: Solidity switches to L·2^96 / (L·2^96/√P + amount), rounded up.
    sqrt_p, liquidity, amount = m.MAX_SQRT_RATIO - 1, 10**30, 2**200
    numerator = liquidity << 96
    expected = -(-numerator // (numerator // sqrt_p + amount))
    assert m.next_sqrt_price_from_amount0_rounding_up(sqrt_p, liquidity, amount, True) == expected


BITMAP_TICKS = (-200, -55, -4, 70, 78, 84, 139, 240, 535)  # v3-core TickBitmap test set, spacing 1


def _bitmap(ticks: tuple[int, ...]) -> dict[int, int]:
    words: dict[int, int] = {w: 0 for w in range(-4, 4)}
    for t in ticks:
        word, bit = m.tick_position(t)
        words[word] |= 1 << bit
    return words


@pytest.mark.parametrize(
    ("tick", "lte", "expected"),
    [
        (78, False, (84, True)),  # strictly to the right
        (77, False, (78, True)),
        (-56, False, (-55, True)),
        (-55, False, (-4, True)),
        (255, False, (511, False)),  # word boundary, nothing initialized in word 1 above 255
        (-257, False, (-200, True)),
        (78, True, (78, True)),  # at or to the left
        (79, True, (78, True)),
        (258, True, (256, False)),  # start of word 1
        (-1, True, (-4, True)),
        (-300, True, (-512, False)),
    ],
)
def test_next_initialized_tick_within_one_word(tick: int, lte: bool, expected: tuple[int, bool]) -> None:
    nxt, initialized, _ = m.next_initialized_tick_within_one_word(_bitmap(BITMAP_TICKS), tick, 1, lte)
    assert (nxt, initialized) == expected


@settings(max_examples=400, deadline=None)
@given(
    current=st.integers(min_value=m.MIN_SQRT_RATIO, max_value=m.MAX_SQRT_RATIO - 1),
    target=st.integers(min_value=m.MIN_SQRT_RATIO, max_value=m.MAX_SQRT_RATIO - 1),
    liquidity=st.one_of(st.just(0), st.integers(min_value=1, max_value=2**128 - 1)),
    amount=st.integers(min_value=1, max_value=2**255 - 1),
    fee=st.sampled_from([0, 1, 100, 500, 3000, 10000, 999_999]),
)
def test_inlined_exact_in_step_equals_compute_swap_step(
    current: int, target: int, liquidity: int, amount: int, fee: int
) -> None:
    """The quote path's inlined step is SwapMath.computeSwapStep for exact input, to the integer, everywhere (the
    256-bit overflow fallback of a token0 input included)."""
    step = m.compute_swap_step(current, target, liquidity, amount, fee)
    assert m.swap_step_exact_in(current, target, liquidity, amount, fee) == (
        step.sqrt_price_next, step.amount_in, step.amount_out, step.fee_amount)
