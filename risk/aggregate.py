"""Risk aggregation: Greeks of every position (options, Uniswap V3 LP, perps, spot) per underlying, in units and USD.

Input is plain: a list of position models (:class:`OptionPosition`, :class:`LpPosition`, :class:`PerpPosition`, and
any spot model with ``underlying`` and ``amount``, such as ``adapters.erc20.SpotPosition``), mark prices
``{underlying: USD}`` (the orchestrator passes the venues' median mid) and the valuation time. Output is a frozen
:class:`RiskReport` that keeps, under each underlying, the breakdown per (source, chain), per expiry bucket
(risk.buckets) and the option lines with the largest vega (with their share of the net and of the gross vega), and
round-trips to JSON.

Options are valued on their vol surface under its smile dynamics (risk.smile): this function is the book's one
revaluation, which the stress grid calls with shocked marks and vols, and every Greek it reports is the derivative
of its own ``value_usd`` under the same rules.

Units per underlying: ``delta`` in units, ``delta_usd`` = delta·S; ``gamma`` in units per USD, ``gamma_usd`` =
Γ·S²/100 (the change of delta_usd for a 1% move); ``vega`` USD per vol point (1%); ``theta_day`` USD per calendar
day; ``vanna`` units of delta per 1.00 of vol; ``volga`` USD of vega per vol point, per vol point; ``lvr_day`` the
LP positions' loss-versus-rebalancing per day at the book's vol. Stablecoin underlyings
(USD, USDC, ...) are cash: counted in ``cash_usd``, no Greeks.

A perp account (Perpetual Protocol v2, risk.perps) is its own (source, chain) line with no expiry: delta = size,
value = its unrealised P&L at the book's mark S (size·S + open_notional − owed funding), theta_day = −the funding it
pays per day (size · index · rate, at the market's index, S when not read), no gamma or vega; its Vault collateral is
cash (in ``cash_usd``), so the book counts the account's value once. ``RiskReport.perps`` carries each account's
margin at S (:class:`risk.perps.PerpLine`: margin ratio, free collateral, liquidation price and distance, funding,
whether it survives the ±40 % stress move).

Usage::

    report = aggregate(positions, {"ETH": 3012.5, "BTC": 60110.0}, now=datetime.now(UTC))
    report.underlying("ETH").delta_usd
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import AwareDatetime, BaseModel

from adapters import LpPosition, OptionPosition, PerpPosition, VenueState
from crosshedge import Frozen, InputError
from risk.buckets import EXPIRY_BUCKET_DAYS, NO_EXPIRY, bucket_labels, expiry_bucket
from risk.greeks import DAYS_PER_YEAR, FloatArray
from risk.lp import human_range, lp_delta, lp_gamma, lp_value, lvr_rate
from risk.perps import PerpLine, perp_line
from risk.smile import smile_greeks

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
    volga: float = 0.0  # USD of vega per vol point, per vol point (d vega / d sigma)


class RiskLine(Greeks):
    """Greeks of the positions of one source on one chain (or venue) for one underlying."""

    source: str
    chain: str
    underlying: str
    positions: int
    vega_share: float = 0.0  # this row's vega / the underlying's net vega (0 when the net is 0)
    vega_gross_share: float = 0.0  # sum of |vega| of its positions / the underlying's sum of |vega|


class ExpiryBucket(Greeks):
    """Greeks of one underlying's positions in one expiry bucket (``none``: LP and spot, which do not expire)."""

    bucket: str
    underlying: str
    positions: int
    vega_share: float = 0.0
    vega_gross_share: float = 0.0


class VegaLine(Frozen):
    """One option line's vega and its share of the underlying's vega (the concentration view)."""

    id: str
    source: str
    chain: str
    bucket: str
    vega: float
    vega_share: float
    vega_gross_share: float


