"""An exact, read-only model of one Uniswap V3 pool over a window of tick-bitmap words.

It replays ``UniswapV3Pool.swap``'s loop (v3-core) step for step, including the stops at bitmap-word boundaries that
change rounding, so an exact-in quote equals the chain's to the wei while the swap stays inside the words read.
A swap that would need a word outside the window raises :class:`OutOfWindow` rather than guessing.

Usage::

    model = PoolModel(sqrt_price_x96=..., tick=..., liquidity=..., fee=3000, tick_spacing=60,
                      bitmap={-5: 0x..}, liquidity_net={-18060: 10**18}, word_range=(-6, -4))
    result = model.swap_exact_in(zero_for_one=True, amount_in=10**18)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.uniswap.math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    compute_swap_step,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    next_initialized_tick_within_one_word,
)


class OutOfWindow(ArithmeticError):  # noqa: N818 - internal signal, turned into QuoteOutOfRangeError
    """The swap runs past the bitmap words that were read (or out of all liquidity)."""


@dataclass(frozen=True)
class SwapResult:
    amount_in: int  # input actually consumed (fee included)
    amount_out: int
    sqrt_price_x96: int  # after the swap
    tick: int  # after the swap
    initialized_ticks_crossed: int


@dataclass(frozen=True)
class PoolModel:
    """Pool state at one block: slot0, in-range liquidity, fee, spacing and the initialized ticks of a word window."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee: int  # pips
    tick_spacing: int
    bitmap: dict[int, int]  # word index -> 256-bit word, for every word in word_range (zero words included)
    liquidity_net: dict[int, int]  # initialized tick -> liquidityNet
    word_range: tuple[int, int] = field(default=(0, -1))  # inclusive (lo, hi) of words read

    def edge_sqrt_price(self, zero_for_one: bool) -> int:
        """The furthest sqrt price this window can price to in one direction (the edge of its words)."""
        lo, hi = self.word_range
        if zero_for_one:
            edge_tick = max(MIN_TICK, lo * 256 * self.tick_spacing)
            return max(get_sqrt_ratio_at_tick(edge_tick), MIN_SQRT_RATIO + 1)
        edge_tick = min(MAX_TICK, (hi + 1) * 256 * self.tick_spacing - self.tick_spacing)
        return min(get_sqrt_ratio_at_tick(edge_tick), MAX_SQRT_RATIO - 1)

    def swap_exact_in(self, zero_for_one: bool, amount_in: int, sqrt_price_limit: int | None = None) -> SwapResult:
        """Replay ``UniswapV3Pool.swap`` for an exact input. With no limit the whole ``amount_in`` must fill.

        With ``sqrt_price_limit`` the swap stops there (like the chain), possibly consuming less than ``amount_in``.
        """
        if amount_in <= 0:
            raise ValueError("amount_in must be positive")
        limit = sqrt_price_limit
        if limit is None:
            limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        [result] = self._run(zero_for_one, amount_in, [limit])
        if result.amount_in != amount_in and sqrt_price_limit is None:
            raise OutOfWindow("the pool's liquidity runs out before the input is filled")
        return result

    def sample(self, zero_for_one: bool, limits: list[int]) -> list[SwapResult]:
        """One walk through successive price limits (monotone in the swap direction), cumulative at each.

        Each result is the pool's swap with the earlier limits as extra step boundaries, so it can differ from a
        separate swap to that limit by rounding dust (a few wei): fine for curve breakpoints, not for quotes.
        """
        return self._run(zero_for_one, 1 << 200, limits)  # more than any pool absorbs: the limits stop it

    def _run(self, zero_for_one: bool, amount_in: int, limits: list[int]) -> list[SwapResult]:
        remaining, out, crossed = amount_in, 0, 0
        sqrt_p, tick, liquidity = self.sqrt_price_x96, self.tick, self.liquidity
        results: list[SwapResult] = []
        for limit in limits:
            while remaining != 0 and sqrt_p != limit:
                try:
                    tick_next, initialized, _ = next_initialized_tick_within_one_word(
                        self.bitmap, tick, self.tick_spacing, zero_for_one
                    )
                except KeyError:
                    raise OutOfWindow(f"swap needs ticks beyond the words read {self.word_range}") from None
                tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
                sqrt_next = get_sqrt_ratio_at_tick(tick_next)
                past_limit = sqrt_next < limit if zero_for_one else sqrt_next > limit
                step = compute_swap_step(sqrt_p, limit if past_limit else sqrt_next, liquidity, remaining, self.fee)
                start, sqrt_p = sqrt_p, step.sqrt_price_next
                remaining -= step.amount_in + step.fee_amount
                out += step.amount_out
                if sqrt_p == sqrt_next:
                    if initialized:
                        net = self.liquidity_net[tick_next]
                        # Moving down crosses the tick from above: liquidityNet applies with its sign flipped.
                        liquidity += -net if zero_for_one else net
                        crossed += 1
                    tick = tick_next - 1 if zero_for_one else tick_next
                elif sqrt_p != start:
                    tick = get_tick_at_sqrt_ratio(sqrt_p)
            results.append(SwapResult(amount_in - remaining, out, sqrt_p, tick, crossed))
        return results
