"""Risk aggregation: Greeks of every position (options, Uniswap V3 LP, spot) per underlying, in units and USD.

Input is plain: a list of position models (:class:`OptionPosition`, :class:`LpPosition`, and any spot model with
``underlying`` and ``amount``, such as ``adapters.erc20.SpotPosition``), mark prices ``{underlying: USD}`` (the
orchestrator passes the venues' median mid) and the valuation time. Output is a frozen :class:`RiskReport` that
keeps the breakdown per (source, chain) under each underlying and round-trips to JSON.

Units per underlying: ``delta`` in units, ``delta_usd`` = delta·S; ``gamma`` in units per USD, ``gamma_usd`` =
Γ·S²/100 (the change of delta_usd for a 1% move); ``vega`` USD per vol point (1%); ``theta_day`` USD per calendar
day; ``lvr_day`` the LP positions' loss-versus-rebalancing per day at the book's vol. Stablecoin underlyings
(USD, USDC, ...) are cash: counted in ``cash_usd``, no Greeks.

Usage::

    report = aggregate(positions, {"ETH": 3012.5, "BTC": 60110.0}, now=datetime.now(UTC))
    report.underlying("ETH").delta_usd
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import AwareDatetime, BaseModel

from adapters import LpPosition, OptionPosition, VenueState
from crosshedge import Frozen, InputError
from risk.greeks import bsm
from risk.lp import human_range, lp_delta, lp_gamma, lp_value, lvr_rate

CASH_UNDERLYINGS = frozenset({"USD", "USDC", "USDT", "DAI"})
DEFAULT_LP_VOL = 0.6  # LVR vol when the book has no option on the underlying to take an implied vol from


class Greeks(Frozen):
    """The Greeks every risk row carries, in units of the underlying and in USD."""

    value_usd: float
    delta: float
    delta_usd: float
    gamma: float
    gamma_usd: float
    vega: float
    theta_day: float
    vanna: float
    lvr_day: float


class RiskLine(Greeks):
    """Greeks of the positions of one source on one chain (or venue) for one underlying."""

    source: str
    chain: str
    underlying: str
    positions: int


class UnderlyingRisk(Greeks):
    """Net Greeks of one underlying across every source and chain, with the breakdown."""

    underlying: str
    price: float
    vol: float  # gamma-weighted implied vol of the options (policy input)
    tau: float  # gamma-weighted years to expiry of the options (policy input)
    lines: tuple[RiskLine, ...]


class RiskReport(Frozen):
    """The whole book's risk at one time and set of marks."""

    as_of: AwareDatetime
    prices: dict[str, float]
    cash_usd: float
    value_usd: float
    underlyings: tuple[UnderlyingRisk, ...]

    def underlying(self, name: str) -> UnderlyingRisk:
        for u in self.underlyings:
            if u.underlying == name:
                return u
        raise KeyError(name)


@dataclass
class _Acc:
    """Running sums for one (underlying, source, chain)."""

    positions: int = 0
    value: float = 0.0
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    vanna: float = 0.0
    lvr: float = 0.0
    gamma_abs: float = 0.0
    vol_w: float = 0.0
    tau_w: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _price(prices: Mapping[str, float], underlying: str, what: str) -> float:
    if underlying in CASH_UNDERLYINGS:
        return 1.0
    price = prices.get(underlying)
    if price is None or not price > 0:
        raise InputError(f"no mark price for {underlying} (needed by {what}); marks given for {sorted(prices)}")
    return float(price)


def _options(  # private helper
    acc: dict[tuple[str, str, str], _Acc], options: Sequence[OptionPosition], prices: Mapping[str, float],
             now: datetime, rate: float, vol_mult: float) -> None:
    if not options:
        return
    spot = np.array([_price(prices, o.underlying, f"option {o.id}") for o in options])
    vols = np.array([o.implied_vol(s) for o, s in zip(options, spot, strict=True)]) * vol_mult
    tau = np.array([max(o.years_to_expiry(now), 0.0) for o in options])
    g = bsm(np.array([o.kind == "call" for o in options]), spot, np.array([o.strike for o in options]), tau, rate,
            0.0, vols)
    size = np.array([o.size for o in options])
    for i, o in enumerate(options):
        a = acc[(o.underlying, o.source, o.chain)]
        a.positions += 1
        a.value += size[i] * g.price[i]
        a.delta += size[i] * g.delta[i]
        a.gamma += size[i] * g.gamma[i]
        a.vega += size[i] * g.vega[i] / 100.0
        a.theta += size[i] * g.theta_day[i]
        a.vanna += size[i] * g.vanna[i]
        a.gamma_abs += abs(size[i] * g.gamma[i])
        a.vol_w += abs(size[i] * g.gamma[i]) * vols[i]
        a.tau_w += abs(size[i] * g.gamma[i]) * tau[i]


