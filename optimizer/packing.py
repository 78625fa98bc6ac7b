"""Turn a :class:`HedgeProblem` into the arrays the model's parameters take (pure numpy, no cvxpy).

Fills are one flat vector over (venue, side, segment): index ``(2·v + s)·K + k`` with ``s = 0`` for SELL and
``s = 1`` for BUY; curves shorter than ``K`` are padded with zero-width pieces. All money is USD, all sizes are
human base units.

Usage::

    shape, data = pack(problem)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters import Side, VenueState
from crosshedge import InputError
from optimizer.perp_model import PerpData, perp_data, perp_options, perp_segments
from optimizer.problem import HedgeProblem, HedgeTarget, risk_breakpoints, venue_key
from optimizer.transfers import Group, TransferData, route_shape, token_groups, transfer_data

SIDES = (Side.SELL, Side.BUY)


@dataclass(frozen=True)
class ModelShape:
    """What fixes the model's structure (the cache key): venues' chain/underlying/tokens, padded length, grid size."""

    venues: tuple[tuple[str, str, str, str], ...]  # (chain, underlying, base symbol, quote symbol) per venue
    underlyings: tuple[str, ...]
    segments: int  # K, padded
    risk_points: int  # breakpoints per underlying
    # Some venue prices gas per initialized tick crossed (a tick_gas_usd entry): the model then carries a switch per
    # piece ("entered"), so the step in gas where a fill crosses a tick is priced exactly (see optimizer.terms).
    ticks: bool = False
    # (origin, destination, token) per bridge route the plan may use (optimizer.transfers); none: no transfer terms.
    transfers: tuple[tuple[str, str, str], ...] = ()
    # ("chain/market", underlying) per perp market the plan may trade (optimizer.perp_model), curves padded to
    # perp_segments pieces; none: no perp terms.
    perps: tuple[tuple[str, str], ...] = ()
    perp_segments: int = 0

    @property
    def token_groups(self) -> tuple[Group, ...]:
        """(chain, token) pairs a route starts or ends at."""
        return token_groups(self.transfers)

    @property
    def n_fills(self) -> int:
        return 2 * len(self.venues) * self.segments

    @property
    def base_groups(self) -> tuple[tuple[str, str], ...]:
        """(chain, base symbol) pairs whose inventory limits sells."""
        return tuple(sorted({(c, b) for c, _, b, _ in self.venues}))

    @property
    def quote_groups(self) -> tuple[tuple[str, str], ...]:
        """(chain, quote symbol) pairs whose inventory limits buys."""
        return tuple(sorted({(c, q) for c, _, _, q in self.venues}))


@dataclass(frozen=True)
class PackedData:
    """Parameter values for one run (see :mod:`optimizer.model` for where each enters)."""

    width: np.ndarray  # (n,) piece sizes, base units
    upper: np.ndarray  # (n,) piece upper bounds: the widths, cut by optimizer.presolve to what each trade can carry
    cost: np.ndarray  # (n,) USD per unit against mark (fee + impact)
    fee: np.ndarray  # (n,) USD per unit of pool fee (part of cost)
    price: np.ndarray  # (n,) quote per base (BUY pieces only, else 0): quote spent
    impact_slack: np.ndarray  # (n,) impact against venue mid minus the cap, USD per unit
    notional: np.ndarray  # (n,) mark price: USD notional per unit
    gas: np.ndarray  # (2V,) USD per trade
    enabled: np.ndarray  # (2V,) 1 = allowed
    min_units: np.ndarray  # (2V,) minimum trade size in base units
    move_lower: np.ndarray  # (U,) band minus current delta: the least net buy (negative: most net sell)
    move_upper: np.ndarray  # (U,)
    slopes: np.ndarray  # (U, P-1) risk interpolant pieces in the net move m: t ≥ slope·m + intercept
    intercepts: np.ndarray  # (U, P-1)
    inv_base: np.ndarray  # (len(base_groups),)
    inv_quote: np.ndarray  # (len(quote_groups),)
    max_notional: float
    max_trades: float
    tick_gas: np.ndarray | None = None  # (n,) USD of the ticks a fill crosses on entering each piece (shape.ticks)
    transfers: TransferData | None = None  # the bridge routes' values (shape.transfers)
    perps: PerpData | None = None  # the perp markets' values (shape.perps)


def shape_of(problem: HedgeProblem, states: list[VenueState]) -> ModelShape:
    """The structure of the model for these venues (curves padded to a power of two so nearby lengths share a model)."""
    longest = max(max(len(s.sell.segments), len(s.buy.segments)) for s in states)
    padded = 1 << max(0, (longest - 1).bit_length())
    perps = perp_options(problem)
    return ModelShape(
        venues=tuple((s.chain, s.underlying, s.base.symbol, s.quote.symbol) for s in states),
        underlyings=tuple(t.underlying for t in problem.targets),
        segments=padded,
        risk_points=problem.settings.risk_pieces + 3,
        ticks=any(venue_key(s) in problem.tick_gas_usd for s in states),
        transfers=route_shape(problem),
        perps=tuple((p.key, p.underlying) for p in perps),
        perp_segments=perp_segments(perps),
    )


def fee_rate(state: VenueState) -> float:
    return state.fee_pips / 1_000_000


def _curve_arrays(states: list[VenueState], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(2V, k) piece sizes and prices, rows ``2v`` (sell) and ``2v+1`` (buy), padded with zero-width pieces."""
    curves = [c for st in states for c in (st.sell.segments, st.buy.segments)]
    lengths = np.fromiter((len(c) for c in curves), dtype=int, count=len(curves))
    flat_size = np.fromiter((seg.size for c in curves for seg in c), dtype=float, count=int(lengths.sum()))
    flat_price = np.fromiter((seg.price for c in curves for seg in c), dtype=float, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(curves)), lengths)
    cols = np.arange(rows.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    sizes, prices = np.zeros((len(curves), k)), np.zeros((len(curves), k))
    sizes[rows, cols], prices[rows, cols] = flat_size, flat_price
    return sizes, prices


def _piece_arrays(problem: HedgeProblem, states: list[VenueState], k: int) -> tuple[np.ndarray, ...]:
    """Flat width, cost vs mark, fee, spend price, impact minus cap and mark per piece (see :class:`PackedData`)."""
    sizes, prices = _curve_arrays(states, k)
    targets = {t.underlying: t for t in problem.targets}
    mark = np.repeat([targets[st.underlying].mark_price_usd for st in states], 2)[:, None]
    mid = np.repeat([st.mid_price for st in states], 2)[:, None]
    f = np.repeat([fee_rate(st) for st in states], 2)[:, None]
    sell = (np.arange(2 * len(states)) % 2 == 0)[:, None]
    cost = np.where(sell, mark - prices, prices - mark)
    # a sell's fee comes off the base paid in: worth p·f/(1−f) per unit at the fee-free price; a buy's off the quote
    fee = np.where(sell, prices * f / (1 - f), prices * f)
    impact = np.where(sell, mid - prices / (1 - f), prices * (1 - f) - mid)
    cap = problem.settings.max_price_impact_bps / 1e4 * mid
    live = sizes > 0
    out = (sizes, np.where(live, cost, 0.0), np.where(live, fee, 0.0), np.where(sell, 0.0, prices),
           np.where(live, impact - cap, 0.0), np.broadcast_to(mark, sizes.shape))
    return tuple(np.ascontiguousarray(a, dtype=float).ravel() for a in out)


def risk_lines(target: HedgeTarget, pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and intercepts of the interpolant's pieces (a tangent where two breakpoints coincide)."""
    b = risk_breakpoints(target, pieces)
    q = target.risk_price * (b - target.target) ** 2
    lo, hi = b[:-1], b[1:]
    span = hi - lo
    same = span <= 1e-12 * max(1.0, float(np.abs(b).max()))
    slope = np.where(same, 2 * target.risk_price * (lo - target.target), (q[1:] - q[:-1]) / np.where(same, 1.0, span))
    return slope, q[:-1] - slope * lo


def _check_pieces(states: list[VenueState], width: np.ndarray, cost: np.ndarray, slack: np.ndarray,
                  price: np.ndarray, k: int) -> None:
    """Finite pieces, and prices monotone in the convex direction (cost per unit never falls piece to piece)."""
    bad = ~(np.isfinite(cost) & np.isfinite(width) & np.isfinite(slack))
    if bad.any():
        st = states[int(np.flatnonzero(bad)[0]) // (2 * k)]
        raise InputError(f"venues.{venue_key(st)}: a curve piece has a non-finite size or price")
    w, c = width.reshape(-1, k), cost.reshape(-1, k)
    both = (w[:, 1:] > 0) & (w[:, :-1] > 0)
    falls = both & (c[:, 1:] < c[:, :-1] - 1e-12 * np.maximum(1.0, np.abs(price.reshape(-1, k)[:, :-1])
                                                                 + np.abs(c[:, :-1])))
    rows = np.flatnonzero(falls.any(axis=1))
    if rows.size:
        st, side = states[int(rows[0]) // 2], "sell" if rows[0] % 2 == 0 else "buy"
        raise InputError(f"venues.{venue_key(st)}.{side}: piece prices are not monotone (the curve must be convex "
                         "in cost)")


def pack(problem: HedgeProblem, states: list[VenueState], shape: ModelShape) -> PackedData:
    """Parameter values for ``states`` (in model order) under ``problem``'s targets, limits and switches."""
    k, nv = shape.segments, len(states)
    targets = {t.underlying: t for t in problem.targets}
    s = problem.settings
    width, cost, fee, price, slack, notional = _piece_arrays(problem, states, k)
    _check_pieces(states, width, cost, slack, price, k)
    ticks = tick_gas(problem, states, k) if shape.ticks else None
    if ticks is not None:
        width = stop_short_of_ticks(width, ticks, k)
    disabled_chains, disabled_venues = set(problem.disabled_chains), set(problem.disabled_venues)
    on = [st.chain not in disabled_chains and venue_key(st) not in disabled_venues for st in states]
    enabled = np.repeat(np.array(on, dtype=float), 2)
    gas = np.repeat([problem.gas_usd[venue_key(st)] for st in states], 2).astype(float)
    min_units = np.repeat([s.min_trade_usd / targets[st.underlying].mark_price_usd for st in states], 2)
    lines = [risk_lines(targets[u], s.risk_pieces) for u in shape.underlyings]
    delta0 = np.array([targets[u].current_delta for u in shape.underlyings])
    slopes = np.array([ln[0] for ln in lines])
    intercepts = np.array([ln[1] for ln in lines]) + slopes * delta0[:, None]  # r = delta0 + m
    inv = problem.inventory
    return PackedData(
        width=width, upper=width, cost=cost, fee=fee, price=price, impact_slack=slack, notional=notional,
        gas=gas, enabled=enabled, min_units=min_units.astype(float),
        move_lower=np.array([targets[u].lower for u in shape.underlyings]) - delta0,
        move_upper=np.array([targets[u].upper for u in shape.underlyings]) - delta0,
        slopes=slopes, intercepts=intercepts,
        inv_base=np.array([max(0.0, inv.get(c, {}).get(b, 0.0)) for c, b in shape.base_groups]),
        inv_quote=np.array([max(0.0, inv.get(c, {}).get(q, 0.0)) for c, q in shape.quote_groups]),
        max_notional=s.max_notional_usd_per_run,
        max_trades=float(s.max_trades if s.max_trades is not None else 2 * nv),
        tick_gas=ticks,
        transfers=transfer_data(problem, shape.base_groups, shape.quote_groups) if shape.transfers else None,
        perps=perp_data(problem, perp_options(problem), shape.perp_segments) if shape.perps else None,
    )


#: A fill that stops before a costly tick stops this far (relative to its size there) short of it: a V3 swap that
#: lands exactly on an initialized tick's price crosses it, and raw-unit rounding must not tip it over.
TICK_MARGIN = 1e-6


def stop_short_of_ticks(width: np.ndarray, tick_gas: np.ndarray, k: int) -> np.ndarray:
    """``width`` with each piece that ends at a costly tick crossing shortened by :data:`TICK_MARGIN` of the
    cumulative size there, so a fill that does not pay for the crossing ends strictly before it."""
    w, g = width.reshape(-1, k).copy(), tick_gas.reshape(-1, k)
    ends = np.cumsum(w, axis=1)
    before = (g[:, 1:] > 0) & (w[:, :-1] > 0)
    cut = np.minimum(0.5 * w[:, :-1], TICK_MARGIN * ends[:, :-1])
    w[:, :-1] -= np.where(before, cut, 0.0)
    return w.ravel()


def tick_gas(problem: HedgeProblem, states: list[VenueState], k: int) -> np.ndarray:
    """(n,) USD per piece of the initialized ticks crossed on entering it (0 on venues without tick gas)."""
    out = np.zeros((2 * len(states), k))
    for v, st in enumerate(states):
        per_tick = problem.tick_gas_usd.get(venue_key(st), 0.0)
        if per_tick:
            for s, curve in enumerate((st.sell, st.buy)):
                crossed = [seg.ticks_crossed for seg in curve.segments]
                out[2 * v + s, : len(crossed)] = np.array(crossed, dtype=float) * per_tick
    return out.ravel()
