"""Hedging backtester: replay a price series, re-price the book each bar, apply each policy, charge real costs.

How a run works:
1. The book's lines for the series' underlying are opened at the first bar at their moneyness K / reference price
   (the book file's ``reference_prices``; else the first close) and tenor. When a line expires it settles at
   intrinsic and is re-opened at the same tenor and moneyness against the then spot: an options vault selling
   weeklies and monthlies does exactly this, so a two-year replay keeps a stationary book instead of an
   expiring one. Each line keeps its book implied vol (flat, or the smile at its moneyness).
2. :func:`book_path` prices the book once per bar (vectorised BSM): option P&L, delta, gamma, vanna, and the
   gamma-weighted vol and time to expiry. This is shared by every policy.
3. :func:`run_policy` walks the bars with one policy: hedge P&L = hedge units x price move, the policy decides,
   trades go to the venue that is cheapest for their size (gas + fee + impact, :class:`CostModel`). Every policy
   starts with the same full hedge at the first bar. Gaps in the series are crossed as one longer step with no
   trading inside (the move and the time decay of the whole gap land on the next bar).
4. P&L is bucketed by UTC day: mean, std and CVaR 95% (mean of the worst 5% of days, a negative number is a
   loss) of the hedged daily P&L, total cost, trades and the worst |net delta| carried (USD).

Usage::

    path = book_path(load_prices(csv_path), positions)
    result = run_policy(path, PolicySpec.of("whalley_wilmott"), CostModel.default())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic import Field

from adapters import OptionPosition
from crosshedge import Frozen, InputError
from crosshedge.config import PolicySettings
from risk.greeks import FloatArray, bsm
from risk.policy import POLICIES, PolicyInput, VenueCost
from risk.prices import PriceSeries

YEAR_S = 365.0 * 86400.0


class VenueSpec(Frozen):
    """One venue in the backtest cost model; impact is quoted per $1M so it scales with the price level."""

    chain: str
    venue: str
    gas_usd: float = Field(ge=0)
    fee_rate: float = Field(ge=0)
    impact_per_musd: float = Field(ge=0)  # marginal price impact (fraction) per $1M traded

    def at(self, spot: float) -> VenueCost:
        return VenueCost.model_construct(
            chain=self.chain, venue=self.venue, gas_usd=self.gas_usd, fee_rate=self.fee_rate,
            impact_per_unit=self.impact_per_musd * spot / 1e6,
        )


class CostModel(Frozen):
    """Where hedges can trade and what each trade costs; a trade goes to the cheapest venue for its size."""

    venues: tuple[VenueSpec, ...] = Field(min_length=1)

    @classmethod
    def default(cls) -> CostModel:
        """Three chains shaped like the default devnet: deep but $5-gas L1, two shallower cheap L2s (5 bp pools)."""
        return cls(
            venues=(
                VenueSpec(chain="ethereum", venue="uniswap_v3_weth_usdc_500", gas_usd=5.0, fee_rate=5e-4,
                          impact_per_musd=1e-3),
                VenueSpec(chain="arbitrum", venue="uniswap_v3_weth_usdc_500", gas_usd=0.10, fee_rate=5e-4,
                          impact_per_musd=2.5e-3),
                VenueSpec(chain="base", venue="uniswap_v3_weth_usdc_500", gas_usd=0.05, fee_rate=5e-4,
                          impact_per_musd=5e-3),
            )
        )

    def at(self, spot: float) -> tuple[VenueCost, ...]:
        return tuple(v.at(spot) for v in self.venues)

    def cheapest(self, units: float, spot: float) -> tuple[float, float, VenueCost]:
        """(total USD, gas USD, venue) of the cheapest single-venue execution of ``units``."""
        best = min(self.at(spot), key=lambda c: c.cost_usd(units, spot))
        return best.cost_usd(units, spot), best.gas_usd, best


class PolicySpec(Frozen):
    """A policy with its parameters, labelled for tables and plots."""

    label: str
    name: str
    settings: PolicySettings
    param: str | None = None  # the swept parameter, if any
    value: float | None = None

    @classmethod
    def of(cls, name: str, base: PolicySettings | None = None, **update: float) -> PolicySpec:
        if name not in POLICIES:
            raise InputError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
        settings = (base or PolicySettings()).model_copy(update=update)
        param, value = next(iter(update.items()), (None, None))
        label = name if param is None else f"{name} {param}={value:g}"
        return cls(label=label, name=name, settings=settings, param=param, value=value)


#: The parameter each policy family sweeps for the efficient frontier, and its grid.
SWEEPS: dict[str, tuple[str, tuple[float, ...]]] = {
    "fixed_interval": ("interval_hours", (1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0)),
    "delta_threshold": ("delta_threshold_usd", (1e4, 2.5e4, 5e4, 1e5, 2e5, 4e5, 8e5)),
    "vol_threshold": ("delta_threshold_usd", (1e4, 2.5e4, 5e4, 1e5, 2e5, 4e5, 8e5)),
    "whalley_wilmott": ("risk_aversion", (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)),
    "zakamouline": ("risk_aversion", (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)),
    "cost_aware_band": ("risk_aversion", (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)),
}


def sweep_specs(names: Sequence[str], base: PolicySettings | None = None) -> list[PolicySpec]:
    """One spec per grid point of each named family (see :data:`SWEEPS`)."""
    specs = []
    for name in names:
        param, grid = SWEEPS[name]
        specs += [PolicySpec.of(name, base, **{param: v}) for v in grid]
    return specs


@dataclass(frozen=True)
class RollingBook:
    """The book's lines for one underlying as arrays; strikes and expiries move when lines roll."""

    is_call: np.ndarray
    size: FloatArray
    moneyness: FloatArray
    tenor_s: FloatArray
    vol: FloatArray

    @classmethod
    def from_positions(cls, positions: Sequence[OptionPosition], underlying: str, first_price: float) -> RollingBook:
        lines = [p for p in positions if p.underlying == underlying]
        if not lines:
            raise InputError(f"the book has no {underlying} options to backtest")
        ref = [p.reference_price or first_price for p in lines]
        mny = np.array([p.strike / r for p, r in zip(lines, ref, strict=True)])
        return cls(
            is_call=np.array([p.kind == "call" for p in lines]),
            size=np.array([p.size for p in lines]),
            moneyness=mny,
            tenor_s=np.array([p.tenor_days * 86400.0 for p in lines]),
            vol=np.array([p.implied_vol(r) for p, r in zip(lines, ref, strict=True)]),  # sticky moneyness
        )


