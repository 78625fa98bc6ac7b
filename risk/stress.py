"""Stress grid: re-price the whole book (options, LP positions, inventory) under price and implied-vol shocks.

Each cell applies one relative price shock to the market and one relative shock to every implied vol, then reports
the book's P&L against the unshocked value and its post-shock delta per underlying: the view a desk checks before
trusting an automated hedger.

Correlated moves: with ``betas`` (each underlying's log-return beta on a lead underlying, from the joint history:
:meth:`risk.var.JointReturns.betas`) a price shock x moves the lead by x and underlying u by (1 + x)^β_u − 1, so
with ETH leading and β_BTC ≈ 0.7 a −40% ETH move comes with ≈ −30% BTC, the way they moved together. Without
betas every non-cash underlying moves by the same x (a market-wide flash move, the old grid).

Perps (risk.perps) move with their underlying's shocked mark, with no vol sensitivity. A perp account that the shock
takes below maintenance (account value < mm · |size| · shocked mark) is liquidated in that cell: it is listed in
``StressCell.liquidated``, closed at the shocked mark paying Curie's liquidation penalty (risk.perps), and its size
leaves the post-shock delta. ``liquidation_usd`` is what that changes in ``pnl_usd`` against marking the position to
market (the penalties): a hedged book's P&L stays near zero until its perp is liquidated, and from there the book
pays the penalty and holds an unhedged delta.

Usage::

    grid = stress_grid(positions, {"ETH": 3000.0, "BTC": 60000.0}, now)
    grid = stress_grid(positions, marks, now, betas=joint_returns([eth, btc]).betas("ETH"))
    for cell in grid.cells: print(cell.price_shock, cell.vol_shock, cell.pnl_usd)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydantic import BaseModel

from adapters import PerpPosition
from crosshedge import Frozen
from risk.aggregate import CASH_UNDERLYINGS, aggregate
from risk.perps import account_value, account_values, liquidatable, perp_id

PRICE_SHOCKS = (-0.40, -0.20, -0.10, -0.05, 0.0, 0.05, 0.10, 0.20, 0.40)
VOL_SHOCKS = (-0.50, -0.25, 0.0, 0.25, 0.50)


class StressCell(Frozen):
    price_shock: float
    vol_shock: float
    value_usd: float
    pnl_usd: float
    delta: dict[str, float]  # post-shock delta per underlying, units (without the liquidated perps)
    delta_usd: dict[str, float]
    liquidated: tuple[str, ...] = ()  # perp accounts (risk.perps.perp_id) below maintenance at this shock
    liquidation_usd: float = 0.0  # the part of pnl_usd their liquidation makes: the penalties paid (≤ 0)


class StressGrid(Frozen):
    base_value_usd: float
    betas: dict[str, float] | None = None  # the price shock is the lead's; underlying u moves by (1 + x)^β_u − 1
    price_shocks: tuple[float, ...]
    vol_shocks: tuple[float, ...]
    cells: tuple[StressCell, ...]

    def cell(self, price_shock: float, vol_shock: float) -> StressCell:
        for c in self.cells:
            if abs(c.price_shock - price_shock) < 1e-12 and abs(c.vol_shock - vol_shock) < 1e-12:
                return c
        raise KeyError((price_shock, vol_shock))

    def worst(self) -> StressCell:
        return min(self.cells, key=lambda c: c.pnl_usd)

    def liquidations(self) -> dict[float, tuple[str, ...]]:
        """The perp accounts liquidated at each price shock that liquidates any (vol shocks do not move perps)."""
        return {c.price_shock: c.liquidated for c in self.cells if c.liquidated}


@dataclass(frozen=True)
class _Liquidations:
    """What liquidating the perps a shock takes below maintenance changes in one price shock's cells."""

    ids: tuple[str, ...]
    usd: float
    delta: dict[str, float]  # per underlying: the liquidated sizes, which leave the post-shock delta


def _liquidations(perps: Sequence[PerpPosition], shocked: Mapping[str, float]) -> _Liquidations:
    gone = [p for p in perps if liquidatable(p, shocked[p.underlying])]
    delta: dict[str, float] = {}
    for p in gone:
        delta[p.underlying] = delta.get(p.underlying, 0.0) + p.size
    usd = sum(float(account_values(p, np.array([shocked[p.underlying]]))[0]) - account_value(p, shocked[p.underlying])
              for p in gone)
    return _Liquidations(ids=tuple(perp_id(p) for p in gone), usd=usd, delta=delta)


def stress_grid(
    positions: Sequence[BaseModel],
    prices: Mapping[str, float],
    now: datetime,
    *,
    price_shocks: Sequence[float] = PRICE_SHOCKS,
    vol_shocks: Sequence[float] = VOL_SHOCKS,
    rate: float = 0.0,
    betas: Mapping[str, float] | None = None,
) -> StressGrid:
    """P&L and post-shock delta for every (price shock, vol shock) pair.

    Usage: ``stress_grid(positions, marks, datetime.now(UTC)).worst()``
    """
    base = aggregate(positions, prices, now, rate).value_usd
    perps = [p for p in positions if isinstance(p, PerpPosition)]
    cells = []
    for ds in price_shocks:
        shocked = {u: p if u in CASH_UNDERLYINGS else p * (1.0 + ds) ** (1.0 if betas is None else betas.get(u, 1.0))
                   for u, p in prices.items()}
        liq = _liquidations(perps, shocked)  # the base aggregate above has checked every perp has a mark
        for dv in vol_shocks:
            report = aggregate(positions, shocked, now, rate, vol_mult=1.0 + dv)
            value = report.value_usd + liq.usd
            delta = {u.underlying: u.delta - liq.delta.get(u.underlying, 0.0) for u in report.underlyings}
            cells.append(StressCell(
                price_shock=ds, vol_shock=dv, value_usd=value, pnl_usd=value - base, delta=delta,
                delta_usd={u.underlying: delta[u.underlying] * u.price for u in report.underlyings},
                liquidated=liq.ids, liquidation_usd=liq.usd,
            ))
    return StressGrid(base_value_usd=base, betas=None if betas is None else dict(betas),
                      price_shocks=tuple(price_shocks), vol_shocks=tuple(vol_shocks),
                      cells=tuple(cells))
