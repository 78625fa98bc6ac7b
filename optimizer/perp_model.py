"""Perp markets in the hedge model's data: which options a run holds, their parameter values (:class:`PerpData`, pure
numpy) and the solver's fills turned back into priced :class:`~optimizer.perps.PlannedPerpTrade`\\ s. The term that
uses these values is :mod:`optimizer.perp_term`; the definitions both follow are :mod:`optimizer.perps`.

Fills are one flat vector over (perp, side, piece): index ``(2·p + s)·Kp + k`` (``s = 0`` short, ``1`` long), curves
padded to ``Kp`` pieces as a venue's are.

Usage::

    options = perp_options(problem)
    data = perp_data(problem, options, kp)
    trades = perps_from(problem, options, fills, used)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters import Side
from optimizer.perps import PerpOption, PlannedPerpTrade, capacity, fee_rate, planned_perp_trade
from optimizer.problem import HedgeProblem

DUST = 1e-9


def perp_options(problem: HedgeProblem) -> list[PerpOption]:
    """The perp markets a run may trade, in model order: those of an underlying with a target, by key."""
    targets = {t.underlying for t in problem.targets}
    return sorted((p for p in problem.perps if p.underlying in targets), key=lambda p: p.key)


def perp_segments(options: list[PerpOption]) -> int:
    """Pieces per perp curve, padded to a power of two (so nearby lengths share a model); 0 without perps."""
    if not options:
        return 0
    longest = max(max(len(p.sell.segments), len(p.buy.segments)) for p in options)
    return 1 << max(0, (longest - 1).bit_length())


@dataclass(frozen=True)
class PerpData:
    """The perp term's parameter values for one run (perps in :func:`perp_options` order; see optimizer.perp_term)."""

    width: np.ndarray  # (2P·Kp,) piece sizes, base units
    cost: np.ndarray  # (2P·Kp,) USD per unit against the vAMM's mid (fee + impact): the objective's
    value_cost: np.ndarray  # (2P·Kp,) USD per unit against the mark: what a fill takes off the account value
    impact_slack: np.ndarray  # (2P·Kp,) impact against the vAMM's mid minus the cap, USD per unit
    notional: np.ndarray  # (2P·Kp,) the underlying's mark: USD notional per unit (optimizer's notional cap)
    gas: np.ndarray  # (2P,)
    enabled: np.ndarray  # (2P,)
    min_units: np.ndarray  # (2P,)
    funding: np.ndarray  # (P,) USD per base unit bought over the horizon: index · rate · days
    size0: np.ndarray  # (P,) size now
    lo: np.ndarray  # (P,) reduce-only sizes lie in [lo, hi] = [min(0, s), max(0, s)]
    hi: np.ndarray
    big_n: np.ndarray  # (P,) a bound on |size − s| past any reachable size (frees the reduce-only box)
    im_mark: np.ndarray  # (P,) im_ratio · mark
    im_room: np.ndarray  # (P,) min(collateral − owed, account value)
    big_im: np.ndarray  # (P,)
    mm_down: np.ndarray  # (P,) mm_ratio · mark · (1 − stress)
    mm_up: np.ndarray  # (P,) mm_ratio · mark · (1 + stress)
    lin_down: np.ndarray  # (P,) −stress · mark
    lin_up: np.ndarray  # (P,) stress · mark
    value0: np.ndarray  # (P,) account value now
    big_down: np.ndarray  # (P,)
    big_up: np.ndarray  # (P,)


def _pieces(options: list[PerpOption], kp: int) -> tuple[np.ndarray, np.ndarray]:
    sizes, prices = np.zeros((2 * len(options), kp)), np.zeros((2 * len(options), kp))
    for p, opt in enumerate(options):
        for s, curve in enumerate((opt.sell, opt.buy)):
            for k, seg in enumerate(curve.segments):
                sizes[2 * p + s, k], prices[2 * p + s, k] = seg.size, seg.price
    return sizes, prices