@dataclass(frozen=True)
class BookPath:
    """Per-bar book quantities shared by every policy (index 0 = the first bar, where the book opens)."""

    series: PriceSeries
    option_pnl: FloatArray  # option P&L over the bar ending at i (0 at i = 0)
    delta: FloatArray
    gamma: FloatArray
    vanna: FloatArray
    vol: FloatArray  # gamma-weighted implied vol
    tau: FloatArray  # gamma-weighted years to expiry
    rolls: int
    lines: int


def book_path(series: PriceSeries, positions: Sequence[OptionPosition], rate: float = 0.0) -> BookPath:
    """Price the rolling book on every bar of ``series`` (see the module docstring for the roll rule)."""
    book = RollingBook.from_positions(positions, series.underlying, float(series.close[0]))
    n = len(series.close)
    out = {k: np.zeros(n) for k in ("pnl", "delta", "gamma", "vanna", "vol", "tau")}
    strike = book.moneyness * series.close[0]
    expiry = series.times[0] + book.tenor_s
    prev_value = 0.0
    rolls = 0
    for i in range(n):
        s, t = float(series.close[i]), float(series.times[i])
        g = bsm(book.is_call, s, strike, (expiry - t) / YEAR_S, rate, 0.0, book.vol)
        value = float(book.size @ g.price)
        out["pnl"][i] = value - prev_value if i else 0.0
        expired = expiry <= t
        if expired.any():  # settle at intrinsic (already in value), re-open at the same tenor and moneyness
            rolls += int(expired.sum())
            strike = np.where(expired, book.moneyness * s, strike)
            expiry = np.where(expired, t + book.tenor_s, expiry)
            g = bsm(book.is_call, s, strike, (expiry - t) / YEAR_S, rate, 0.0, book.vol)
            value = float(book.size @ g.price)
        prev_value = value
        weights = np.abs(book.size * g.gamma)
        wsum = float(weights.sum()) or 1.0
        out["delta"][i] = book.size @ g.delta
        out["gamma"][i] = book.size @ g.gamma
        out["vanna"][i] = book.size @ g.vanna
        out["vol"][i] = float(weights @ book.vol) / wsum
        out["tau"][i] = max(float(weights @ ((expiry - t) / YEAR_S)) / wsum, 1e-6)
    return BookPath(series, out["pnl"], out["delta"], out["gamma"], out["vanna"], out["vol"], out["tau"], rolls,
                    len(book.size))


class PolicyResult(Frozen):
    """One policy's backtest figures (P&L statistics are per UTC day, in USD)."""

    label: str
    policy: str
    param: str | None
    value: float | None
    trades: int
    total_cost_usd: float
    gas_usd: float
    total_pnl_usd: float
    pnl_mean_usd: float
    pnl_std_usd: float
    cvar95_usd: float
    worst_delta_usd: float
    days: int


class BacktestResult(Frozen):
    """Every policy over one series and book, with the run's context."""

    source: str
    underlying: str
    start: str
    end: str
    bars: int
    gaps: int
    book_lines: int
    rolls: int
    unhedged_pnl_usd: float
    results: tuple[PolicyResult, ...]


