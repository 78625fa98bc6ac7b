"""The exact Uniswap V4 pool model: V3's :class:`~adapters.uniswap_v3.pool.PoolModel`, one per direction.

V4's swap loop is V3's step for step (same TickBitmap, TickMath, SqrtPriceMath, the same stops at word boundaries)
except for the fee and SwapMath's exact-in step (:func:`adapters.uniswap.math.swap_step_exact_in_v4`). The fee
depends on the direction when a protocol fee is set (:func:`adapters.uniswap_v4.fees.swap_fee`), so a V4 pool is
two V3 models sharing the same ticks, each with its direction's swap fee and ``v4_step`` on.

Usage::

    model = V4Model.of(sqrt_price_x96, tick, liquidity, lp_fee, protocol_fee, spacing, bitmap, nets, word_range)
    model.direction(zero_for_one=True).swap_exact_in(True, 10**18)
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.types import VenueState
from adapters.uniswap_v3.pool import PoolModel
from adapters.uniswap_v4.fees import swap_fee


@dataclass(frozen=True)
class V4Model:
    """A V4 pool at one block: the token0-in and token1-in models (see module doc)."""

    zero_for_one: PoolModel
    one_for_zero: PoolModel
    lp_fee: int
    protocol_fee: int

    @classmethod
    def of(cls, sqrt_price_x96: int, tick: int, liquidity: int, lp_fee: int, protocol_fee: int, tick_spacing: int,
           bitmap: dict[int, int], liquidity_net: dict[int, int], word_range: tuple[int, int],
           venue: str = "pool") -> V4Model:
        """A window model from the words and ticks read around the price."""
        down, up = (PoolModel(sqrt_price_x96, tick, liquidity, swap_fee(lp_fee, protocol_fee, zf1), tick_spacing,
                              bitmap, liquidity_net, word_range, venue=venue, v4_step=True) for zf1 in (True, False))
        return cls(down, up, lp_fee, protocol_fee)

    @classmethod
    def from_ticks(cls, sqrt_price_x96: int, tick: int, liquidity: int, lp_fee: int, protocol_fee: int,
                   tick_spacing: int, liquidity_net: dict[int, int], venue: str = "pool") -> V4Model:
        """A complete model from every initialized tick (no window)."""
        down, up = (PoolModel.from_ticks(sqrt_price_x96, tick, liquidity, swap_fee(lp_fee, protocol_fee, zf1),
                                         tick_spacing, liquidity_net, venue=venue, v4_step=True)
                    for zf1 in (True, False))
        return cls(down, up, lp_fee, protocol_fee)

    def direction(self, zero_for_one: bool) -> PoolModel:
        """The model that prices swaps in this direction."""
        return self.zero_for_one if zero_for_one else self.one_for_zero


def model_of(state: VenueState) -> V4Model:
    """Rebuild the exact model from a V4 state's JSON-able ``pool`` dict (uncached: see ModelCache)."""
    p = state.pool
    lo, hi = p["word_range"]
    bitmap = dict.fromkeys(range(lo, hi + 1), 0)
    bitmap.update({int(w): int(v) for w, v in p["bitmap"]})
    return V4Model.of(int(p["sqrt_price_x96"]), int(p["tick"]), int(p["liquidity"]), int(p["lp_fee"]),
                      int(p["protocol_fee"]), int(p["pool_key"]["tick_spacing"]), bitmap,
                      {int(t): int(n) for t, n in p["ticks"]}, (lo, hi),
                      venue=f"chain {state.chain}: venue {state.venue}")


__all__ = ["V4Model", "model_of"]