def perp_data(problem: HedgeProblem, options: list[PerpOption], kp: int) -> PerpData:
    """The perp term's parameter values (see :mod:`optimizer.perps` for the definitions they follow)."""
    s = problem.settings
    stress, days = problem.perp_stress_move, problem.perp_funding_horizon_days
    sizes, prices = _pieces(options, kp)
    mark = np.repeat([o.mark_price for o in options], 2)[:, None]
    mid = np.repeat([o.mid_price for o in options], 2)[:, None]
    f = np.repeat([fee_rate(o) for o in options], 2)[:, None]
    sell = (np.arange(2 * len(options)) % 2 == 0)[:, None]
    live = sizes > 0
    cost = np.where(live, np.where(sell, mid - prices, prices - mid), 0.0)
    value_cost = np.where(live, np.where(sell, mark - prices, prices - mark), 0.0)
    impact = np.where(sell, mid - prices / (1 - f), prices * (1 - f) - mid)
    slack = np.where(live, impact - s.max_price_impact_bps / 1e4 * mid, 0.0)
    marks = {t.underlying: t.mark_price_usd for t in problem.targets}
    under = np.repeat([marks[o.underlying] for o in options], 2)[:, None]
    off_chains, off_keys = set(problem.disabled_chains), set(problem.disabled_venues)
    mins = np.array([max(o.min_trade, s.min_trade_usd / marks[o.underlying]) for o in options for _ in (0, 1)])
    caps = np.array([capacity(o, side) for o in options for side in (Side.SELL, Side.BUY)])
    on = np.array([o.chain not in off_chains and o.key not in off_keys for o in options for _ in (0, 1)])
    enabled = (on & (caps >= mins * (1 - 1e-12)) & (caps > 0)).astype(float)
    size0 = np.array([o.size for o in options])
    marks_p = np.array([o.mark_price for o in options])
    reach = np.abs(size0) + caps.reshape(-1, 2).sum(axis=1)  # no reachable size is larger
    worst_cost = (np.abs(value_cost) * sizes).reshape(len(options), -1).sum(axis=1)
    value0 = np.array([o.value_usd for o in options])
    im_room = np.array([o.im_room_usd for o in options])
    im_mark = np.array([o.im_ratio for o in options]) * marks_p
    mm = np.array([o.mm_ratio for o in options]) * marks_p
    big_im = im_mark * reach + worst_cost + np.maximum(0.0, -im_room) + 1.0
    big_down = mm * (1 - stress) * reach + stress * marks_p * reach + worst_cost + np.maximum(0.0, -value0) + 1.0
    big_up = mm * (1 + stress) * reach + stress * marks_p * reach + worst_cost + np.maximum(0.0, -value0) + 1.0
    flat = (sizes, cost, value_cost, slack, np.broadcast_to(under, sizes.shape))
    width, cost_v, value_v, slack_v, notional = (np.ascontiguousarray(a, dtype=float).ravel() for a in flat)
    return PerpData(
        width=width, cost=cost_v, value_cost=value_v, impact_slack=slack_v, notional=notional,
        gas=np.array([o.gas_usd for o in options for _ in (0, 1)], dtype=float), enabled=enabled, min_units=mins,
        funding=np.array([o.index_price * o.daily_funding_rate * days for o in options]),
        size0=size0, lo=np.minimum(0.0, size0), hi=np.maximum(0.0, size0), big_n=reach + 1.0,
        im_mark=im_mark, im_room=im_room, big_im=big_im, mm_down=mm * (1 - stress), mm_up=mm * (1 + stress),
        lin_down=-stress * marks_p, lin_up=stress * marks_p, value0=value0, big_down=big_down, big_up=big_up,
    )


def perps_from(problem: HedgeProblem, options: list[PerpOption], fills: np.ndarray,
               used: np.ndarray) -> list[PlannedPerpTrade]:
    """The solver's perp fills as priced trades (one per used market and side; dust is no trade)."""
    if not options:
        return []
    per_trade = fills.reshape(2 * len(options), -1).sum(axis=1)
    out = []
    for j in np.flatnonzero((used > 0.5) & (per_trade > DUST)):
        option, side = options[j // 2], Side.SELL if j % 2 == 0 else Side.BUY
        base = min(float(per_trade[j]), capacity(option, side))
        out.append(planned_perp_trade(option, side, base, problem.perp_funding_horizon_days,
                                      problem.perp_stress_move))
    return out


def option_of(problem: HedgeProblem, trade: PlannedPerpTrade) -> PerpOption | None:
    return next((p for p in problem.perps if p.key == trade.key), None)
