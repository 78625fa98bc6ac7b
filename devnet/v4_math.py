"""The exact output that takes a Uniswap V4 pool to a target price, walked the way ``Pool.swap`` steps.

V4 has no price limit on its router (v4-periphery's V4Router swaps to MIN/MAX_SQRT_PRICE), so an arbitrageur that
wants a pool on a price names the amount that lands it there. An exact-output swap is used: its price after a step
depends on the output alone (the fee is charged on the input), so summing each step's output up to the target
reproduces the pool's own walk. Steps end where v4-core's do (the next initialized tick within one bitmap word), so
every full step's rounding is the pool's; only the last, partial one is recomputed by the pool from the remaining
output, and lands within a wei of the target.

The devnet may not import adapters (tests/unit/test_architecture.py), so the few pieces of Uniswap's integer math
this needs are kept here (semantics of v4-core ``TickMath``, ``SqrtPriceMath``, ``SwapMath`` and ``TickBitmap``,
the same as V3's); tests/unit/devnet/test_v4_math.py holds them equal to adapters.uniswap's.

Usage::

    swap = exact_out_to_price(PoolSlot(sqrt_p, tick, liquidity, 250), target_sqrt_p, 5, word_of, net_of)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MIN_TICK, MAX_TICK = -887272, 887272
Q96 = 1 << 96
PIPS = 1_000_000
#: Steps a walk may take before it is refused: one per bitmap word or initialized tick, far above any devnet move.
MAX_STEPS = 10_000

# TickMath.getSqrtPriceAtTick: sqrt(1.0001)^(-2^i) in Q128.128, applied per set bit of |tick|.
_TICK_FACTORS: tuple[int, ...] = (
    0xFFF97272373D413259A46990580E213A, 0xFFF2E50F5F656932EF12357CF3C7FDCC, 0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644, 0xFF973B41FA98C081472E6896DFB254C0, 0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053, 0xFCBE86C7900A88AEDCFFC83B479AA3A4, 0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3, 0xE7159475A2C29B7443B29C7FA6E889D9, 0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5, 0x70D869A156D2A1B890BB3DF62BAF32F7, 0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9, 0x5D6AF8DEDB81196699C329225EE604, 0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)


def sqrt_price_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick) * 2^96, rounded as TickMath.getSqrtPriceAtTick."""
    abs_tick = abs(tick)
    if abs_tick > MAX_TICK:
        raise ValueError(f"tick {tick} is outside [{MIN_TICK}, {MAX_TICK}]")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 1 else 1 << 128
    for i, factor in enumerate(_TICK_FACTORS, start=1):
        if abs_tick & (1 << i):
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = ((1 << 256) - 1) // ratio
    return (ratio >> 32) + (1 if ratio % (1 << 32) else 0)


def _div_up(a: int, b: int) -> int:
    return -(-a // b)


def amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount0Delta: L * (sqrtB - sqrtA) / (sqrtA * sqrtB), token0 units."""
    lo, hi = sorted((sqrt_a, sqrt_b))
    if round_up:
        return _div_up(_div_up((liquidity << 96) * (hi - lo), hi), lo)
    return (liquidity << 96) * (hi - lo) // hi // lo


def amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount1Delta: L * (sqrtB - sqrtA), token1 units."""
    lo, hi = sorted((sqrt_a, sqrt_b))
    return _div_up(liquidity * (hi - lo), Q96) if round_up else liquidity * (hi - lo) // Q96


def next_initialized_tick(word_of: Callable[[int], int], tick: int, spacing: int, lte: bool) -> tuple[int, bool]:
    """TickBitmap.nextInitializedTickWithinOneWord: the next tick a swap step ends on, and whether it is
    initialized; ``word_of(position)`` is the pool's bitmap word (StateView.getTickBitmap)."""
    compressed = tick // spacing  # floor: Solidity's "round towards negative infinity" fix-up
    if lte:
        word, bit = compressed >> 8, compressed & 0xFF
        masked = word_of(word) & ((1 << (bit + 1)) - 1)
        if masked:
            return (compressed - (bit - (masked.bit_length() - 1))) * spacing, True
        return (compressed - bit) * spacing, False
    word, bit = (compressed + 1) >> 8, (compressed + 1) & 0xFF
    masked = word_of(word) & ~((1 << bit) - 1) & ((1 << 256) - 1)
    if masked:
        return (compressed + 1 + ((masked & -masked).bit_length() - 1 - bit)) * spacing, True
    return (compressed + 1 + (255 - bit)) * spacing, False


def swap_fee(lp_fee: int, protocol_fee: int, zero_for_one: bool) -> int:
    """The pips a swap pays (ProtocolFeeLibrary.calculateSwapFee of the direction's protocol fee and the LP fee)."""
    protocol = protocol_fee & 0xFFF if zero_for_one else protocol_fee >> 12
    return protocol + lp_fee - protocol * lp_fee // PIPS


@dataclass(frozen=True)
class PoolSlot:
    """A pool's price state at one block (StateView getSlot0 and getLiquidity)."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    lp_fee: int
    protocol_fee: int = 0


@dataclass(frozen=True)
class ExactOut:
    """The swap that takes a pool to a price: its direction, exact output, the input (fee included) the pool will
    charge for it, and the sqrt price it ends on (the target, or the edge of the last liquidity before it)."""

    zero_for_one: bool
    amount_out: int
    amount_in: int
    landing: int


def exact_out_to_price(slot: PoolSlot, target: int, spacing: int, word_of: Callable[[int], int],
                       net_of: Callable[[int], int]) -> ExactOut:
    """Walk ``slot``'s pool to sqrt price ``target`` step by step as ``Pool.swap`` would (``net_of(tick)`` is
    StateView.getTickLiquidity's liquidityNet). A target inside a range without liquidity cannot be reached without
    a price limit: the swap stops where the liquidity before it ends (``landing``), which quotes like the target."""
    zero_for_one = target < slot.sqrt_price_x96
    fee = swap_fee(slot.lp_fee, slot.protocol_fee, zero_for_one)
    in_delta, out_delta = (amount0_delta, amount1_delta) if zero_for_one else (amount1_delta, amount0_delta)
    sqrt_p, tick, liquidity = slot.sqrt_price_x96, slot.tick, slot.liquidity
    amount_out = amount_in = 0
    landing = sqrt_p
    for _ in range(MAX_STEPS):
        if sqrt_p == target:
            return ExactOut(zero_for_one, amount_out, amount_in, landing)
        tick_next, initialized = next_initialized_tick(word_of, tick, spacing, zero_for_one)
        tick_next = min(max(tick_next, MIN_TICK), MAX_TICK)
        sqrt_next = sqrt_price_at_tick(tick_next)
        step_to = max(sqrt_next, target) if zero_for_one else min(sqrt_next, target)
        # Out rounds down, in rounds up, as SwapMath's exact-output step (token0 in when the price falls).
        out = out_delta(sqrt_p, step_to, liquidity, False)
        paid = in_delta(sqrt_p, step_to, liquidity, True)
        if out > 0:
            amount_out += out
            amount_in += paid + _div_up(paid * fee, PIPS - fee)
            landing = step_to
        sqrt_p = step_to
        if sqrt_p == sqrt_next:
            if initialized:
                net = net_of(tick_next)
                liquidity += -net if zero_for_one else net
            tick = tick_next - 1 if zero_for_one else tick_next
    raise ValueError(f"the walk to sqrt price {target} took over {MAX_STEPS} steps")
