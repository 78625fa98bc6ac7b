"""Hedging backtester: replay a price series, re-price the book each bar, apply each policy, charge real costs.

How a run works:
1. The book's lines for the series' underlying are opened at the first bar at their moneyness K / reference price
   (the book file's ``reference_prices``; else the first close) and tenor. When a line expires it settles at
   intrinsic and is re-opened at the same tenor and moneyness against the then spot: an options vault selling
   weeklies and monthlies does exactly this, so a two-year replay keeps a stationary book instead of an
   expiring one. Each line starts at its book implied vol (flat, or the smile at its moneyness).
2. Implied vol moves (``iv="realised"``, the default): each line's vol on bar i is its book vol plus the change of
   the trailing 30-day realised vol since the first bar (:mod:`risk.bookpath`), which gives the book a vega P&L;
   ``iv="flat"`` keeps every line at its book vol.
3. :func:`book_path` prices the book once per bar (vectorised BSM): option P&L, delta, gamma, vega, theta,
   vanna, and the gamma-weighted vol and time to expiry. This is shared by every policy.
4. :func:`run_policy` walks the bars with one policy: hedge P&L = hedge units x price move, the policy decides,
   trades go to the venue that is cheapest for their size (gas + fee + impact, :class:`CostModel`). Every policy
   starts with the same full hedge at the first bar. Gaps in the series are crossed as one longer step with no
   trading inside (the move and the time decay of the whole gap land on the next bar). ``fixed_interval`` is
   due on a schedule anchored at the first bar (every ``interval_hours`` from it), so a check skipped by a gap
   or by a small delta does not shift every later hedge. With a :class:`risk.HedgeSpec` the trades go to a perp
   instead (``perp``) or to whichever of spot and perp costs less with expected funding (``cheapest``); the perp
   leg pays funding every bar and lives in a margin account that can be liquidated (:mod:`risk.backtest_perps`).
5. P&L is explained per bar (:mod:`risk.explain`: delta of book + hedge, gamma, vega, theta with the Greeks at
   the start of the bar; fees and impact; gas; unexplained) and summed per run and per day.
6. P&L is bucketed by day from the first bar: mean, std and CVaR 95% (mean of the worst 5% of days, a negative
   number is a loss) of the hedged daily P&L, total cost, trades and the worst |net delta| carried (USD). Each policy's
   daily P&L std is compared with fixed daily hedging's (the reference) as a ratio with a 90% paired stationary
   block-bootstrap interval (:mod:`risk.bootstrap`, mean block 10 days, 2,000 resamples, seeded).

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
from numpy.typing import NDArray
from pydantic import Field

from adapters import OptionPosition
from crosshedge import Frozen, InputError
from crosshedge.config import PolicySettings
from risk.backtest_perps import DAY_S, HedgeLegs, HedgeReport, HedgeSpec, Instrument, hedge_legs, hedge_report
from risk.bookpath import YEAR_S, BookPath, IvModel, book_path
from risk.bootstrap import LEVEL, MEAN_BLOCK_DAYS, RESAMPLES, stationary_indices
from risk.explain import PnlExplain, explain_arrays
from risk.greeks import FloatArray
from risk.policy import POLICIES, PolicyInput, VenueCost
from risk.prices import PriceSeries


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


class DailyExplain(PnlExplain):
    """One day's P&L explain (UTC date of the day's first bar)."""

    day: str


class PolicyResult(Frozen):
    """One policy's backtest figures (P&L statistics are per day, in USD)."""

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
    explain: PnlExplain  # the whole run's P&L explain
    std_ratio: float | None = None  # daily P&L std / fixed daily hedging's (None for the reference itself)
    std_ratio_lo: float | None = None  # its bootstrap interval
    std_ratio_hi: float | None = None
    # Where the hedge traded and what each leg cost (risk.backtest_perps); total_cost_usd holds every execution cost
    # and liquidation penalty, funding_usd is apart from it (paid; < 0: received), all_in_cost_usd is their sum.
    instrument: Instrument = "spot"
    spot_trades: int = 0
    perp_trades: int = 0
    spot_fees_usd: float = 0.0
    spot_impact_usd: float = 0.0
    spot_gas_usd: float = 0.0
    perp_fees_usd: float = 0.0
    perp_impact_usd: float = 0.0
    perp_gas_usd: float = 0.0
    funding_usd: float = 0.0
    liquidations: int = 0
    liquidation_penalty_usd: float = 0.0
    liquidated_at: tuple[str, ...] = ()  # the bars (UTC) where the perp account was liquidated
    margin_capped: int = 0  # perp trades cut (or dropped) to what initial margin allows: Curie reverts past it
    min_margin_ratio: float | None = None  # the lowest account value / perp notional seen (None: never held a perp)
    all_in_cost_usd: float = 0.0


