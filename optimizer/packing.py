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

from adapters import Curve, Side, VenueState
from optimizer.problem import HedgeProblem, HedgeTarget, risk_breakpoints, venue_key

SIDES = (Side.SELL, Side.BUY)


@dataclass(frozen=True)
class ModelShape:
    """What fixes the model's structure (the cache key): venues' chain/underlying/tokens, padded length, grid size."""

    venues: tuple[tuple[str, str, str, str], ...]  # (chain, underlying, base symbol, quote symbol) per venue
    underlyings: tuple[str, ...]
    segments: int  # K, padded
    risk_points: int  # breakpoints per underlying

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


def shape_of(problem: HedgeProblem, states: list[VenueState]) -> ModelShape:
    """The structure of the model for these venues (curves padded to a power of two so nearby lengths share a model)."""
    longest = max(max(len(s.sell.segments), len(s.buy.segments)) for s in states)
    padded = 1 << max(0, (longest - 1).bit_length())
    return ModelShape(
        venues=tuple((s.chain, s.underlying, s.base.symbol, s.quote.symbol) for s in states),
        underlyings=tuple(t.underlying for t in problem.targets),
        segments=padded,
        risk_points=problem.settings.risk_pieces + 3,
    )


def fee_rate(state: VenueState) -> float:
    return state.fee_pips / 1_000_000


def _piece_arrays(state: VenueState, curve: Curve, mark: float, k: int) -> tuple[np.ndarray, ...]:
    """Width, cost, fee, spend price and impact per piece of one curve, padded to ``k``."""
    sizes = np.zeros(k)
    prices = np.zeros(k)
    n = len(curve.segments)
    sizes[:n] = [seg.size for seg in curve.segments]
    prices[:n] = [seg.price for seg in curve.segments]
    f = fee_rate(state)
    if curve.side is Side.SELL:
        cost = mark - prices
        fee = prices * f / (1 - f)  # fee comes off the base paid in: worth p·f/(1−f) per unit at the fee-free price
        impact = state.mid_price - prices / (1 - f)
        spend = np.zeros(k)
    else:
        cost = prices - mark
        fee = prices * f  # fee comes off the quote paid in
        impact = prices * (1 - f) - state.mid_price
        spend = prices
    live = sizes > 0
    return sizes, np.where(live, cost, 0.0), np.where(live, fee, 0.0), spend, np.where(live, impact, 0.0)


def risk_lines(target: HedgeTarget, pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and intercepts of the interpolant's pieces (a tangent where two breakpoints coincide)."""
    b = risk_breakpoints(target, pieces)
    q = target.risk_price * (b - target.target) ** 2
    lo, hi = b[:-1], b[1:]
    span = hi - lo
    same = span <= 1e-12 * max(1.0, float(np.abs(b).max()))
    slope = np.where(same, 2 * target.risk_price * (lo - target.target), (q[1:] - q[:-1]) / np.where(same, 1.0, span))
    return slope, q[:-1] - slope * lo


def pack(problem: HedgeProblem, states: list[VenueState], shape: ModelShape) -> PackedData:
    """Parameter values for ``states`` (in model order) under ``problem``'s targets, limits and switches."""
    k, nv = shape.segments, len(states)
    targets = {t.underlying: t for t in problem.targets}
    s = problem.settings
    cols: list[list[np.ndarray]] = [[], [], [], [], []]
    gas, enabled, min_units, notional = np.zeros(2 * nv), np.zeros(2 * nv), np.zeros(2 * nv), []
    disabled_chains, disabled_venues = set(problem.disabled_chains), set(problem.disabled_venues)
    for v, st in enumerate(states):
        mark = targets[st.underlying].mark_price_usd
        on = st.chain not in disabled_chains and venue_key(st) not in disabled_venues
        for si, curve in enumerate((st.sell, st.buy)):
            cap = s.max_price_impact_bps / 1e4 * st.mid_price
            arrays = _piece_arrays(st, curve, mark, k)
            for col, arr in zip(cols, arrays, strict=True):
                col.append(arr)
            cols[4][-1] = np.where(arrays[0] > 0, arrays[4] - cap, 0.0)
            notional.append(np.full(k, mark))
            j = 2 * v + si
            gas[j] = problem.gas_usd[venue_key(st)]
            enabled[j] = 1.0 if on else 0.0
            min_units[j] = s.min_trade_usd / mark
    width, cost, fee, price, slack = (np.concatenate(c) for c in cols)
    lines = [risk_lines(targets[u], s.risk_pieces) for u in shape.underlyings]
    delta0 = np.array([targets[u].current_delta for u in shape.underlyings])
    slopes = np.array([ln[0] for ln in lines])
    intercepts = np.array([ln[1] for ln in lines]) + slopes * delta0[:, None]  # r = delta0 + m
    inv = problem.inventory
    return PackedData(
        width=width, cost=cost, fee=fee, price=price, impact_slack=slack, notional=np.concatenate(notional),
        gas=gas, enabled=enabled, min_units=min_units,
        move_lower=np.array([targets[u].lower for u in shape.underlyings]) - delta0,
        move_upper=np.array([targets[u].upper for u in shape.underlyings]) - delta0,
        slopes=slopes, intercepts=intercepts,
        inv_base=np.array([max(0.0, inv.get(c, {}).get(b, 0.0)) for c, b in shape.base_groups]),
        inv_quote=np.array([max(0.0, inv.get(c, {}).get(q, 0.0)) for c, q in shape.quote_groups]),
        max_notional=s.max_notional_usd_per_run,
        max_trades=float(s.max_trades if s.max_trades is not None else 2 * nv),
    )
