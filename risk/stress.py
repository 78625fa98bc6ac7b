"""Stress grid: re-price the whole book (options, LP positions, inventory) under price and implied-vol shocks.

Each cell applies one relative price shock to the market and one relative shock to every implied vol, then reports
the book's P&L against the unshocked value and its post-shock delta per underlying: the view a desk checks before
trusting an automated hedger.

Correlated moves: with ``betas`` (each underlying's log-return beta on a lead underlying, from the joint history:
:meth:`risk.var.JointReturns.betas`) a price shock x moves the lead by x and underlying u by (1 + x)^β_u − 1, so
with ETH leading and β_BTC ≈ 0.7 a −40% ETH move comes with ≈ −30% BTC, the way they moved together. Without
betas every non-cash underlying moves by the same x (a market-wide flash move, the old grid).

Usage::

    grid = stress_grid(positions, {"ETH": 3000.0, "BTC": 60000.0}, now)
    grid = stress_grid(positions, marks, now, betas=joint_returns([eth, btc]).betas("ETH"))
    for cell in grid.cells: print(cell.price_shock, cell.vol_shock, cell.pnl_usd)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel

from crosshedge import Frozen
from risk.aggregate import CASH_UNDERLYINGS, aggregate

PRICE_SHOCKS = (-0.40, -0.20, -0.10, -0.05, 0.0, 0.05, 0.10, 0.20, 0.40)
VOL_SHOCKS = (-0.50, -0.25, 0.0, 0.25, 0.50)


class StressCell(Frozen):
    price_shock: float
    vol_shock: float
    value_usd: float
    pnl_usd: float
    delta: dict[str, float]  # post-shock delta per underlying, units
    delta_usd: dict[str, float]


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
    cells = []
    for ds in price_shocks:
        shocked = {u: p if u in CASH_UNDERLYINGS else p * (1.0 + ds) ** (1.0 if betas is None else betas.get(u, 1.0))
                   for u, p in prices.items()}
        for dv in vol_shocks:
            report = aggregate(positions, shocked, now, rate, vol_mult=1.0 + dv)
            cells.append(StressCell(
                price_shock=ds, vol_shock=dv, value_usd=report.value_usd, pnl_usd=report.value_usd - base,
                delta={u.underlying: u.delta for u in report.underlyings},
                delta_usd={u.underlying: u.delta_usd for u in report.underlyings},
            ))
    return StressGrid(base_value_usd=base, betas=None if betas is None else dict(betas),
                      price_shocks=tuple(price_shocks), vol_shocks=tuple(vol_shocks),
                      cells=tuple(cells))
