"""Uniswap's integer math (V3 and V2), ported from the Solidity semantics so quotes match the chain to the wei.

V2: ``UniswapV2Library.getAmountOut`` (v2-periphery ``contracts/libraries/UniswapV2Library.sol``).
V3 sources (semantics, not code): v3-core ``libraries/TickMath.sol``, ``SqrtPriceMath.sol``, ``SwapMath.sol``,
``FullMath.sol``, ``TickBitmap.sol`` and the swap loop of ``UniswapV3Pool.swap``. Python integers do not overflow,
so the only places where Solidity's 256-bit arithmetic changes a *result* (not just reverts) are reproduced
explicitly: the overflow fallback in :func:`next_sqrt_price_from_amount0_rounding_up`.

Usage::

    sqrt_p = get_sqrt_ratio_at_tick(-200_000)
    step = compute_swap_step(sqrt_p, get_sqrt_ratio_at_tick(-200_010), 10**18, 10**15, 3000)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 1 << 96
Q128 = 1 << 128
UINT256 = 1 << 256
PIPS = 1_000_000

# TickMath.getSqrtRatioAtTick: sqrt(1.0001)^(-2^i) in Q128.128, applied per set bit of |tick|.
_TICK_FACTORS: tuple[int, ...] = (
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)


class MathError(ArithmeticError):
    """An input the Solidity code would revert on (tick out of range, price out of range, no liquidity)."""


# ---------------------------------------------------------------- FullMath / UnsafeMath


def mul_div(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDiv: floor(a*b/denominator) with full precision."""
    return (a * b) // denominator


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDivRoundingUp: ceil(a*b/denominator)."""
    return -((-a * b) // denominator)


def div_rounding_up(x: int, y: int) -> int:
    """UnsafeMath.divRoundingUp: ceil(x/y) for non-negative x."""
    return -(-x // y)


# ---------------------------------------------------------------- TickMath


@functools.lru_cache(maxsize=1 << 16)  # pure and hot: swap loops and curve sampling revisit the same ticks
def get_sqrt_ratio_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick) * 2^96, rounded exactly as TickMath.getSqrtRatioAtTick."""
    abs_tick = abs(tick)
    if abs_tick > MAX_TICK:
        raise MathError(f"tick {tick} is outside [{MIN_TICK}, {MAX_TICK}]")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 1 else Q128
    for i, factor in enumerate(_TICK_FACTORS, start=1):
        if abs_tick & (1 << i):
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = (UINT256 - 1) // ratio
    # Q128.128 -> Q64.96 rounding up, so getTickAtSqrtRatio of the result is consistent.
    return (ratio >> 32) + (1 if ratio % (1 << 32) else 0)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """The greatest tick whose sqrt ratio is <= ``sqrt_price_x96`` (TickMath.getTickAtSqrtRatio's definition)."""
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise MathError(f"sqrt price {sqrt_price_x96} is outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO)")
    # A float estimate lands within a tick or two; exact integer comparisons then settle it.
    price = (sqrt_price_x96 / Q96) ** 2
    tick = max(MIN_TICK, min(MAX_TICK, math.floor(math.log(price) / math.log(1.0001))))
    while tick > MIN_TICK and get_sqrt_ratio_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    while tick < MAX_TICK and get_sqrt_ratio_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    return tick


# ---------------------------------------------------------------- SqrtPriceMath


