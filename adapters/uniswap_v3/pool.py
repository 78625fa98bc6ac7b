"""An exact, read-only model of one Uniswap V3 pool: a window of tick-bitmap words, or every initialized tick.

It replays ``UniswapV3Pool.swap``'s loop (v3-core) step for step, including the stops at bitmap-word boundaries that
change rounding, so an exact-in quote equals the chain's (and QuoterV2's) to the wei.

* A **window** model (``complete=False``) knows only the words read around the price: a swap that needs a word
  outside them raises :class:`OutOfWindow` rather than guessing the liquidity there.
* A **complete** model (``complete=True``) holds every initialized tick of the pool, so a word it does not list is
  zero and no swap is ever out of window.

Either way a swap that reaches its price limit (by default the end of the price range, where the pool's liquidity
has run out) is a **partial fill**, as the pool and QuoterV2 report it: the result says how much input it consumed.
A limit on the wrong side of the price raises :class:`~crosshedge.PriceLimitError`, as the pool reverts 'SPL'.

Quotes are fast because the walk is shared: each direction keeps the checkpoints of one swap that consumes
everything (:class:`_Checkpoints`, extended lazily), and a quote starts from the last checkpoint its input fully
reaches, so it costs one or two swap steps whatever the number of ticks it crosses.

Usage::

    model = PoolModel(sqrt_price_x96=..., tick=..., liquidity=..., fee=3000, tick_spacing=60,
                      bitmap={-5: 0x..}, liquidity_net={-18060: 10**18}, word_range=(-6, -4))
    result = model.swap_exact_in(zero_for_one=True, amount_in=10**18)
    result.amount_in, result.amount_out, result.partial
"""

from __future__ import annotations

import bisect
import functools
import threading
from dataclasses import dataclass, field

from adapters.uniswap.math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    next_initialized_tick_within_one_word,
    swap_step_exact_in,
    swap_step_exact_in_v4,
    tick_position,
)
from crosshedge import PriceLimitError

_ALL = 1 << 255  # more input than any pool absorbs: a walk with it ends only at its price limit


class OutOfWindow(ArithmeticError):  # noqa: N818 - internal signal, turned into QuoteOutOfRangeError
    """The swap runs past the bitmap words that were read."""


class _ZeroWords(dict[int, int]):
    """The bitmap of a complete model: a word it does not list has no initialized tick (never a KeyError)."""

    def __missing__(self, key: int) -> int:
        return 0


@dataclass(frozen=True)
class SwapResult:
    amount_in: int  # input actually consumed (fee included)
    amount_out: int
    sqrt_price_x96: int  # after the swap
    tick: int  # after the swap
    initialized_ticks_crossed: int
    partial: bool = False  # the price limit stopped the swap before all of the requested input was consumed


# (sqrt price, tick, liquidity, output so far, initialized ticks crossed so far) at a step boundary
_Point = tuple[int, int, int, int, int]