class UnderlyingRisk(Greeks):
    """Net Greeks of one underlying across every source and chain, with the breakdowns."""

    underlying: str
    price: float
    vol: float  # gamma-weighted implied vol of the options (policy input)
    tau: float  # gamma-weighted years to expiry of the options (policy input)
    lines: tuple[RiskLine, ...]
    buckets: tuple[ExpiryBucket, ...] = ()  # by expiry bucket, in bucket order
    top_vega: tuple[VegaLine, ...] = ()  # the option lines with the largest |vega|, largest first
    smile_dynamics: str | None = None  # of the surface its options read (None: flat vols only)


class RiskReport(Frozen):
    """The whole book's risk at one time and set of marks."""

    as_of: AwareDatetime
    prices: dict[str, float]
    cash_usd: float
    value_usd: float
    underlyings: tuple[UnderlyingRisk, ...]
    perps: tuple[PerpLine, ...] = ()  # each perp account's margin at the book's mark, in input order

    def underlying(self, name: str) -> UnderlyingRisk:
        for u in self.underlyings:
            if u.underlying == name:
                return u
        raise KeyError(name)


@dataclass
class _Acc:
    """Running sums for one (underlying, source, chain, expiry bucket)."""

    positions: int = 0
    value: float = 0.0
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    vega_abs: float = 0.0
    theta: float = 0.0
    vanna: float = 0.0
    volga: float = 0.0
    lvr: float = 0.0
    gamma_abs: float = 0.0
    vol_w: float = 0.0
    tau_w: float = 0.0

    def __add__(self, other: _Acc) -> _Acc:
        return _Acc(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(_Acc)})


_Key = tuple[str, str, str, str]  # (underlying, source, chain, bucket)


@dataclass
class _Book:
    """Sums at the finest grain, and the option lines' own vegas (for the concentration view)."""

    acc: dict[_Key, _Acc] = field(default_factory=lambda: defaultdict(_Acc))
    vegas: dict[str, list[tuple[float, OptionPosition, str]]] = field(default_factory=lambda: defaultdict(list))
    dynamics: dict[str, str] = field(default_factory=dict)


def _price(prices: Mapping[str, float], underlying: str, what: str) -> float:
    if underlying in CASH_UNDERLYINGS:
        return 1.0
    price = prices.get(underlying)
    if price is None or not price > 0:
        raise InputError(f"no mark price for {underlying} (needed by {what}); marks given for {sorted(prices)}")
    return float(price)


def _options(book: _Book, options: Sequence[OptionPosition], prices: Mapping[str, float], now: datetime,
             rate: float, vol_mult: float, vol_shift: float, edges: Sequence[float]) -> FloatArray:
    """Add every option; returns their vols (the LP positions' LVR reads them)."""
    if not options:
        return np.zeros(0)
    spot = np.array([_price(prices, o.underlying, f"option {o.id}") for o in options])
    g = smile_greeks(options, spot, now, rate, vol_mult, vol_shift)
    for i, o in enumerate(options):
        bucket = expiry_bucket(float(g.tau[i]) * DAYS_PER_YEAR, edges)
        a = book.acc[(o.underlying, o.source, o.chain, bucket)]
        size = o.size
        a.positions += 1
        a.value += size * g.price[i]
        a.delta += size * g.delta[i]
        a.gamma += size * g.gamma[i]
        a.vega += size * g.vega[i] / 100.0
        a.vega_abs += abs(size * g.vega[i] / 100.0)
        a.theta += size * g.theta[i] / DAYS_PER_YEAR
        a.vanna += size * g.vanna[i]
        a.volga += size * g.volga[i] / 1e4
        a.gamma_abs += abs(size * g.gamma[i])
        a.vol_w += abs(size * g.gamma[i]) * g.vol[i]
        a.tau_w += abs(size * g.gamma[i]) * g.tau[i]
        book.vegas[o.underlying].append((float(size * g.vega[i] / 100.0), o, bucket))
        if o.surface is not None:
            book.dynamics[o.underlying] = o.surface.dynamics
    return g.vol


