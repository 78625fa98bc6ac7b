"""Piecewise-linear liquidity curves built from an exact swap model (shared by the Uniswap V3 and V2 adapters).

A curve's breakpoints are exact model outputs (shaved by a few wei, see the samplers), and a constant-function
market's cumulative output is concave in its input, so the chord between two breakpoints never promises more than
the pool pays. Breakpoints are placed so the chord also never falls more than :data:`CHORD_ERROR` short of the exact
output, for every trade up to :data:`EXACT_IMPACT_BPS` of average impact (:func:`chord_step`); beyond that a few
coarse breakpoints at the :data:`IMPACT_BPS` marginal moves carry the curve out to where the samplers stop.
Integer rounding could still flip two nearly equal neighbours, which pool-adjacent-violators merging repairs
without moving any kept breakpoint.

Usage::

    curve = curve_from_points(Side.SELL, [(10**18, 2_990_000_000), ...], base_decimals=18, quote_decimals=6)
    size = size_within_bps(curve, mid=3000.0, bps=50)
    curve = CurveCache().curve(key, lambda: curve_from_points(...))   # built once per pool content
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from adapters.types import Curve, Side

#: Average price impact (fee excluded, against the mid) up to which a curve is exact within 1 bp between breakpoints.
#: The optimizer's ``max_price_impact_bps`` may not exceed it (crosshedge.config.strategy).
EXACT_IMPACT_BPS = 1000.0
#: The relative chord error breakpoints are placed for: 0.8 bp, leaving 0.2 bp of the promised 1 bp for the samplers'
#: rounding shaves and float error (both orders of magnitude smaller on any trade that is not dust).
CHORD_ERROR = 0.8e-4
#: Marginal price moves (bp) of the coarse breakpoints past the exact region (sizes the optimizer's cap excludes,
#: kept so ``size_within_bps`` and the risk policy see the pool's depth far out). A trade's average impact trails
#: its marginal move, so the exact region always ends past a 1000 bp move: smaller levels would never be used.
IMPACT_BPS: tuple[float, ...] = (1500, 2000, 3000, 5000)
#: Output/input over the mid-rate at which a trade's average impact reaches EXACT_IMPACT_BPS as a SELL (1 − 10%); a
#: BUY reaches it at 1/(1 + 10%), sooner, so one threshold covers both sides (the BUY side is exact a bit further).
EXACT_RATE = 1 - EXACT_IMPACT_BPS / 1e4
#: Relative shave of every float-computed breakpoint output: floats carry ~1e-15 per operation over a few hundred.
FLOAT_SHAVE = 1e-12


def chord_step(c: float, error: float = CHORD_ERROR) -> float:
    """The relative size ``d`` of the next piece inside one constant-liquidity range, for a chord error <= ``error``.

    Why this closed form: within one range the pool is a constant product with virtual reserves (A in, B out) at
    the piece's start, so a piece of effective input D = d·A pays B·u/(A + u) at input u. The chord falls short of
    that by B·τ(1−τ)d²/((1+τd)(1+d)) at relative position τ; over the trade's whole output so far Y + B·τd/(1+τd)
    with c = Y/B, that is at most d²/((1+d)(√c + √(c + d(1+c)))²), reached at τ = 1/(1 + √(1 + d(1+c)/c)). Dropping
    the (1+d) (which only overstates the error) and solving for d gives d = 2√(error·c) + error·(1+c). The marginal
    price drops by (1+d)⁻² over the piece, so pieces are tiny near the mid (c = 0: the first piece must average within
    ``error`` of the mid) and grow with the cumulative size. Nothing else is needed, so it costs a square root.
    """
    return 2 * math.sqrt(error * c) + error * (1 + c)


def coarse_moves(move: float) -> list[float]:
    """The coarse marginal price moves (fractions) of IMPACT_BPS beyond ``move``, the move the curve has reached."""
    return [bp / 1e4 for bp in IMPACT_BPS if bp / 1e4 > move * (1 + 1e-9)]


Piece = tuple[float, float, int]  # (d_base, d_quote, initialized ticks crossed on entering it)


def _merge_violations(pieces: list[Piece], side: Side) -> list[Piece]:
    """Pool-adjacent-violators on pieces so prices are monotone in the convex direction.

    A merged piece starts where the first of its pieces started and carries the sum of their tick crossings, so a
    crossing can move earlier than where it happens (costing its gas a little early), never later. Merges only
    join pieces whose prices rounding made nearly equal, so the chord over the merged piece stays as close.
    """
    out: list[Piece] = []
    for piece in pieces:
        out.append(piece)
        while len(out) >= 2:
            (b1, q1, n1), (b2, q2, n2) = out[-2], out[-1]
            worse = q2 / b2 > q1 / b1 if side is Side.SELL else q2 / b2 < q1 / b1
            if not worse:
                break
            out[-2:] = [(b1 + b2, q1 + q2, n1 + n2)]
    return out


def curve_from_points(
    side: Side, points: Sequence[tuple[int, int]], base_decimals: int, quote_decimals: int,
    crossed: Sequence[int] | None = None,
) -> Curve:
    """Curve from exact cumulative (amount_in, amount_out) raw points, inputs strictly increasing from 0.

    SELL: input is base, output quote. BUY: input is quote, output base. Sizes are base units, prices quote/base.
    ``crossed[k]`` (default all 0) is the number of initialized ticks a fill crosses on entering the piece that
    ends at ``points[k]``; it becomes that segment's ``ticks_crossed``. A dust step that moved nothing is folded
    into the next piece with its crossings, which then start at the dust step's start: earlier, never later.
    """
    if crossed is not None and len(crossed) != len(points):
        raise ValueError(f"crossed has {len(crossed)} counts for {len(points)} points")
    pieces: list[Piece] = []
    prev_in = prev_out = carried = 0
    base_unit, quote_unit = 10**base_decimals, 10**quote_decimals
    for k, (amount_in, amount_out) in enumerate(points):
        carried += crossed[k] if crossed is not None else 0
        d_in, d_out = amount_in - prev_in, amount_out - prev_out
        if d_in <= 0 or d_out <= 0:
            continue  # a dust step that moved nothing: fold it (and its crossings) into the next piece
        d_base, d_quote = (d_in, d_out) if side is Side.SELL else (d_out, d_in)
        pieces.append((d_base / base_unit, d_quote / quote_unit, carried))
        prev_in, prev_out, carried = amount_in, amount_out, 0
    merged = _merge_violations(pieces, side)
    # One validation of the whole curve (pydantic-core, in Rust) instead of one Python model init per segment.
    segments = [{"size": db, "price": dq / db, "ticks_crossed": n} for db, dq, n in merged if db > 0 and dq > 0]
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


class CurveCache:
    """Curves by the pool content they are built from (the adapter's ``key``: everything its sampler reads).

    Building the curves is most of a read's CPU, while most pools do not change between one read and the next (a
    block moves a few pools of many, and the executor's fresh read before signing follows the snapshot by
    seconds): an unchanged pool gives the same curve, so it is built once. A key that holds every input of the
    build means a changed pool is never served an old curve. At most ``size`` entries, the least recently used
    dropped first. Thread-safe.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Curve] = OrderedDict()

    def curve(self, key: Hashable, build: Callable[[], Curve]) -> Curve:
        """The curve cached under ``key``, or ``build()`` (then cached)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        built = build()
        with self._lock:
            self._entries[key] = built
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return built