def full_word_range(tick_spacing: int) -> tuple[int, int]:
    """The inclusive range of every bitmap word a pool of this spacing can use."""
    return (MIN_TICK // tick_spacing) >> 8, (MAX_TICK // tick_spacing) >> 8


@dataclass(frozen=True)
class PoolModel:
    """Pool state at one block: slot0, in-range liquidity, fee, spacing and its initialized ticks (see module doc)."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee: int  # pips
    tick_spacing: int
    bitmap: dict[int, int]  # word index -> 256-bit word, for every word in word_range (zero words included)
    liquidity_net: dict[int, int]  # initialized tick -> liquidityNet
    word_range: tuple[int, int] = field(default=(0, -1))  # inclusive (lo, hi) of words read
    complete: bool = False  # every initialized tick of the pool is here: no window, a missing word is zero
    venue: str = "pool"  # what errors call it ("chain ethereum: venue v3_weth_usdc_500")
    # Uniswap V4's swap loop: the same as V3's but for SwapMath's exact-in step (swap_step_exact_in_v4); ``fee`` is
    # then the direction's swap fee (LP fee with the protocol fee folded in), so a V4 pool is one model per direction.
    v4_step: bool = False

    def __post_init__(self) -> None:
        if self.complete and not isinstance(self.bitmap, _ZeroWords):
            object.__setattr__(self, "bitmap", _ZeroWords(self.bitmap))

    @classmethod
    def from_ticks(
        cls, sqrt_price_x96: int, tick: int, liquidity: int, fee: int, tick_spacing: int,
        liquidity_net: dict[int, int], venue: str = "pool", v4_step: bool = False,
    ) -> PoolModel:
        """A complete model from every initialized tick of the pool (its bitmap is derived from them)."""
        bitmap: dict[int, int] = {}
        for t in liquidity_net:
            word, bit = tick_position(t // tick_spacing)
            bitmap[word] = bitmap.get(word, 0) | (1 << bit)
        return cls(sqrt_price_x96, tick, liquidity, fee, tick_spacing, bitmap, dict(liquidity_net),
                   full_word_range(tick_spacing), complete=True, venue=venue, v4_step=v4_step)

    def edge_sqrt_price(self, zero_for_one: bool) -> int:
        """The furthest sqrt price this model can price to in one direction (the edge of its words)."""
        lo, hi = self.word_range
        if zero_for_one:
            edge_tick = max(MIN_TICK, lo * 256 * self.tick_spacing)
            return max(get_sqrt_ratio_at_tick(edge_tick), MIN_SQRT_RATIO + 1)
        edge_tick = min(MAX_TICK, (hi + 1) * 256 * self.tick_spacing - self.tick_spacing)
        return min(get_sqrt_ratio_at_tick(edge_tick), MAX_SQRT_RATIO - 1)

    def check_limit(self, zero_for_one: bool, limit: int) -> None:
        """Raise :class:`PriceLimitError` where the pool reverts 'SPL': the limit must lie strictly between the
        price and the end of the range in the swap's direction."""
        # V4's PoolManager checks the same bounds, reverting PriceLimitAlreadyExceeded / PriceLimitOutOfBounds.
        reverts = "PoolManager reverts PriceLimitAlreadyExceeded or PriceLimitOutOfBounds" if self.v4_step else \
            "the pool reverts 'SPL'"
        if zero_for_one and not MIN_SQRT_RATIO < limit < self.sqrt_price_x96:
            raise PriceLimitError(f"{self.venue}: a token0-in swap needs a sqrt price limit below the price "
                                  f"{self.sqrt_price_x96} and above MIN_SQRT_RATIO, got {limit} ({reverts})")
        if not zero_for_one and not self.sqrt_price_x96 < limit < MAX_SQRT_RATIO:
            raise PriceLimitError(f"{self.venue}: a token1-in swap needs a sqrt price limit above the price "
                                  f"{self.sqrt_price_x96} and below MAX_SQRT_RATIO, got {limit} ({reverts})")

    def swap_exact_in(self, zero_for_one: bool, amount_in: int, sqrt_price_limit: int | None = None) -> SwapResult:
        """``UniswapV3Pool.swap`` for an exact input, stopping at ``sqrt_price_limit`` (default: the end of the price
        range, as QuoterV2 with a zero limit). A swap the limit stops early is a partial fill (``result.partial``).

        Raises PriceLimitError for a limit the pool would revert, OutOfWindow past a window model's words.
        """
        if amount_in <= 0:
            raise ValueError("amount_in must be positive")
        limit = sqrt_price_limit
        if limit is None:
            limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        self.check_limit(zero_for_one, limit)
        start, cum = self._checkpoints(zero_for_one).start(amount_in, limit)
        sqrt_p, tick, liquidity, out, crossed = start
        remaining = amount_in - cum
        while remaining != 0 and sqrt_p != limit:
            sqrt_p, tick, liquidity, used, got, cross = self.step(zero_for_one, sqrt_p, tick, liquidity, remaining,
                                                                  limit)
            remaining, out, crossed = remaining - used, out + got, crossed + cross
        return SwapResult(amount_in - remaining, out, sqrt_p, tick, crossed, partial=remaining != 0)

    def step(
        self, zero_for_one: bool, sqrt_p: int, tick: int, liquidity: int, remaining: int, limit: int
    ) -> tuple[int, int, int, int, int, int]:
        """One iteration of the pool's swap loop: (sqrt price, tick, liquidity, input used, output, ticks crossed)."""
        if self.complete and liquidity == 0:
            # Nothing trades in an empty range, so the chain's word-by-word stops through it change no amount:
            # go straight to the next initialized tick (the end state is the one the word-by-word walk reaches).
            tick_next, initialized = self._next_tick_anywhere(tick, zero_for_one)
        else:
            try:
                tick_next, initialized, _ = next_initialized_tick_within_one_word(
                    self.bitmap, tick, self.tick_spacing, zero_for_one
                )
            except KeyError:
                raise OutOfWindow(f"swap needs ticks beyond the words read {self.word_range}") from None
        tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        past_limit = sqrt_next < limit if zero_for_one else sqrt_next > limit
        step_exact_in = swap_step_exact_in_v4 if self.v4_step else swap_step_exact_in
        new_sqrt, amount_in, amount_out, fee = step_exact_in(
            sqrt_p, limit if past_limit else sqrt_next, liquidity, remaining, self.fee
        )
        crossed = 0
        if new_sqrt == sqrt_next:
            if initialized:
                net = self.liquidity_net[tick_next]
                # Moving down crosses the tick from above: liquidityNet applies with its sign flipped.
                liquidity += -net if zero_for_one else net
                crossed = 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif new_sqrt != sqrt_p:
            tick = get_tick_at_sqrt_ratio(new_sqrt)
        return new_sqrt, tick, liquidity, amount_in + fee, amount_out, crossed

    def _next_tick_anywhere(self, tick: int, lte: bool) -> tuple[int, bool]:
        ticks = self._sorted_ticks
        if lte:
            i = bisect.bisect_right(ticks, tick) - 1
            return (ticks[i], True) if i >= 0 else (MIN_TICK, False)
        i = bisect.bisect_right(ticks, tick)
        return (ticks[i], True) if i < len(ticks) else (MAX_TICK, False)

    @functools.cached_property
    def _sorted_ticks(self) -> list[int]:
        return sorted(self.liquidity_net)

    @functools.cached_property
    def _down(self) -> _Checkpoints:
        return _Checkpoints(self, True)

    @functools.cached_property
    def _up(self) -> _Checkpoints:
        return _Checkpoints(self, False)

    def _checkpoints(self, zero_for_one: bool) -> _Checkpoints:
        return self._down if zero_for_one else self._up

    def sample(self, zero_for_one: bool, limits: list[int]) -> list[SwapResult]:
        """One walk through successive price limits (monotone in the swap direction), cumulative at each.

        Each result is the pool's swap with the earlier limits as extra step boundaries, so it can differ from a
        separate swap to that limit by rounding dust (a few wei): fine for curve breakpoints, not for quotes.
        """
        remaining, out, crossed = _ALL, 0, 0
        sqrt_p, tick, liquidity = self.sqrt_price_x96, self.tick, self.liquidity
        results: list[SwapResult] = []
        for limit in limits:
            while remaining != 0 and sqrt_p != limit:
                sqrt_p, tick, liquidity, used, got, cross = self.step(zero_for_one, sqrt_p, tick, liquidity,
                                                                      remaining, limit)
                remaining, out, crossed = remaining - used, out + got, crossed + cross
            results.append(SwapResult(_ALL - remaining, out, sqrt_p, tick, crossed))
        return results


def _stop(values: list[int], x: int) -> int:
    """Where the pool's loop stops for a bound ``x`` on ascending ``values``: at the first boundary equal to it (the
    loop ends as soon as the input is used up, or the limit reached, even where empty ranges follow at the same
    value), else at the last one below it (the next step stops inside)."""
    i = bisect.bisect_left(values, x)
    return i if i < len(values) and values[i] == x else i - 1


class _Checkpoints:
    """The step boundaries of one swap in one direction that consumes everything up to the end of the price range.

    Boundary k is reached by exactly the inputs >= ``cum[k]``: a step that reaches its target uses ``amount_in +
    fee`` = ceil(amount_in / (1 - fee)), which is also the least remaining input that lets it reach the target
    (SwapMath.computeSwapStep), so every smaller input stops inside the step. A quote therefore resumes the pool's
    loop from the boundary :func:`_stop` picks, and the result is the one the full loop gives.
    Built lazily, one step at a time, under a lock (a model may be shared between threads).
    """

    def __init__(self, model: PoolModel, zero_for_one: bool) -> None:
        self._model, self._zf1 = model, zero_for_one
        self._limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        self._cum: list[int] = [0]
        # sqrt prices in ascending order of the walk for bisect (negated going down, where they fall)
        self._keys: list[int] = [-model.sqrt_price_x96 if zero_for_one else model.sqrt_price_x96]
        self._points: list[_Point] = [(model.sqrt_price_x96, model.tick, model.liquidity, 0, 0)]
        self._ended = False  # the walk reached the end of the range, or the edge of a window model's words
        self._lock = threading.Lock()

    def start(self, amount_in: int, limit: int) -> tuple[_Point, int]:
        """The last boundary that ``amount_in`` reaches without passing ``limit``, and the input it takes."""
        key = -limit if self._zf1 else limit
        if not self._ended and self._cum[-1] <= amount_in and self._keys[-1] < key:
            self._extend(amount_in, key)
        i = min(_stop(self._cum, amount_in), _stop(self._keys, key))
        return self._points[i], self._cum[i]

    def _extend(self, amount_in: int, key: int) -> None:
        with self._lock:
            model, zf1 = self._model, self._zf1
            while not self._ended and self._cum[-1] <= amount_in and self._keys[-1] < key:
                sqrt_p, tick, liquidity, out, crossed = self._points[-1]
                if sqrt_p == self._limit:
                    self._ended = True
                    break
                try:
                    sqrt_p, tick, liquidity, used, got, cross = model.step(zf1, sqrt_p, tick, liquidity, _ALL,
                                                                           self._limit)
                except OutOfWindow:
                    self._ended = True  # a quote resuming from the last boundary meets the same edge and raises
                    break
                # Points first and cum last: a reader that bisects cum and keys without the lock never indexes a
                # point not yet appended.
                self._points.append((sqrt_p, tick, liquidity, out + got, crossed + cross))
                self._keys.append(-sqrt_p if zf1 else sqrt_p)
                self._cum.append(self._cum[-1] + used)