def _lp(acc: dict[tuple[str, str, str], _Acc], lp: LpPosition, prices: Mapping[str, float], vol: float) -> None:
    s = _price(prices, lp.underlying, f"LP position {lp.id}")
    q = _price(prices, lp.quote_underlying, f"LP position {lp.id}")
    rng = human_range(lp.liquidity, lp.tick_lower, lp.tick_upper, lp.decimals0, lp.decimals1, lp.risky_is_token0)
    rel = s / q  # the pool prices the risky token in the quote token
    a = acc[(lp.underlying, lp.source, lp.chain)]
    a.positions += 1
    a.value += float(lp_value(rng.liquidity, rel, rng.lower, rng.upper)) * q + lp.owed_risky * s + lp.owed_quote * q
    a.delta += float(lp_delta(rng.liquidity, rel, rng.lower, rng.upper)) + lp.owed_risky
    a.gamma += float(lp_gamma(rng.liquidity, rel, rng.lower, rng.upper)) / q
    a.lvr += float(lvr_rate(rng.liquidity, rel, rng.lower, rng.upper, vol)) * q / 365.0


def _spot(acc: dict[tuple[str, str, str], _Acc], pos: Any, prices: Mapping[str, float]) -> float:
    """Add a spot holding; returns its USD value when it is cash."""
    underlying = str(pos.underlying)
    amount = float(pos.amount)
    if underlying in CASH_UNDERLYINGS:
        return amount
    s = _price(prices, underlying, f"spot {getattr(pos, 'symbol', underlying)} on {getattr(pos, 'chain', '?')}")
    a = acc[(underlying, str(getattr(pos, "source", "erc20")), str(getattr(pos, "chain", "wallet")))]
    a.positions += 1
    a.value += amount * s
    a.delta += amount
    return 0.0


def _evaluate(positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, rate: float,
              vol_mult: float) -> tuple[dict[tuple[str, str, str], _Acc], float]:
    acc: dict[tuple[str, str, str], _Acc] = defaultdict(_Acc)
    options = [p for p in positions if isinstance(p, OptionPosition)]
    _options(acc, options, prices, now, rate, vol_mult)
    cash = 0.0
    for p in positions:
        if isinstance(p, LpPosition):
            vols = [o.implied_vol(prices.get(o.underlying, 1.0)) for o in options if o.underlying == p.underlying]
            _lp(acc, p, prices, (float(np.mean(vols)) if vols else DEFAULT_LP_VOL) * vol_mult)
        elif not isinstance(p, OptionPosition):
            if not (hasattr(p, "underlying") and hasattr(p, "amount")):
                raise InputError(f"position {p!r} is neither an option, an LP position nor spot (underlying, amount)")
            cash += _spot(acc, p, prices)
    return acc, cash


def _line(key: tuple[str, str, str], a: _Acc, s: float) -> RiskLine:
    u, source, chain = key
    return RiskLine(
        source=source, chain=chain, underlying=u, positions=a.positions, value_usd=a.value, delta=a.delta,
        delta_usd=a.delta * s, gamma=a.gamma, gamma_usd=a.gamma * s * s / 100.0, vega=a.vega, theta_day=a.theta,
        vanna=a.vanna, lvr_day=a.lvr,
    )


def marks_from_venues(states: Sequence[VenueState]) -> dict[str, float]:
    """Median mid per underlying over every venue quoted in USD (the book's marks)."""
    mids: dict[str, list[float]] = {}
    for v in states:
        if v.quote.underlying == "USD":
            mids.setdefault(v.underlying, []).append(v.mid_price)
    return {u: statistics.median(m) for u, m in mids.items()}


def aggregate(
    positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, rate: float = 0.0,
    vol_mult: float = 1.0,
) -> RiskReport:
    """Greeks per underlying with the (source, chain) breakdown; ``vol_mult`` scales every implied vol (stress).

    Usage: ``aggregate(options + lps + spot, {"ETH": 3000.0}, datetime.now(UTC))``
    """
    acc, cash = _evaluate(positions, prices, now, rate, vol_mult)
    by_u: dict[str, list[tuple[tuple[str, str, str], _Acc]]] = defaultdict(list)
    for key, a in sorted(acc.items()):
        by_u[key[0]].append((key, a))
    out = []
    for u, items in sorted(by_u.items()):
        s = _price(prices, u, "the report")
        lines = tuple(_line(k, a, s) for k, a in items)
        gabs = sum(a.gamma_abs for _, a in items)
        out.append(UnderlyingRisk(
            underlying=u, price=s, value_usd=sum(ln.value_usd for ln in lines), delta=sum(ln.delta for ln in lines),
            delta_usd=sum(ln.delta_usd for ln in lines), gamma=sum(ln.gamma for ln in lines),
            gamma_usd=sum(ln.gamma_usd for ln in lines), vega=sum(ln.vega for ln in lines),
            theta_day=sum(ln.theta_day for ln in lines), vanna=sum(ln.vanna for ln in lines),
            lvr_day=sum(ln.lvr_day for ln in lines),
            vol=sum(a.vol_w for _, a in items) / gabs if gabs else DEFAULT_LP_VOL,
            tau=max(sum(a.tau_w for _, a in items) / gabs, 1e-6) if gabs else 30 / 365, lines=lines,
        ))
    value = cash + sum(u.value_usd for u in out)
    return RiskReport(as_of=now, prices={k: float(v) for k, v in prices.items()}, cash_usd=cash, value_usd=value,
                      underlyings=tuple(out))
