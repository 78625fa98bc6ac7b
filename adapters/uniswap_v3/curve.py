"""Liquidity curves of a Uniswap V3 pool: one float pass through its tick ranges, exact within 1 bp near the mid.

Breakpoints come from :func:`adapters.uniswap.curve.chord_step` inside each constant-liquidity range, and every
initialized tick a trade crosses before EXACT_IMPACT_BPS of impact is a breakpoint whose segment counts it
(``Segment.ticks_crossed``), so the optimizer can charge the tick's gas as a step there.

Usage::

    points, crossed = sample_points(model, zf1=True)
    curve = curve_of(model, True, Side.SELL, base_decimals=18, quote_decimals=6)
    curve = cached_curve_of(CurveCache(), model, True, Side.SELL, 18, 6)   # built once per pool content
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from adapters.types import Curve, Side
from adapters.uniswap.curve import (
    EXACT_RATE,
    FLOAT_SHAVE,
    CurveCache,
    chord_step,
    coarse_moves,
    curve_from_points,
)
from adapters.uniswap.math import PIPS, Q96, get_sqrt_ratio_at_tick
from adapters.uniswap_v3.pool import PoolModel


def curve_of(model: PoolModel, zf1: bool, side: Side, base_decimals: int, quote_decimals: int) -> Curve:
    """The curve of one direction of ``model`` (zf1: token0 in), with the ticks each piece crosses."""
    points, crossed = sample_points(model, zf1)
    return curve_from_points(side, points, base_decimals, quote_decimals, crossed)


def cached_curve_of(cache: CurveCache, model: PoolModel, zf1: bool, side: Side, base_decimals: int,
                    quote_decimals: int) -> Curve:
    """:func:`curve_of` through ``cache``, keyed by everything :func:`sample_points` reads of the model."""
    key = ("uniswap_v3", model.sqrt_price_x96, model.tick, model.liquidity, model.fee, model.tick_spacing,
           model.word_range, tuple(sorted(model.liquidity_net.items())), zf1, side, base_decimals, quote_decimals)
    return cache.curve(key, lambda: curve_of(model, zf1, side, base_decimals, quote_decimals))


@dataclass
class _Walk:
    """A swap's walk through the tick ranges in floats: sqrt price, liquidity and what went in and out so far."""

    zf1: bool
    s: float  # sqrt price (token1 per token0), not Q96
    liquidity: int  # exact, so a range whose positions all end leaves 0, not a float residue that still trades
    crossings: list[tuple[int, float]]  # initialized ticks ahead and their sqrt prices, in swap order
    nets: Mapping[int, int]
    cum_in: float = 0.0  # effective input (fee excluded)
    cum_out: float = 0.0
    i: int = 0  # next crossing
    pending: int = 0  # ticks crossed since the last breakpoint

    def next_crossing(self) -> float | None:
        return self.crossings[self.i][1] if self.i < len(self.crossings) else None

    def move_to(self, b: float) -> None:
        """Swap to sqrt price ``b`` at constant liquidity: L·(1/b − 1/a) token0 and L·(a − b) token1."""
        big_l, a = float(self.liquidity), self.s
        if self.zf1:
            d_in, d_out = big_l * (1 / b - 1 / a), big_l * (a - b)
        else:
            d_in, d_out = big_l * (b - a), big_l * (1 / a - 1 / b)
        self.cum_in, self.cum_out, self.s = self.cum_in + max(d_in, 0.0), self.cum_out + max(d_out, 0.0), b

    def cross(self) -> None:
        net = self.nets[self.crossings[self.i][0]]
        self.liquidity += -net if self.zf1 else net  # crossing down applies liquidityNet with its sign flipped
        self.i, self.pending = self.i + 1, self.pending + 1

    def past(self, a: float, b: float) -> bool:
        """Whether sqrt price ``a`` lies at or beyond ``b`` in the swap's direction."""
        return a <= b if self.zf1 else a >= b

    def chord_target(self) -> float:
        """The sqrt price ending the next chord-exact piece: chord_step with c = output so far / virtual reserve out."""
        reserve_out = self.liquidity * self.s if self.zf1 else self.liquidity / self.s
        d = chord_step(self.cum_out / reserve_out)
        return self.s / (1 + d) if self.zf1 else self.s * (1 + d)  # D = d·(virtual reserve in) moves √P by 1 + d


