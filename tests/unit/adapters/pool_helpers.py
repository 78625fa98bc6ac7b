"""Uniswap V3 pools built from explicit LP positions, as the chain would store them (shared by the adapter tests)."""

from __future__ import annotations

from adapters.uniswap import math as m
from adapters.uniswap_v3.pool import PoolModel
from adapters.uniswap_v3.reader import word_window


def pool_with(positions: list[tuple[int, int, int]], tick: int, spacing: int, fee: int, window: int) -> PoolModel:
    """A pool at ``tick`` holding (lower, upper, liquidity) positions, as the chain would store them."""
    nets: dict[int, int] = {}
    for lower, upper, liq in positions:
        nets[lower] = nets.get(lower, 0) + liq
        nets[upper] = nets.get(upper, 0) - liq
    nets = {t: n for t, n in nets.items() if n != 0}
    active = sum(liq for lower, upper, liq in positions if lower <= tick < upper)
    lo, hi = word_window(tick, spacing, window)
    bitmap = dict.fromkeys(range(lo, hi + 1), 0)
    for t in nets:
        word, bit = m.tick_position(t // spacing)
        if word in bitmap:
            bitmap[word] |= 1 << bit
    inside = {t: n for t, n in nets.items() if lo <= m.tick_position(t // spacing)[0] <= hi}
    return PoolModel(m.get_sqrt_ratio_at_tick(tick), tick, active, fee, spacing, bitmap, inside, (lo, hi))