def next_sqrt_price_from_amount0_rounding_up(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp, including its 256-bit overflow fallback."""
    if amount == 0:
        return sqrt_p
    numerator1 = liquidity << 96
    product = amount * sqrt_p
    if add:
        # Solidity takes the precise path only when amount*sqrtP and numerator1+product fit in 256 bits.
        if product < UINT256 and numerator1 + product < UINT256:
            return mul_div_rounding_up(numerator1, sqrt_p, numerator1 + product)
        return div_rounding_up(numerator1, numerator1 // sqrt_p + amount)
    if product >= UINT256 or numerator1 <= product:
        raise MathError("not enough token0 liquidity for the requested output")
    return mul_div_rounding_up(numerator1, sqrt_p, numerator1 - product)


def next_sqrt_price_from_amount1_rounding_down(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown (both Solidity branches are the same value)."""
    if add:
        return sqrt_p + (amount << 96) // liquidity
    quotient = div_rounding_up(amount << 96, liquidity)
    if sqrt_p <= quotient:
        raise MathError("not enough token1 liquidity for the requested output")
    return sqrt_p - quotient


def next_sqrt_price_from_input(sqrt_p: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    if sqrt_p <= 0 or liquidity <= 0:
        raise MathError("price and liquidity must be positive")
    if zero_for_one:
        return next_sqrt_price_from_amount0_rounding_up(sqrt_p, liquidity, amount_in, True)
    return next_sqrt_price_from_amount1_rounding_down(sqrt_p, liquidity, amount_in, True)


def next_sqrt_price_from_output(sqrt_p: int, liquidity: int, amount_out: int, zero_for_one: bool) -> int:
    if sqrt_p <= 0 or liquidity <= 0:
        raise MathError("price and liquidity must be positive")
    if zero_for_one:
        return next_sqrt_price_from_amount1_rounding_down(sqrt_p, liquidity, amount_out, False)
    return next_sqrt_price_from_amount0_rounding_up(sqrt_p, liquidity, amount_out, False)


def get_amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount0Delta: L * (sqrtB - sqrtA) / (sqrtA * sqrtB), in token0 units."""
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    numerator1 = liquidity << 96
    numerator2 = sqrt_b - sqrt_a
    if round_up:
        return div_rounding_up(mul_div_rounding_up(numerator1, numerator2, sqrt_b), sqrt_a)
    return mul_div(numerator1, numerator2, sqrt_b) // sqrt_a


def get_amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount1Delta: L * (sqrtB - sqrtA), in token1 units."""
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_b - sqrt_a, Q96)
    return mul_div(liquidity, sqrt_b - sqrt_a, Q96)


# ---------------------------------------------------------------- SwapMath


@dataclass(frozen=True)
class SwapStep:
    sqrt_price_next: int
    amount_in: int
    amount_out: int
    fee_amount: int


def compute_swap_step(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> SwapStep:
    """SwapMath.computeSwapStep. ``amount_remaining`` >= 0 is exact input, < 0 exact output; fee in pips."""
    zero_for_one = sqrt_current >= sqrt_target
    exact_in = amount_remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        remaining_less_fee = mul_div(amount_remaining, PIPS - fee_pips, PIPS)
        amount_in = (
            get_amount0_delta(sqrt_target, sqrt_current, liquidity, True)
            if zero_for_one
            else get_amount1_delta(sqrt_current, sqrt_target, liquidity, True)
        )
        if remaining_less_fee >= amount_in:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_input(sqrt_current, liquidity, remaining_less_fee, zero_for_one)
    else:
        amount_out = (
            get_amount1_delta(sqrt_target, sqrt_current, liquidity, False)
            if zero_for_one
            else get_amount0_delta(sqrt_current, sqrt_target, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_output(sqrt_current, liquidity, -amount_remaining, zero_for_one)
    at_max = sqrt_target == sqrt_next
    if zero_for_one:
        if not (at_max and exact_in):
            amount_in = get_amount0_delta(sqrt_next, sqrt_current, liquidity, True)
        if not (at_max and not exact_in):
            amount_out = get_amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    else:
        if not (at_max and exact_in):
            amount_in = get_amount1_delta(sqrt_current, sqrt_next, liquidity, True)
        if not (at_max and not exact_in):
            amount_out = get_amount0_delta(sqrt_current, sqrt_next, liquidity, False)
    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining
    if exact_in and sqrt_next != sqrt_target:
        # The whole remainder is consumed: whatever was not swapped is the fee.
        fee_amount = amount_remaining - amount_in
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, PIPS - fee_pips)
    return SwapStep(sqrt_next, amount_in, amount_out, fee_amount)


def swap_step_exact_in(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """:func:`compute_swap_step` for an exact input (``amount_remaining`` > 0), inlined for the quote hot path:
    (sqrt price next, amount in, amount out, fee amount), the same integers.

    The deltas are SqrtPriceMath's, written out: token0 = ceil(ceil(L·2^96·(hi - lo) / hi) / lo) rounded up or
    floor(floor(L·2^96·(hi - lo) / hi) / lo) down, token1 = L·(hi - lo) / 2^96 rounded up or down.
    """
    less_fee = amount_remaining * (PIPS - fee_pips) // PIPS
    if sqrt_current >= sqrt_target:  # zero for one: token0 in, price falls
        up = -((-(liquidity << 96) * (sqrt_current - sqrt_target)) // sqrt_current)
        full_in = -(-up // sqrt_target)
        if less_fee >= full_in:
            sqrt_next, amount_in = sqrt_target, full_in
        else:
            sqrt_next = next_sqrt_price_from_amount0_rounding_up(sqrt_current, liquidity, less_fee, True)
            up = -((-(liquidity << 96) * (sqrt_current - sqrt_next)) // sqrt_current)
            amount_in = -(-up // sqrt_next)
        amount_out = liquidity * (sqrt_current - sqrt_next) >> 96
    else:  # token1 in, price rises
        full_in = -((-liquidity * (sqrt_target - sqrt_current)) >> 96)
        if less_fee >= full_in:
            sqrt_next, amount_in = sqrt_target, full_in
        else:
            sqrt_next = sqrt_current + (less_fee << 96) // liquidity
            amount_in = -((-liquidity * (sqrt_next - sqrt_current)) >> 96)
        amount_out = ((liquidity << 96) * (sqrt_next - sqrt_current) // sqrt_next) // sqrt_current
    # Stopped short of the target, the whole remainder is consumed: what was not swapped is the fee.
    fee = amount_remaining - amount_in if sqrt_next != sqrt_target else -(-amount_in * fee_pips // (PIPS - fee_pips))
    return sqrt_next, amount_in, amount_out, fee


def swap_step_exact_in_v4(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """v4-core's ``SwapMath.computeSwapStep`` for an exact input: :func:`swap_step_exact_in` with V4's two changes.

    V4 decides "target reached" from the input (``amountRemainingLessFee >= amountIn``), not from the price after:
    when the input falls short but the rounded-up price lands on the target anyway, V3 charges the fee on the
    recomputed input and swaps on, V4 takes the whole remainder as fee and stops. And V4 accepts a 100% fee
    (``fee_pips == PIPS``, a dynamic-fee or protocol-fee sum), where the input is all fee.
    """
    less_fee = amount_remaining * (PIPS - fee_pips) // PIPS
    zero_for_one = sqrt_current >= sqrt_target
    if zero_for_one:
        full_in = get_amount0_delta(sqrt_target, sqrt_current, liquidity, True)
    else:
        full_in = get_amount1_delta(sqrt_current, sqrt_target, liquidity, True)
    if less_fee >= full_in:
        sqrt_next, amount_in = sqrt_target, full_in
        fee = amount_in if fee_pips == PIPS else -(-amount_in * fee_pips // (PIPS - fee_pips))
    else:
        amount_in = less_fee
        sqrt_next = next_sqrt_price_from_input(sqrt_current, liquidity, less_fee, zero_for_one)
        fee = amount_remaining - amount_in
    if zero_for_one:
        amount_out = get_amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    else:
        amount_out = get_amount0_delta(sqrt_current, sqrt_next, liquidity, False)
    return sqrt_next, amount_in, amount_out, fee


# ---------------------------------------------------------------- TickBitmap


def tick_position(compressed: int) -> tuple[int, int]:
    """TickBitmap.position: (word index, bit index) of a compressed tick (arithmetic shift, like Solidity's int)."""
    return compressed >> 8, compressed & 0xFF


def next_initialized_tick_within_one_word(
    bitmap: dict[int, int], tick: int, tick_spacing: int, lte: bool
) -> tuple[int, bool, int]:
    """TickBitmap.nextInitializedTickWithinOneWord; also returns the word it looked in (for window checks).

    Raises KeyError when that word is not in ``bitmap`` (the caller turns it into an out-of-window error).
    """
    compressed = tick // tick_spacing  # floor division == Solidity's "round towards negative infinity" fix-up
    if lte:
        word, bit = tick_position(compressed)
        masked = bitmap[word] & ((1 << bit) - 1 + (1 << bit))
        if masked:
            return (compressed - (bit - (masked.bit_length() - 1))) * tick_spacing, True, word
        return (compressed - bit) * tick_spacing, False, word
    word, bit = tick_position(compressed + 1)
    masked = bitmap[word] & ~((1 << bit) - 1) & ((1 << 256) - 1)
    if masked:
        lsb = (masked & -masked).bit_length() - 1
        return (compressed + 1 + (lsb - bit)) * tick_spacing, True, word
    return (compressed + 1 + (255 - bit)) * tick_spacing, False, word


V2_FEE_PIPS = 3000  # every V2 pair charges 0.30%


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut: exact output after the 0.3% fee, rounded down like the pair."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("amount and reserves must be positive")
    with_fee = amount_in * 997
    return (with_fee * reserve_out) // (reserve_in * 1000 + with_fee)