def sample_points(model: PoolModel, zf1: bool) -> tuple[list[tuple[int, int]], list[int]]:
    """Breakpoints (amount_in, amount_out) and the initialized ticks crossed entering each piece, in one float pass.

    Between initialized ticks liquidity L is constant, so each piece costs a few float operations instead of an
    integer replay of the swap loop (which made curve building most of a read's CPU). Up to EXACT_IMPACT_BPS of
    average impact every piece is sized by chord_step (its chord is within CHORD_ERROR of the pool) and every
    initialized tick crossed ends one, so the tick's gas is a step at its breakpoint; past it, coarse pieces end at
    the IMPACT_BPS marginal moves and the window edge, and carry the ticks they cross from their start (earlier than
    the true crossing, never later). Outputs are shaved so the chord never promises more than the pool: the pool
    rounds each step in its favour by a few wei of input (2 per step, bounded by ticks and bitmap words ahead) and
    one of output, and floats carry ~1e-15. The last point is pulled in by 1e-10 so an exact swap of it never needs
    a word beyond the window; quotes stay exact (:meth:`PoolModel.swap_exact_in`).
    """
    ahead = (t for t in model.liquidity_net if (t <= model.tick if zf1 else t > model.tick))
    crossings = sorted(((t, get_sqrt_ratio_at_tick(t) / Q96) for t in ahead), reverse=zf1)
    s0, edge = model.sqrt_price_x96 / Q96, model.edge_sqrt_price(zf1) / Q96
    walk = _Walk(zf1, s0, model.liquidity, crossings, model.liquidity_net)
    gross, mid_rate = PIPS / (PIPS - model.fee), s0**2 if zf1 else s0**-2  # raw out per effective raw in at the mid
    steps = len(crossings) + model.word_range[1] - model.word_range[0] + 3
    shave = math.ceil(2 * steps * (mid_rate + 1))
    points: list[tuple[int, int]] = []
    crossed: list[int] = []

    def emit() -> None:
        amount_in, amount_out = int(walk.cum_in * gross), int(walk.cum_out * (1 - FLOAT_SHAVE)) - shave
        if amount_in > (points[-1][0] if points else 0) and amount_out > 0:
            points.append((amount_in, amount_out))
            crossed.append(walk.pending)
            walk.pending = 0

    _walk_exact(walk, edge, mid_rate, emit)
    _walk_coarse(walk, edge, s0, emit)
    if points:
        amount_in, amount_out = points[-1]
        points[-1] = (int(amount_in * (1 - 1e-10)), int(amount_out * (1 - 1e-10)))
    return points, crossed


def _walk_exact(walk: _Walk, edge: float, mid_rate: float, emit: Callable[[], None]) -> None:
    """Chord-exact pieces, each also ended by the next initialized tick, until a trade's rate falls past EXACT_RATE."""
    while not walk.past(walk.s, edge):
        crossing = walk.next_crossing()
        if walk.liquidity <= 0:  # an empty range costs nothing to cross: straight to its end
            target = edge if crossing is None else crossing
        else:
            target = walk.chord_target()
            if crossing is not None and not walk.past(target, crossing) and walk.past(target**2 / walk.s, crossing):
                # The tick is less than two pieces away: two equal pieces to it instead of a sliver before it (each
                # is shorter than the one chord_step allows here, and the allowance only grows with the output).
                target = math.sqrt(walk.s * crossing)
        if crossing is not None and walk.past(target, crossing):
            walk.move_to(crossing)
            emit()
            walk.cross()  # after the breakpoint: the piece that starts here is the one that pays for the tick
        else:
            walk.move_to(edge if walk.past(target, edge) else target)
            emit()
        # A trade's average rate only falls with its size, so past this breakpoint every trade is beyond the limit.
        if walk.cum_in > 0 and walk.cum_out / walk.cum_in / mid_rate < EXACT_RATE:
            return


def _walk_coarse(walk: _Walk, edge: float, s0: float, emit: Callable[[], None]) -> None:
    """Coarse pieces to each IMPACT_BPS marginal move beyond the walk's, then to the window edge."""
    move = 1 - (walk.s / s0) ** 2 if walk.zf1 else 1 - (s0 / walk.s) ** 2
    for coarse in [*(s0 * (1 - m) ** 0.5 if walk.zf1 else s0 / (1 - m) ** 0.5 for m in coarse_moves(move)), edge]:
        if walk.past(walk.s, edge):
            return
        target = edge if walk.past(coarse, edge) else coarse
        while (crossing := walk.next_crossing()) is not None and walk.past(target, crossing):
            walk.move_to(crossing)
            walk.cross()
        walk.move_to(target)
        emit()
