"""Piecewise-linear liquidity curves sampled from an exact swap model (shared by the Uniswap V3 and V2 adapters).

A curve's breakpoints are exact model outputs: between consecutive sampled inputs a segment's price is the exact
average price over that piece, so the cumulative (size, cost) line passes through the exact curve at every
breakpoint. Prices are monotone because a constant-function market's marginal price is; integer rounding could
still flip two nearly equal neighbours, which pool-adjacent-violators merging repairs without moving any kept
breakpoint.

Usage::

    curve = curve_from_points(Side.SELL, [(10**18, 2_990_000_000), ...], base_decimals=18, quote_decimals=6)
    size = size_within_bps(curve, mid=3000.0, bps=50)
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.types import Curve, Side

#: Marginal price moves (bp) at which curves are sampled; dense near the mid where most hedges trade.
IMPACT_BPS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000,
)


def _merge_violations(pieces: list[tuple[float, float]], side: Side) -> list[tuple[float, float]]:
    """Pool-adjacent-violators on (d_base, d_quote) pieces so prices are monotone in the convex direction."""
    out: list[tuple[float, float]] = []
    for db, dq in pieces:
        out.append((db, dq))
        while len(out) >= 2:
            (b1, q1), (b2, q2) = out[-2], out[-1]
            worse = q2 / b2 > q1 / b1 if side is Side.SELL else q2 / b2 < q1 / b1
            if not worse:
                break
            out[-2:] = [(b1 + b2, q1 + q2)]
    return out


def curve_from_points(
    side: Side, points: Sequence[tuple[int, int]], base_decimals: int, quote_decimals: int
) -> Curve:
    """Curve from exact cumulative (amount_in, amount_out) raw points, inputs strictly increasing from 0.

    SELL: input is base, output quote. BUY: input is quote, output base. Sizes are base units, prices quote/base.
    """
    pieces: list[tuple[float, float]] = []
    prev_in = prev_out = 0
    for amount_in, amount_out in points:
        d_in, d_out = amount_in - prev_in, amount_out - prev_out
        if d_in <= 0 or d_out <= 0:
            continue  # a dust step that moved nothing: fold it into the next piece
        d_base, d_quote = (d_in, d_out) if side is Side.SELL else (d_out, d_in)
        pieces.append((d_base / 10**base_decimals, d_quote / 10**quote_decimals))
        prev_in, prev_out = amount_in, amount_out
    merged = _merge_violations(pieces, side)
    # One validation of the whole curve (pydantic-core, in Rust) instead of one Python model init per segment.
    segments = [{"size": db, "price": dq / db} for db, dq in merged if db > 0 and dq > 0]
    return Curve.model_validate({"side": side, "segments": segments})


def cumulative(curve: Curve) -> list[tuple[float, float]]:
    """(cumulative base size, cumulative quote amount) at each breakpoint."""
    size = quote = 0.0
    out = []
    for seg in curve.segments:
        size += seg.size
        quote += seg.size * seg.price
        out.append((size, quote))
    return out


def size_within_bps(curve: Curve, mid: float, bps: float) -> float:
    """Largest base size whose all-in average price (fee included) is within ``bps`` of ``mid``.

    SELL: average >= mid·(1 − bps); BUY: average <= mid·(1 + bps). 0 when even the first unit is outside
    (e.g. a 30 bp pool asked for 10 bp).
    """
    sell = curve.side is Side.SELL
    target = mid * (1 - bps / 1e4) if sell else mid * (1 + bps / 1e4)
    size = quote = 0.0
    for seg in curve.segments:
        ok = seg.price >= target if sell else seg.price <= target
        if ok:
            size += seg.size
            quote += seg.size * seg.price
            continue
        # Average = (quote + p·x) / (size + x) reaches target at x = (quote − target·size) / (target − p).
        slack = quote - target * size
        x = slack / (target - seg.price) if sell else -slack / (seg.price - target)
        return size + max(0.0, min(seg.size, x))
    return size
