"""Exact composition of a route's legs, and the breakpoints of its liquidity curve.

A route swaps leg by leg: leg 1's exact output is leg 2's exact input, and so on, as UniversalRouter's multi-hop
commands do (v3SwapExactInput feeds each pool's ``-amountOut`` to the next). So the composed quote is exact when each
leg's is. A leg that stops early (a partial fill at the end of its liquidity) makes the route partial: the route's
input consumed is leg 1's, and whatever a later leg did not take stays behind (in the router, on chain), so the curve
never reaches such sizes. A leg asked past its read window raises QuoteOutOfRangeError naming the route and leg.

The curve: the composition of concave increasing functions is concave and increasing, so breakpoints taken from
the exact composed quote give chords that never promise more than the route pays (outputs are shaved by a few wei
for the legs' integer rounding). Breakpoints follow :func:`adapters.uniswap.curve.chord_step` on the route's
average impact, with the error split between the legs (each adds its own curvature), over a scale that is the
legs' reserves in series; past EXACT_IMPACT_BPS a few coarse points at the IMPACT_BPS moves.

Usage::

    fill = compose(models, directions, 10**8)           # RouteFill: amount_in, amount_out, ticks_crossed, partial
    points, crossed = route_points(lambda x: compose(models, directions, x), mid_rate, fees, reserve)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.uniswap.curve import CHORD_ERROR, EXACT_RATE, FLOAT_SHAVE, chord_step, coarse_moves
from adapters.uniswap_route.legs import LegFill, LegModel
from crosshedge import QuoteOutOfRangeError

#: Breakpoints at most; a route curve is a few dozen pieces like a pool's (the exact region ends long before).
MAX_POINTS = 400


@dataclass(frozen=True)
class RouteFill:
    """An exact-in route swap: leg 1's input consumed, the last leg's output, every leg's fill."""

    amount_in: int
    amount_out: int
    ticks_crossed: int
    partial: bool
    legs: tuple[LegFill, ...]

    @property
    def rate_after(self) -> float:
        """Raw output per raw input at every leg's price after the swap, fees excluded."""
        rate = 1.0
        for leg in self.legs:
            rate *= leg.rate_after
        return rate


def compose(models: Sequence[LegModel], directions: Sequence[bool], amount_in: int) -> RouteFill:
    """Swap ``amount_in`` through the legs in order (``directions[k]``: leg k takes its token0 in)."""
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    fills: list[LegFill] = []
    x = amount_in
    for model, zf1 in zip(models, directions, strict=True):
        if x == 0:  # an earlier leg paid nothing: the chain's pool would revert, so nothing reaches the end
            fills.append(LegFill(0, 0, 0, True))
            continue
        fill = model.swap(zf1, x)
        fills.append(fill)
        x = fill.amount_out
    return RouteFill(fills[0].amount_in, x, sum(f.ticks_crossed for f in fills), any(f.partial for f in fills),
                     tuple(fills))


def series_reserve(models: Sequence[LegModel], directions: Sequence[bool]) -> float:
    """The route's curvature scale in raw input units: the legs' input reserves in series, each converted to the
    route's input at the mid rates before it (a constant product of reserve A has impact x/(A + x))."""
    inverse, rate = 0.0, 1.0
    for model, zf1 in zip(models, directions, strict=True):
        inverse += rate / model.reserve_in(zf1)
        rate *= model.mid_rate(zf1)
    return 1 / inverse


def mid_rate_of(models: Sequence[LegModel], directions: Sequence[bool]) -> float:
    """Raw output per raw input at every leg's current price, fees excluded."""
    rate = 1.0
    for model, zf1 in zip(models, directions, strict=True):
        rate *= model.mid_rate(zf1)
    return rate


