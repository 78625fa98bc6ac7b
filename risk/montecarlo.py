"""Monte Carlo mode of the backtester: GBM (optionally with Merton jumps) paths and discrete delta hedging.

Reproduces textbook results: Derman & Kamal (1999), the std of the P&L of delta hedging N times over the option's
life ≈ √(π/4)·σ·vega/√N (Derman & Kamal, "When You Cannot Hedge Continuously", Goldman Sachs 1999), and
Hull's hedge-performance table ("Options, Futures and Other Derivatives", table 19.2) (std of hedge cost / BS price).

Usage::

    paths = gbm_paths(100.0, 0.0, 0.2, 1.0, 252, 20_000, seed=1)
    pnl = hedged_pnl(paths, strike=100.0, years=1.0, vol=0.2)
    pnl.std(), derman_kamal_std(0.2, vega, 252)
"""

from __future__ import annotations

import math

import numpy as np

from crosshedge import Frozen
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