def _ewma_vols(series: PriceSeries, lam: float) -> FloatArray:
    """Annualised EWMA realised vol per bar; returns are scaled by their bar length so gaps do not spike it."""
    dt = np.diff(series.times)
    r2 = np.diff(np.log(series.close)) ** 2 * (series.step_s / dt)
    var = np.empty(len(series.close))
    var[0] = float(np.mean(r2[: min(len(r2), 24)]))
    for i in range(1, len(var)):
        var[i] = lam * var[i - 1] + (1 - lam) * r2[i - 1]
    out: FloatArray = np.sqrt(var * YEAR_S / series.step_s)
    return out


def _daily_stats(times: FloatArray, pnl: FloatArray) -> tuple[float, float, float, int]:
    day = ((times - times[0]) // 86400.0).astype(np.int64)
    daily = np.bincount(day, weights=pnl)
    worst = np.sort(daily)[: max(1, math.ceil(0.05 * len(daily)))]
    return float(daily.mean()), float(daily.std(ddof=1)) if len(daily) > 1 else 0.0, float(worst.mean()), len(daily)


def run_policy(path: BookPath, spec: PolicySpec, costs: CostModel) -> PolicyResult:
    """Replay one policy over a priced book path; see the module docstring."""
    series, fn, st = path.series, POLICIES[spec.name], spec.settings
    close, times = series.close, series.times
    realised = _ewma_vols(series, st.ewma_lambda)
    pnl = path.option_pnl.copy()
    hedge = -path.delta[0]
    cost, gas, _ = costs.cheapest(hedge, float(close[0]))
    total_cost, total_gas, trades, last_trade, worst = cost, gas, 1, float(times[0]), 0.0
    pnl[0] -= cost
    for i in range(1, len(close)):
        s = float(close[i])
        pnl[i] += hedge * (s - float(close[i - 1]))
        net = float(path.delta[i]) + hedge
        worst = max(worst, abs(net) * s)
        inp = PolicyInput.model_construct(
            underlying=series.underlying, spot=s, net_delta=net, gamma=float(path.gamma[i]),
            vanna=float(path.vanna[i]), vol=float(path.vol[i]), realised_vol=float(realised[i]),
            tau=float(path.tau[i]), hours_since_trade=(float(times[i]) - last_trade) / 3600.0, costs=costs.at(s),
        )
        decision = fn(inp, st)
        if decision.trade:
            cost, gas, _ = costs.cheapest(decision.trade_units, s)
            hedge += decision.trade_units
            pnl[i] -= cost
            total_cost += cost
            total_gas += gas
            trades += 1
            last_trade = float(times[i])
    mean, std, cvar, days = _daily_stats(times, pnl)
    return PolicyResult(
        label=spec.label, policy=spec.name, param=spec.param, value=spec.value, trades=trades,
        total_cost_usd=total_cost, gas_usd=total_gas, total_pnl_usd=float(pnl.sum()), pnl_mean_usd=mean,
        pnl_std_usd=std, cvar95_usd=cvar, worst_delta_usd=worst, days=days,
    )


def run_backtest(
    series: PriceSeries,
    positions: Sequence[OptionPosition],
    specs: Sequence[PolicySpec],
    costs: CostModel,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Price the book once, replay every policy spec; ``progress(label)`` is called after each policy.

    Usage: ``run_backtest(series, load_book(path, now), sweep_specs(["whalley_wilmott"]), CostModel.default())``
    """
    path = book_path(series, positions)
    results = []
    for spec in specs:
        results.append(run_policy(path, spec, costs))
        if progress is not None:
            progress(spec.label)

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return BacktestResult(
        source=series.source, underlying=series.underlying, start=iso(float(series.times[0])),
        end=iso(float(series.times[-1])),
        bars=len(series.close), gaps=len(series.gaps), book_lines=path.lines, rolls=path.rolls,
        unhedged_pnl_usd=float(path.option_pnl.sum()), results=tuple(results),
    )


def best_band_vs_daily(result: BacktestResult, bands: Sequence[str] = ("whalley_wilmott", "zakamouline",
                                                                        "cost_aware_band")) -> dict[str, object]:
    """The cheapest band policy whose daily P&L std is <= fixed daily hedging's, and its cost saving."""
    daily = next(r for r in result.results if r.policy == "fixed_interval" and r.value in (None, 24.0))
    eligible = [r for r in result.results if r.policy in bands and r.pnl_std_usd <= daily.pnl_std_usd]
    if not eligible:
        return {"daily": daily.label, "best": None, "saving": None}
    best = min(eligible, key=lambda r: r.total_cost_usd)
    return {"daily": daily.label, "best": best.label, "saving": 1.0 - best.total_cost_usd / daily.total_cost_usd}
