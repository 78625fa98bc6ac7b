"""Stationary block bootstrap (Politis & Romano 1994) for confidence intervals of backtest statistics.

Daily hedged P&L is autocorrelated in its variance (volatility clusters), so resampling single days would make the
intervals too narrow. The stationary bootstrap resamples blocks of consecutive days whose lengths are geometric with
mean ``mean_block`` (wrapping around the end), which keeps that dependence. Two series of the same days (a policy
and the daily-hedge reference) are resampled with the same indices (paired), so the interval is that of their
ratio, not of two independent draws. Intervals are percentile intervals; everything is seeded.

Usage::

    ratio, lo, hi = std_ratio_ci(policy_daily, daily_daily, mean_block=10, resamples=2000, seed=1)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from crosshedge import InputError
from risk.greeks import FloatArray

MEAN_BLOCK_DAYS = 10.0
RESAMPLES = 2000
LEVEL = 0.90


def stationary_indices(n: int, mean_block: float, resamples: int, seed: int) -> NDArray[np.int64]:
    """Resampled day indices, shape (resamples, n): geometric blocks of mean length ``mean_block``, wrapping."""
    if n < 2 or mean_block < 1 or resamples < 1:
        raise InputError(f"a block bootstrap needs >= 2 days, a mean block >= 1 and >= 1 resample (got {n}, "
                         f"{mean_block:g}, {resamples})")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, (resamples, n))
    new = rng.random((resamples, n)) < 1.0 / mean_block
    new[:, 0] = True
    pos = np.arange(n)
    last = np.maximum.accumulate(np.where(new, pos, 0), axis=1)  # where the current block began
    out: NDArray[np.int64] = (np.take_along_axis(starts, last, axis=1) + (pos - last)) % n
    return out


def _interval(samples: FloatArray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def std_ratio_ci(
    x: FloatArray, y: FloatArray, mean_block: float = MEAN_BLOCK_DAYS, resamples: int = RESAMPLES, seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """std(x) / std(y) and its paired stationary-bootstrap percentile interval at ``level``.

    Usage: ``std_ratio_ci(policy_daily_pnl, daily_hedge_daily_pnl, seed=1)``  # (0.97, 0.88, 1.05)
    """
    if len(x) != len(y):
        raise InputError(f"paired series must cover the same days ({len(x)} vs {len(y)})")
    idx = stationary_indices(len(x), mean_block, resamples, seed)
    ratios = x[idx].std(axis=1, ddof=1) / y[idx].std(axis=1, ddof=1)
    return float(np.std(x, ddof=1) / np.std(y, ddof=1)), *_interval(ratios, level)


def sum_ratio_ci(
    x: FloatArray, y: FloatArray, mean_block: float = MEAN_BLOCK_DAYS, resamples: int = RESAMPLES, seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """sum(x) / sum(y) (e.g. total cost against total cost) and its paired bootstrap interval."""
    if len(x) != len(y):
        raise InputError(f"paired series must cover the same days ({len(x)} vs {len(y)})")
    idx = stationary_indices(len(x), mean_block, resamples, seed)
    ratios = x[idx].sum(axis=1) / y[idx].sum(axis=1)
    return float(x.sum() / y.sum()), *_interval(ratios, level)