class _Sampler:
    """Breakpoints of one direction's exact composed quote: every leg's tick crossing is one, and every piece's
    chord is checked against the exact quote inside it (the chord_step size is only the first guess)."""

    def __init__(self, quote: Callable[[int], RouteFill], mid_rate: float, legs: int, error: float) -> None:
        self.quote, self.mid_rate, self.legs, self.error = quote, mid_rate, legs, error
        self.points: list[tuple[int, int]] = []
        self.crossed: list[int] = []
        self.ticks = 0  # ticks crossed by the last breakpoint's swap
        self.last = (0, 0)  # the last breakpoint's exact (input, output), unshaved

    def _emit(self, fill: RouteFill) -> None:
        shave = 2 * self.legs * (int(self.mid_rate) + 2) + int(fill.amount_out * FLOAT_SHAVE)
        if fill.amount_out - shave > (self.points[-1][1] if self.points else 0):
            self.points.append((fill.amount_in, fill.amount_out - shave))
            self.crossed.append(max(fill.ticks_crossed - self.ticks, 0))
            self.ticks = fill.ticks_crossed
        self.last = (fill.amount_in, fill.amount_out)

    def _boundary(self, lo: int, hi: int, ticks: int) -> int:
        """The largest input in [lo, hi) whose swap crosses ``ticks`` initialized ticks (hi's crosses more)."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.quote(mid).ticks_crossed <= ticks else (lo, mid)
        return lo

    def _pieces(self, fill: RouteFill) -> list[RouteFill]:
        """The swaps ending each piece up to ``fill``: one at every tick a leg crosses on the way (a crossing
        changes a leg's liquidity, a kink in the composed curve that no chord may span), then ``fill``."""
        out: list[RouteFill] = []
        start, ticks = self.last[0], self.ticks
        while fill.ticks_crossed > ticks:
            boundary = self._boundary(start, fill.amount_in, ticks)
            if boundary > start:
                out.append(self.quote(boundary))
            start = boundary + 1
            ticks = self.quote(start).ticks_crossed
        return [*out, fill]

    def _chords_ok(self, pieces: list[RouteFill]) -> bool:
        x0, y0 = self.last
        for fill in pieces:
            x1, y1 = fill.amount_in, fill.amount_out
            for frac in (0.25, 0.5, 0.75):
                x = int(x0 + frac * (x1 - x0))
                if x > x0 and y0 + frac * (y1 - y0) < self.quote(x).amount_out * (1 - self.error):
                    return False
            x0, y0 = x1, y1
        return True

    def add(self, x: float, check: bool = True) -> float | None:
        """Breakpoints up to input ``x``, the step halved until every new chord is within the error (``check``);
        the average impact reached, None when the route cannot take ``x`` (a partial leg, a leg's window edge)."""
        step = x - self.last[0]
        for _ in range(40):
            amount_in = int(self.last[0] + step)
            if amount_in <= self.last[0]:
                return 0.0
            try:
                fill = self.quote(amount_in)
                if fill.partial:
                    return None
                pieces = self._pieces(fill)
                if check and not self._chords_ok(pieces):
                    step /= 2
                    continue
            except QuoteOutOfRangeError:
                return None
            for piece in pieces:
                self._emit(piece)
            return max(0.0, 1 - fill.amount_out / (amount_in * self.mid_rate)) if fill.amount_out > 0 else 0.0
        return None


def route_points(
    quote: Callable[[int], RouteFill], mid_rate: float, fees: float, reserve: float, legs: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Breakpoints (amount_in, amount_out) of the exact composed quote and the ticks crossed entering each piece.

    Every initialized tick a leg crosses is a breakpoint (found by bisection on the exact quote), so the tick's
    gas steps there and no chord spans a kink; up to EXACT_IMPACT_BPS every chord is checked against the exact
    quote at a quarter, half and three quarters in. Stops before a size any leg fills partially or that runs past
    a leg's window. ``fees`` is the fraction of the input left after every leg's fee, so the impact measured is the
    curvature's alone.
    """
    error = CHORD_ERROR / legs
    sampler = _Sampler(quote, mid_rate * fees, legs, CHORD_ERROR)
    x, impact = 0.0, 0.0
    while 1 - impact >= EXACT_RATE and len(sampler.points) < MAX_POINTS:
        x = sampler.last[0] + chord_step(impact, error) * (reserve + sampler.last[0])
        got = sampler.add(x)
        if got is None:
            return _pull_in(sampler.points), sampler.crossed
        impact = got
    for move in coarse_moves(impact):
        # A constant product of reserve A reaches a marginal move m at input A·((1 − m)^−½ − 1).
        if sampler.add(reserve * ((1 - move) ** -0.5 - 1), check=False) is None:
            break
    return _pull_in(sampler.points), sampler.crossed


def _pull_in(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The last point pulled in by 1e-10, as the pool samplers do, so its exact swap stays inside every window."""
    if points:
        amount_in, amount_out = points[-1]
        points[-1] = (int(amount_in * (1 - 1e-10)), int(amount_out * (1 - 1e-10)))
    return points


__all__ = ["MAX_POINTS", "RouteFill", "compose", "mid_rate_of", "route_points", "series_reserve"]
