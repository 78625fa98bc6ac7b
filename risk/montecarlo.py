"""Monte Carlo mode of the backtester: GBM (optionally with Merton jumps) paths and discrete delta hedging.

Reproduces textbook results: Derman & Kamal (1999), the std of the P&L of delta hedging N times over the option's
life ≈ √(π/4)·σ·vega/√N (Derman & Kamal, "When You Cannot Hedge Continuously", Goldman Sachs 1999), and
Hull's hedge-performance table ("Options, Futures and Other Derivatives", table 19.2) (std of hedge cost / BS price).

Hull's "performance measure" is std(PV of the cost of writing and hedging the option) / BS price. The PV of the
cost is premium − PV(hedged P&L at expiry), so its std is std(P&L)·e^{−rT}. :func:`hedge_cost_table` computes it for
any S0, K, r, σ, μ, T and rebalance intervals, with its Monte Carlo standard error: the asymptotic SE of a sample std,
std·√((κ − 1)/(4n)) with κ the sample kurtosis (exact for any distribution with a finite fourth moment).

Usage::

    paths = gbm_paths(100.0, 0.0, 0.2, 1.0, 252, 20_000, seed=1)
    pnl = hedged_pnl(paths, strike=100.0, years=1.0, vol=0.2)
    pnl.std(), derman_kamal_std(0.2, vega, 252)
    hedge_cost_table(TextbookCase(), paths=100_000)  # Hull's table: S=49, K=50, r=5%, σ=20%, μ=13%, T=20 weeks
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from crosshedge import Frozen, InputError
from risk.greeks import FloatArray, bsm


class Jumps(Frozen):
    """Merton jumps: Poisson intensity per year, log-jump size ~ N(mean, std)."""

    intensity: float = 0.0
    mean: float = 0.0
    std: float = 0.0


def gbm_paths(  # the model's parameters in textbook order
    s0: float, mu: float, vol: float, years: float, steps: int, paths: int, seed: int, jumps: Jumps | None = None
) -> FloatArray:
    """Price paths of shape (paths, steps + 1), exact log-normal steps (plus compound-Poisson jumps).

    The drift is compensated for jumps so E[S_T] = s0·e^{μT} either way.
    """
    rng = np.random.default_rng(seed)
    dt = years / steps
    z = rng.standard_normal((paths, steps))
    log_steps = (mu - 0.5 * vol * vol) * dt + vol * math.sqrt(dt) * z
    if jumps is not None and jumps.intensity > 0:
        kappa = math.exp(jumps.mean + 0.5 * jumps.std**2) - 1.0
        counts = rng.poisson(jumps.intensity * dt, (paths, steps))
        sizes = counts * jumps.mean + np.sqrt(counts) * jumps.std * rng.standard_normal((paths, steps))
        log_steps += sizes - jumps.intensity * kappa * dt
    out = np.empty((paths, steps + 1))
    out[:, 0] = s0
    out[:, 1:] = s0 * np.exp(np.cumsum(log_steps, axis=1))
    return out


def hedged_pnl(
    paths: FloatArray, strike: float, years: float, vol: float, *, rate: float = 0.0, is_call: bool = True,
    rebalances: int | None = None,
) -> FloatArray:
    """P&L at expiry of selling one option at its BS price and delta hedging ``rebalances`` times (default: every
    step of ``paths``). Cash accrues at ``rate``. Zero mean and small std when hedging is frequent.
    """
    steps = paths.shape[1] - 1
    every = steps // (rebalances or steps)
    if steps % (rebalances or steps):
        raise ValueError(f"rebalances ({rebalances}) must divide the path steps ({steps})")
    dt = years / steps
    s0 = paths[:, 0]
    g = bsm(is_call, s0, strike, years, rate, 0.0, vol)
    hedge = g.delta
    cash = g.price - hedge * s0
    for i in range(every, steps, every):
        s = paths[:, i]
        cash *= math.exp(rate * every * dt)
        new = bsm(is_call, s, strike, years - i * dt, rate, 0.0, vol).delta
        cash -= (new - hedge) * s
        hedge = new
    cash *= math.exp(rate * every * dt)  # the last interval, from the last rebalance to expiry
    s_t = paths[:, -1]
    payoff = np.maximum(s_t - strike, 0.0) if is_call else np.maximum(strike - s_t, 0.0)
    out: FloatArray = cash + hedge * s_t - payoff
    return out


def derman_kamal_std(vol: float, vega: float, rebalances: int) -> float:
    """Derman–Kamal's approximation √(π/4)·σ·vega/√N of the hedging-error std."""
    return math.sqrt(math.pi / 4.0) * vol * vega / math.sqrt(rebalances)