class BootstrapSpec(Frozen):
    mean_block_days: float = MEAN_BLOCK_DAYS
    resamples: int = RESAMPLES
    level: float = LEVEL
    seed: int = 0


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
    iv_model: str = "realised"
    reference: str | None = None  # the label std ratios are against (fixed daily hedging)
    bootstrap: BootstrapSpec = BootstrapSpec()
    explain_label: str | None = None  # the policy whose per-day explain is in ``daily_explain``
    daily_explain: tuple[DailyExplain, ...] = ()
    hedge: HedgeReport | None = None  # the hedge instrument and funding source (None: spot only, as before)


@dataclass(frozen=True)
class Replay:
    """One policy's bar-by-bar replay: P&L, costs and the hedge held over each bar (before that bar's decision)."""

    pnl: FloatArray
    cost: FloatArray  # gas + fees + impact (spot and perp) + liquidation penalties, per bar
    gas: FloatArray
    hedge: FloatArray  # spot + perp units
    trades: int
    worst_delta_usd: float
    funding: FloatArray | None = None  # perp funding paid over each bar (< 0: received); None: spot only
    legs: HedgeLegs | None = None  # each leg's totals and the perp account


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


def _day_index(times: FloatArray) -> NDArray[np.int64]:
    out: NDArray[np.int64] = ((times - times[0]) // 86400.0).astype(np.int64)
    return out


def daily_sums(times: FloatArray, per_bar: FloatArray) -> FloatArray:
    """Per-bar amounts summed per day counted from the first bar."""
    out: FloatArray = np.asarray(np.bincount(_day_index(times), weights=per_bar), dtype=np.float64)
    return out


def _daily_stats(daily: FloatArray) -> tuple[float, float, float, int]:
    worst = np.sort(daily)[: max(1, math.ceil(0.05 * len(daily)))]
    return float(daily.mean()), float(daily.std(ddof=1)) if len(daily) > 1 else 0.0, float(worst.mean()), len(daily)


def _slot(t: float, t0: float, interval_h: float) -> float:
    """Start of the fixed-interval slot holding ``t``: the schedule is anchored at the first bar, never drifts."""
    step = interval_h * 3600.0
    return t0 + math.floor((t - t0) / step + 1e-9) * step


def replay(path: BookPath, spec: PolicySpec, costs: CostModel, hedge: HedgeSpec | None = None) -> Replay:
    """Walk the bars with one policy (see the module docstring); the raw arrays behind :func:`run_policy`.

    ``hedge``: the instrument choice (default spot only; :mod:`risk.backtest_perps` for perp and cheapest)."""
    series, fn, st = path.series, POLICIES[spec.name], spec.settings
    close, times = series.close, series.times
    legs = hedge_legs(hedge or HedgeSpec(), costs.cheapest, costs.at, times, path.delta, close)
    acct, rates = legs.account, legs.rates
    realised = _ewma_vols(series, st.ewma_lambda)
    n = len(close)
    pnl, cost_bar, gas_bar, held, funding = path.option_pnl.copy(), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    hedge_units = -path.delta[0]
    cost_bar[0], gas_bar[0], hedge_units = legs.execute(hedge_units, float(close[0]), 0, float(times[0]), 0)
    trades = 0 if acct is not None and hedge_units == 0 else 1
    last_trade, worst, due = float(times[0]), 0.0, False
    anchored = spec.name == "fixed_interval"
    for i in range(1, n):
        s = float(close[i])
        held[i] = hedge_units
        pnl[i] += hedge_units * (s - float(close[i - 1]))
        net = float(path.delta[i]) + hedge_units
        worst = max(worst, abs(net) * s)
        if acct is not None and rates is not None:
            dt_days = float(times[i] - times[i - 1]) / DAY_S
            funding[i] = acct.accrue(float(close[i - 1]), s, float(rates[i - 1]), dt_days)
            closed, cost_bar[i] = acct.liquidate_if_below(s, i)
            if closed:  # the hedge is gone at this bar: the policy decides again on the next, as if due
                hedge_units -= closed
                due = True
                continue
        since = math.inf if due else (float(times[i]) - last_trade) / 3600.0
        due = False
        inp = PolicyInput.model_construct(
            underlying=series.underlying, spot=s, net_delta=net, gamma=float(path.gamma[i]),
            vanna=float(path.vanna[i]), vol=float(path.vol[i]), realised_vol=float(realised[i]),
            tau=float(path.tau[i]), hours_since_trade=since, costs=legs.policy_costs(s),
        )
        decision = fn(inp, st)
        if decision.trade:
            cost_bar[i], gas_bar[i], done = legs.execute(decision.trade_units, s, i, float(times[i]), trades)
            if done == 0:  # a perp account with no margin left: nothing traded
                continue
            hedge_units += done
            trades += 1
            t = float(times[i])
            last_trade = _slot(t, float(times[0]), st.interval_hours) if anchored else t
    pnl -= cost_bar
    if acct is None:
        return Replay(pnl=pnl, cost=cost_bar, gas=gas_bar, hedge=held, trades=trades, worst_delta_usd=worst, legs=legs)
    pnl -= funding
    return Replay(pnl=pnl, cost=cost_bar, gas=gas_bar, hedge=held, trades=trades, worst_delta_usd=worst,
                  funding=funding, legs=legs)


def explain_bars(path: BookPath, rep: Replay) -> dict[str, FloatArray]:
    """Per-bar P&L explain of a replay, Greeks at the start of each bar (bar 0: the first hedge's costs only)."""
    close, times = path.series.close, path.series.times
    lag = np.maximum(np.arange(len(close)) - 1, 0)
    ds = close - close[lag]
    bars = explain_arrays(
        delta=path.delta[lag] + rep.hedge, gamma=path.gamma[lag], vega=path.vega[lag], theta=path.theta[lag], ds=ds,
        dvol=path.vol_shift - path.vol_shift[lag], dt_years=(times - times[lag]) / YEAR_S, actual=rep.pnl,
        fees=rep.cost - rep.gas, gas=rep.gas,
    )
    if rep.funding is not None:  # explain_arrays books no funding: move the perp's out of the unexplained rest
        bars["funding"] = -rep.funding  # paid is a loss
        bars["unexplained"] = bars["unexplained"] + rep.funding
    return bars


def _legs_fields(path: BookPath, rep: Replay) -> dict[str, object]:
    legs = rep.legs
    if legs is None:
        return {}
    out: dict[str, object] = {
        "instrument": legs.spec.instrument, "spot_trades": legs.spot_trades, "spot_fees_usd": legs.spot_fees,
        "spot_impact_usd": legs.spot_impact, "spot_gas_usd": legs.spot_gas, "all_in_cost_usd": float(rep.cost.sum()),
    }
    a = legs.account
    if a is None:
        return out
    times = path.series.times
    return out | {
        "perp_trades": a.trades, "perp_fees_usd": a.fees, "perp_impact_usd": a.impact, "perp_gas_usd": a.gas,
        "funding_usd": a.funding, "liquidations": a.liquidations, "liquidation_penalty_usd": a.penalty,
        "liquidated_at": tuple(_iso(float(times[b])) for b in a.liquidated_bars), "margin_capped": a.capped,
        "min_margin_ratio": None if math.isinf(a.min_ratio) else a.min_ratio,
        "all_in_cost_usd": float(rep.cost.sum()) + a.funding,
    }


def _summary(path: BookPath, spec: PolicySpec, rep: Replay) -> PolicyResult:
    bars = explain_bars(path, rep)
    mean, std, cvar, days = _daily_stats(daily_sums(path.series.times, rep.pnl))
    return PolicyResult(
        label=spec.label, policy=spec.name, param=spec.param, value=spec.value, trades=rep.trades,
        total_cost_usd=float(rep.cost.sum()), gas_usd=float(rep.gas.sum()), total_pnl_usd=float(rep.pnl.sum()),
        pnl_mean_usd=mean, pnl_std_usd=std, cvar95_usd=cvar, worst_delta_usd=rep.worst_delta_usd, days=days,
        explain=PnlExplain(**{k: float(v.sum()) for k, v in bars.items()}), **_legs_fields(path, rep),
    )


def run_policy(path: BookPath, spec: PolicySpec, costs: CostModel, hedge: HedgeSpec | None = None) -> PolicyResult:
    """Replay one policy over a priced book path; see the module docstring."""
    return _summary(path, spec, replay(path, spec, costs, hedge))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _daily_explain(path: BookPath, rep: Replay) -> tuple[DailyExplain, ...]:
    times = path.series.times
    sums = {k: daily_sums(times, v) for k, v in explain_bars(path, rep).items()}
    firsts = np.unique(_day_index(times), return_index=True)[1]
    return tuple(DailyExplain(day=_iso(float(times[j]))[:10], **{k: float(v[d]) for k, v in sums.items()})
                 for d, j in enumerate(firsts))


def _with_ratios(results: list[PolicyResult], daily: list[FloatArray], ref: int, boot: BootstrapSpec
                 ) -> list[PolicyResult]:
    """Each result with its daily-std ratio to ``results[ref]`` and the paired block-bootstrap interval."""
    if len(daily[ref]) < 2 or results[ref].pnl_std_usd == 0:
        return results
    idx = stationary_indices(len(daily[ref]), boot.mean_block_days, boot.resamples, boot.seed)
    ref_std = daily[ref][idx].std(axis=1, ddof=1)
    keep = ref_std > 0  # a resample of one repeated day has no spread: it says nothing about the ratio
    q = ((1 - boot.level) / 2, (1 + boot.level) / 2)
    out = []
    for k, (r, d) in enumerate(zip(results, daily, strict=True)):
        if k == ref:
            out.append(r)
            continue
        lo, hi = np.quantile(d[idx][keep].std(axis=1, ddof=1) / ref_std[keep], q) if keep.any() else (None, None)
        out.append(r.model_copy(update={"std_ratio": r.pnl_std_usd / results[ref].pnl_std_usd,
                                        "std_ratio_lo": None if lo is None else float(lo),
                                        "std_ratio_hi": None if hi is None else float(hi)}))
    return out


@dataclass(frozen=True)
class PathRun:
    """A backtest over a priced path, with every policy's daily P&L and cost (for bootstrap comparisons)."""

    result: BacktestResult
    daily_pnl: tuple[FloatArray, ...]
    daily_cost: tuple[FloatArray, ...]


def run_on_path(  # the run's inputs, then its options
    path: BookPath, specs: Sequence[PolicySpec], costs: CostModel, progress: Callable[[str], None] | None = None, *,
    iv: IvModel = "realised", explain: str | None = None, bootstrap: BootstrapSpec | None = None,
    hedge: HedgeSpec | None = None,
) -> PathRun:
    """:func:`run_backtest` on an already priced path, keeping the daily series."""
    series, boot = path.series, bootstrap or BootstrapSpec()
    results, daily, costs_d, reps = [], [], [], []
    for spec in specs:
        rep = replay(path, spec, costs, hedge)
        results.append(_summary(path, spec, rep))
        daily.append(daily_sums(series.times, rep.pnl))
        costs_d.append(daily_sums(series.times, rep.cost))
        reps.append(rep)
        if progress is not None:
            progress(spec.label)
    ref = next((k for k, r in enumerate(results) if r.policy == "fixed_interval" and r.value in (None, 24.0)), None)
    if ref is not None:
        results = _with_ratios(results, daily, ref, boot)
    label = explain or (results[ref].label if ref is not None else None)
    pick = next((k for k, r in enumerate(results) if label in (r.label, r.policy)), None)
    if label is not None and pick is None:
        raise InputError(f"no policy {label!r} to explain; the run has {', '.join(r.label for r in results)}")
    result = BacktestResult(
        source=series.source, underlying=series.underlying, start=_iso(float(series.times[0])),
        end=_iso(float(series.times[-1])),
        bars=len(series.close), gaps=len(series.gaps), book_lines=path.lines, rolls=path.rolls,
        unhedged_pnl_usd=float(path.option_pnl.sum()), results=tuple(results), iv_model=iv,
        reference=results[ref].label if ref is not None else None, bootstrap=boot,
        explain_label=results[pick].label if pick is not None else None,
        daily_explain=_daily_explain(path, reps[pick]) if pick is not None else (),
        hedge=None if hedge is None or hedge.instrument == "spot" else hedge_report(hedge, path.delta, series.close),
    )
    return PathRun(result, tuple(daily), tuple(costs_d))


def run_backtest(  # the run's inputs, then its options
    series: PriceSeries,
    positions: Sequence[OptionPosition],
    specs: Sequence[PolicySpec],
    costs: CostModel,
    progress: Callable[[str], None] | None = None,
    *,
    iv: IvModel = "realised",
    explain: str | None = None,
    bootstrap: BootstrapSpec | None = None,
    hedge: HedgeSpec | None = None,
) -> BacktestResult:
    """Price the book once, replay every policy spec; ``progress(label)`` is called after each policy.

    ``explain``: the label (or policy name) whose per-day P&L explain to keep (default: the reference, fixed daily
    hedging, when it is among the specs). Std ratios are against that reference. ``hedge``: spot only (default), every
    trade on the perp, or each on the cheaper of the two with funding (:class:`risk.HedgeSpec`).

    Usage: ``run_backtest(series, load_book(path, now), sweep_specs(["whalley_wilmott"]), CostModel.default())``
    """
    path = book_path(series, positions, iv=iv)
    return run_on_path(path, specs, costs, progress, iv=iv, explain=explain, bootstrap=bootstrap, hedge=hedge).result


def best_band_vs_daily(result: BacktestResult, bands: Sequence[str] = ("whalley_wilmott", "zakamouline",
                                                                        "cost_aware_band")) -> dict[str, object]:
    """The cheapest band policy whose daily P&L std is <= fixed daily hedging's, and its cost saving."""
    daily = next(r for r in result.results if r.policy == "fixed_interval" and r.value in (None, 24.0))
    eligible = [r for r in result.results if r.policy in bands and r.pnl_std_usd <= daily.pnl_std_usd]
    if not eligible:
        return {"daily": daily.label, "best": None, "saving": None}
    best = min(eligible, key=lambda r: r.total_cost_usd)
    return {"daily": daily.label, "best": best.label, "saving": 1.0 - best.total_cost_usd / daily.total_cost_usd}