def _lp(acc: dict[_Key, _Acc], lp: LpPosition, prices: Mapping[str, float], vol: float) -> None:
    s = _price(prices, lp.underlying, f"LP position {lp.id}")
    q = _price(prices, lp.quote_underlying, f"LP position {lp.id}")
    rng = human_range(lp.liquidity, lp.tick_lower, lp.tick_upper, lp.decimals0, lp.decimals1, lp.risky_is_token0)
    rel = s / q  # the pool prices the risky token in the quote token
    a = acc[(lp.underlying, lp.source, lp.chain, NO_EXPIRY)]
    a.positions += 1
    a.value += float(lp_value(rng.liquidity, rel, rng.lower, rng.upper)) * q + lp.owed_risky * s + lp.owed_quote * q
    a.delta += float(lp_delta(rng.liquidity, rel, rng.lower, rng.upper)) + lp.owed_risky
    a.gamma += float(lp_gamma(rng.liquidity, rel, rng.lower, rng.upper)) / q
    a.lvr += float(lvr_rate(rng.liquidity, rel, rng.lower, rng.upper, vol)) * q / 365.0


def _spot(acc: dict[_Key, _Acc], pos: Any, prices: Mapping[str, float]) -> float:
    """Add a spot holding; returns its USD value when it is cash."""
    underlying = str(pos.underlying)
    amount = float(pos.amount)
    if underlying in CASH_UNDERLYINGS:
        return amount
    s = _price(prices, underlying, f"spot {getattr(pos, 'symbol', underlying)} on {getattr(pos, 'chain', '?')}")
    a = acc[(underlying, str(getattr(pos, "source", "erc20")), str(getattr(pos, "chain", "wallet")), NO_EXPIRY)]
    a.positions += 1
    a.value += amount * s
    a.delta += amount
    return 0.0


def _perp(acc: dict[_Key, _Acc], pos: PerpPosition, prices: Mapping[str, float]) -> float:
    """Add a perp account's unrealised P&L and funding; returns its collateral (cash)."""
    s = _price(prices, pos.underlying, f"perp {pos.market or pos.underlying} on {pos.chain or 'a what-if'}")
    index = s if pos.index_price is None else pos.index_price
    a = acc[(pos.underlying, pos.source, pos.chain or "what-if", NO_EXPIRY)]
    a.positions += 1
    a.value += pos.size * s + pos.open_notional - pos.owed_funding_usd
    a.delta += pos.size
    a.theta -= pos.size * index * pos.daily_funding_rate
    return pos.collateral_usd


def _evaluate(positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, rate: float,
              vol_mult: float, vol_shift: float, edges: Sequence[float]) -> tuple[_Book, float]:
    book = _Book()
    options = [p for p in positions if isinstance(p, OptionPosition)]
    vols = _options(book, options, prices, now, rate, vol_mult, vol_shift, edges)
    cash = 0.0
    for p in positions:
        if isinstance(p, LpPosition):
            mine = [v for o, v in zip(options, vols, strict=True) if o.underlying == p.underlying]
            _lp(book.acc, p, prices, float(np.mean(mine)) if mine else DEFAULT_LP_VOL * vol_mult + vol_shift)
        elif isinstance(p, PerpPosition):
            cash += _perp(book.acc, p, prices)
        elif not isinstance(p, OptionPosition):
            if not (hasattr(p, "underlying") and hasattr(p, "amount")):
                raise InputError(f"position {p!r} is neither an option, an LP position, a perp nor spot "
                                 "(underlying, amount)")
            cash += _spot(book.acc, p, prices)
    return book, cash


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else 0.0


def _greeks(a: _Acc, s: float, net: _Acc) -> dict[str, Any]:
    return dict(positions=a.positions, value_usd=a.value, delta=a.delta, delta_usd=a.delta * s, gamma=a.gamma,
                gamma_usd=a.gamma * s * s / 100.0, vega=a.vega, theta_day=a.theta, vanna=a.vanna, volga=a.volga,
                lvr_day=a.lvr, vega_share=_share(a.vega, net.vega), vega_gross_share=_share(a.vega_abs, net.vega_abs))