class MonteCarloRow(Frozen):
    rebalances: int
    pnl_std: float
    derman_kamal: float
    ratio: float
    pnl_mean: float


def derman_kamal_table(
    rebalances: tuple[int, ...] = (52, 252), paths: int = 40_000, seed: int = 7, jumps: Jumps | None = None
) -> tuple[MonteCarloRow, ...]:
    """The textbook case S = K = 100, σ = 20%, T = 1, r = 0, hedged N times: MC std against Derman–Kamal.

    Usage: ``derman_kamal_table((52, 252))``
    """
    s0 = strike = 100.0
    vol, years = 0.2, 1.0
    vega = float(bsm(True, s0, strike, years, 0.0, 0.0, vol).vega)
    rows = []
    for n in rebalances:
        # Exact GBM steps on the hedge dates only: the P&L depends on the path at those dates alone.
        sim = gbm_paths(s0, 0.0, vol, years, n, paths, seed + n, jumps)
        pnl = hedged_pnl(sim, strike, years, vol)
        dk = derman_kamal_std(vol, vega, n)
        rows.append(MonteCarloRow(rebalances=n, pnl_std=float(pnl.std()), derman_kamal=dk,
                                  ratio=float(pnl.std()) / dk, pnl_mean=float(pnl.mean())))
    return tuple(rows)


WEEK_YEARS = 1.0 / 52.0


class TextbookCase(Frozen):
    """A hedging experiment's parameters; the defaults are Hull's example (table 19.2)."""

    s0: float = Field(default=49.0, gt=0)
    strike: float = Field(default=50.0, gt=0)
    rate: float = 0.05
    vol: float = Field(default=0.20, gt=0)
    drift: float = 0.13  # the real-world drift μ the paths are simulated with
    years: float = Field(default=20 * WEEK_YEARS, gt=0)
    is_call: bool = True


class HedgeCostRow(Frozen):
    interval_weeks: float
    rebalances: int
    performance: float  # std(PV of hedge cost) / BS price
    performance_se: float  # its Monte Carlo standard error
    mean_cost: float  # mean PV of hedge cost / BS price (≈ 1: the BS price pays for the hedge)
    paths: int


def _std_se(x: FloatArray) -> tuple[float, float]:
    """Sample std and its asymptotic standard error std·√((κ − 1)/(4n))."""
    sd = float(x.std(ddof=1))
    kurt = float(np.mean((x - x.mean()) ** 4)) / float(x.var()) ** 2 if sd > 0 else 1.0
    return sd, sd * math.sqrt(max(kurt - 1.0, 0.0) / (4.0 * len(x)))


def hedge_cost_table(
    case: TextbookCase, intervals_weeks: tuple[float, ...] = (5.0, 4.0, 2.0, 1.0, 0.5, 0.25), paths: int = 100_000,
    seed: int = 7,
) -> tuple[HedgeCostRow, ...]:
    """Hull's performance measure for each rebalance interval (weeks); each interval must divide the maturity.

    Usage: ``hedge_cost_table(TextbookCase(), (5, 1, 0.25), paths=50_000)[0].performance``  # ≈ 0.42
    """
    if paths < 2:
        raise InputError(f"Monte Carlo needs at least 2 paths, got {paths}")
    price = float(bsm(case.is_call, case.s0, case.strike, case.years, case.rate, 0.0, case.vol).price)
    if price <= 0:
        raise InputError(f"the option is worth nothing at these parameters (price {price:g}); nothing to hedge")
    rows = []
    for weeks in intervals_weeks:
        exact = case.years / (weeks * WEEK_YEARS)
        n = round(exact)
        if weeks <= 0 or n < 1 or abs(exact - n) > 1e-6:
            raise InputError(f"a rebalance interval of {weeks:g} weeks does not divide the maturity of "
                             f"{case.years / WEEK_YEARS:g} weeks")
        # Exact GBM steps on the hedge dates only: the hedge P&L depends on the path at those dates alone.
        sim = gbm_paths(case.s0, case.drift, case.vol, case.years, n, paths, seed + n)
        pnl = hedged_pnl(sim, case.strike, case.years, case.vol, rate=case.rate, is_call=case.is_call)
        pv_cost = price - pnl * math.exp(-case.rate * case.years)
        sd, se = _std_se(pv_cost)
        rows.append(HedgeCostRow(interval_weeks=weeks, rebalances=n, performance=sd / price,
                                 performance_se=se / price, mean_cost=float(pv_cost.mean()) / price, paths=paths))
    return tuple(rows)
