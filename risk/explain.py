"""P&L explain: split a P&L over a step into Greek terms, costs and an unexplained rest.

For a step from (S0, σ0, t0) to (S1, σ1, t1), with the Greeks taken at the start of the step:

    delta       = Δ·dS            (Δ of the whole position: options + LP + spot + hedges)
    gamma       = ½·Γ·dS²
    vega        = V·dσ            (V per 1.00 of vol, as :func:`risk.bsm` reports it)
    theta       = Θ·dt            (Θ per year of calendar time, dt in years)
    funding     = perp funding paid or received (0 until perps exist; a field so reports keep their shape)
    fees        = −(fees + price impact) paid on hedge trades
    gas         = −gas paid
    unexplained = actual − (all of the above): cross terms (vanna, volga, charm), higher orders, expiries and rolls

Every figure is USD; a negative number is a loss. Summing steps gives the explain over a day or a whole run.
:func:`explain_between` does the same for the whole live book between two :class:`risk.RiskReport` s (a hedge
run's snapshot and the next one's).

Usage::

    e = explain_step(delta=-12.0, gamma=-0.02, vega=-900.0, theta=4000.0, ds=15.0, dvol=0.01, dt_years=1 / 365,
                     actual=-200.0, fees=3.0, gas=0.5)
    e.unexplained
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from crosshedge import Frozen
from risk.aggregate import RiskReport
from risk.greeks import FloatArray

EXPLAIN_FIELDS = ("delta", "gamma", "vega", "theta", "funding", "fees", "gas", "unexplained")


class PnlExplain(Frozen):
    """One step's (or a sum of steps') P&L split into its parts; ``actual`` = the sum of every part."""

    actual: float
    delta: float
    gamma: float
    vega: float
    theta: float
    funding: float = 0.0
    fees: float = 0.0
    gas: float = 0.0
    unexplained: float

    def __add__(self, other: PnlExplain) -> PnlExplain:
        return PnlExplain(**{k: getattr(self, k) + getattr(other, k) for k in ("actual", *EXPLAIN_FIELDS)})

    @classmethod
    def total(cls, parts: Iterable[PnlExplain]) -> PnlExplain:
        out = cls.zero()
        for p in parts:
            out = out + p
        return out

    @classmethod
    def zero(cls) -> PnlExplain:
        return cls(actual=0.0, delta=0.0, gamma=0.0, vega=0.0, theta=0.0, unexplained=0.0)


def explain_step(  # the Greeks and the moves, in the formula's order
    delta: float, gamma: float, vega: float, theta: float, ds: float, dvol: float, dt_years: float, actual: float,
    fees: float = 0.0, gas: float = 0.0, funding: float = 0.0,
) -> PnlExplain:
    """Explain one step; ``fees`` and ``gas`` are the amounts paid (>= 0), booked as losses.

    Usage: ``explain_step(1.0, 0.0, 0.0, 0.0, ds=10.0, dvol=0.0, dt_years=0.0, actual=10.0).unexplained``  # 0.0
    """
    parts = {"delta": delta * ds, "gamma": 0.5 * gamma * ds * ds, "vega": vega * dvol, "theta": theta * dt_years,
             "funding": funding, "fees": -fees, "gas": -gas}
    return PnlExplain(actual=actual, unexplained=actual - sum(parts.values()), **parts)


def explain_arrays(  # vectorised: one entry per step
    delta: FloatArray, gamma: FloatArray, vega: FloatArray, theta: FloatArray, ds: FloatArray, dvol: FloatArray,
    dt_years: FloatArray, actual: FloatArray, fees: FloatArray, gas: FloatArray,
) -> dict[str, FloatArray]:
    """The same split for arrays of steps: ``{"actual": ..., "delta": ..., ..., "unexplained": ...}``."""
    parts = {"delta": delta * ds, "gamma": 0.5 * gamma * ds * ds, "vega": vega * dvol, "theta": theta * dt_years,
             "funding": np.zeros_like(actual), "fees": -fees, "gas": -gas}
    rest = actual - sum(parts.values())
    return {"actual": actual, **parts, "unexplained": rest}


def explain_between(before: RiskReport, after: RiskReport, traded: Mapping[str, float] | None = None,
                    fees: float = 0.0, gas: float = 0.0, funding: float = 0.0) -> PnlExplain:
    """Explain the book's value change between two risk reports (e.g. one hedge run's snapshot and the next's).

    ``traded``: units bought (> 0) or sold per underlying right after ``before`` (the run's hedge), so the delta
    term uses the post-hedge delta; ``fees``/``gas``: what those trades paid (the ledger's realised costs), already
    inside ``after``'s value through the wallet's balances. Vega uses each underlying's gamma-weighted vol change;
    whatever the Greeks miss (LP fees and LVR, positions added or removed between the two) is unexplained.

    Usage: ``explain_between(report_at_run, report_at_next_run, {"ETH": 12.0}, fees=4.1, gas=0.6)``
    """
    days = (after.as_of - before.as_of).total_seconds() / 86400.0
    parts = {"delta": 0.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    later = {u.underlying: u for u in after.underlyings}
    for u in before.underlyings:
        nxt = later.get(u.underlying)
        if nxt is None:
            continue
        ds = nxt.price - u.price
        parts["delta"] += (u.delta + (traded or {}).get(u.underlying, 0.0)) * ds
        parts["gamma"] += 0.5 * u.gamma * ds * ds
        parts["vega"] += u.vega * (nxt.vol - u.vol) * 100.0  # vega is per vol point
        parts["theta"] += u.theta_day * days
    costs = {"funding": funding, "fees": -fees, "gas": -gas}
    actual = after.value_usd - before.value_usd
    return PnlExplain(actual=actual, unexplained=actual - sum(parts.values()) - sum(costs.values()), **parts, **costs)