def _group(items: Sequence[tuple[_Key, _Acc]], pick: Callable[[_Key], tuple[str, ...]]) -> dict[tuple[str, ...],
                                                                                               _Acc]:
    out: dict[tuple[str, ...], _Acc] = {}
    for key, a in items:
        out[pick(key)] = out.get(pick(key), _Acc()) + a
    return out


def _underlying(u: str, items: Sequence[tuple[_Key, _Acc]], s: float, book: _Book, edges: Sequence[float],
                top: int) -> UnderlyingRisk:
    net = _group(items, lambda k: ())[()]
    lines = tuple(RiskLine(source=src, chain=ch, underlying=u, **_greeks(a, s, net))
                  for (src, ch), a in sorted(_group(items, lambda k: (k[1], k[2])).items()))
    order = {b: i for i, b in enumerate(bucket_labels(edges))}
    buckets = tuple(ExpiryBucket(bucket=b, underlying=u, **_greeks(a, s, net))
                    for (b,), a in sorted(_group(items, lambda k: (k[3],)).items(), key=lambda kv: order[kv[0][0]]))
    largest = sorted(book.vegas.get(u, []), key=lambda v: -abs(v[0]))[:top]
    top_vega = tuple(VegaLine(id=o.id, source=o.source, chain=o.chain, bucket=b, vega=v,
                              vega_share=_share(v, net.vega), vega_gross_share=_share(abs(v), net.vega_abs))
                     for v, o, b in largest)
    g = _greeks(net, s, net)
    for name in ("positions", "vega_share", "vega_gross_share"):
        g.pop(name)
    gabs = net.gamma_abs
    return UnderlyingRisk(
        underlying=u, price=s, **g, lines=lines, buckets=buckets, top_vega=top_vega,
        smile_dynamics=book.dynamics.get(u),
        vol=net.vol_w / gabs if gabs else DEFAULT_LP_VOL, tau=max(net.tau_w / gabs, 1e-6) if gabs else 30 / 365,
    )


def marks_from_venues(states: Sequence[VenueState]) -> dict[str, float]:
    """Median mid per underlying over every single-market venue quoted in USD (the book's marks; a route's mid is
    its pools' product, so it would move the BTC mark with the ETH pools)."""
    mids: dict[str, list[float]] = {}
    for v in states:
        if v.quote.underlying == "USD" and not v.composite:
            mids.setdefault(v.underlying, []).append(v.mid_price)
    return {u: statistics.median(m) for u, m in mids.items()}


def aggregate(
    positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, rate: float = 0.0,
    vol_mult: float = 1.0, *, vol_shift: float = 0.0, bucket_days: Sequence[float] = EXPIRY_BUCKET_DAYS,
    top_vega: int = 5,
) -> RiskReport:
    """Value and Greeks per underlying with the (source, chain) and expiry-bucket breakdowns.

    This is the book's one revaluation: each option's vol comes from its surface under the surface's smile
    dynamics (risk.smile), so the reported Greeks are the derivatives of ``value_usd`` under the same rules the
    stress grid moves prices by. ``vol_mult`` scales every vol (a stress shock), ``vol_shift`` adds to every vol
    (a parallel shift: vega's own bump). ``bucket_days`` are the expiry-bucket edges in days.

    Usage: ``aggregate(options + lps + spot, {"ETH": 3000.0}, datetime.now(UTC))``
    """
    edges = tuple(bucket_days)
    book, cash = _evaluate(positions, prices, now, rate, vol_mult, vol_shift, edges)
    by_u: dict[str, list[tuple[_Key, _Acc]]] = defaultdict(list)
    for key, a in sorted(book.acc.items()):
        by_u[key[0]].append((key, a))
    out = [_underlying(u, items, _price(prices, u, "the report"), book, edges, top_vega)
           for u, items in sorted(by_u.items())]
    value = cash + sum(u.value_usd for u in out)
    perps = tuple(perp_line(p, _price(prices, p.underlying, "the report")) for p in positions
                  if isinstance(p, PerpPosition))
    return RiskReport(as_of=now, prices={k: float(v) for k, v in prices.items()}, cash_usd=cash, value_usd=value,
                      underlyings=tuple(out), perps=perps)
