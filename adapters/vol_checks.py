"""No-arbitrage checks of implied-vol smiles: calendar (total variance non-decreasing in expiry) and butterfly.

Butterfly: for an SVI smile Gatheral's density condition g(k) ≥ 0 (Gatheral & Jacquier, "Arbitrage-free SVI
volatility surfaces", Quantitative Finance 2014, eq. 2.1),

    g(k) = (1 − k·w'/(2w))² − (w'²/4)·(1/w + 1/4) + w''/2,

and for vol points the model-free statement behind it: undiscounted Black call prices c(K) are decreasing and
convex in the strike on a dense grid of the interpolated smile. Each check returns ``None`` or one sentence naming
the expiry and the strike (K = F·e^k with F the reference price when known, else the moneyness K/F).

Usage: ``butterfly_problem("30d", wfun, True, knots=None, reference=3000.0)``
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]
#: Total variance and its first two k-derivatives at an array of k.
WFun = Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]
#: The k grid the checks scan: ±ln 20 (moneyness 1/20 to 20) in steps of about 0.01.
K_GRID = np.linspace(-math.log(20.0), math.log(20.0), 601)
_TOL = 1e-9


def strike_text(k: float, reference: float | None) -> str:
    """'strike 3,450 (K/F 1.150)' with a reference price, else 'strike K/F 1.150'."""
    m = math.exp(k)
    if reference is None:
        return f"strike K/F {m:.3f}"
    strike = reference * m
    shown = f"{strike:,.0f}" if strike >= 1000 else f"{strike:.4g}"
    return f"strike {shown} (K/F {m:.3f})"


def _grid(knots: Sequence[float] | None) -> FloatArray:
    """The scan grid plus, between consecutive knots, 16 points (a cubic's wiggle cannot hide between them)."""
    parts = [K_GRID]
    if knots:
        ks = np.asarray(knots, dtype=np.float64)
        parts.append(ks)
        for a, b in itertools.pairwise(ks):
            parts.append(np.linspace(a, b, 18)[1:-1])
    return np.unique(np.concatenate(parts))


def gatheral_g(w: FloatArray, w1: FloatArray, w2: FloatArray, k: FloatArray) -> FloatArray:
    """Gatheral's g(k); the risk-neutral density is g(k)/√(2πw)·exp(−d₂²/2), so g < 0 is butterfly arbitrage."""
    out: FloatArray = (1.0 - k * w1 / (2.0 * w)) ** 2 - (w1 * w1 / 4.0) * (1.0 / w + 0.25) + w2 / 2.0
    return out


def call_prices(k: FloatArray, w: FloatArray) -> FloatArray:
    """Undiscounted Black calls on a unit forward at strikes e^k with total variance w."""
    sw = np.sqrt(w)
    d1 = -k / sw + sw / 2.0
    out: FloatArray = ndtr(d1) - np.exp(k) * ndtr(d1 - sw)
    return out


def butterfly_problem(label: str, wfun: WFun, is_svi: bool, knots: Sequence[float] | None,
                      reference: float | None) -> str | None:
    """Why the smile of expiry ``label`` has butterfly arbitrage (None: it has none)."""
    k = _grid(knots)
    w, w1, w2 = wfun(k)
    if np.any(w <= 0):
        i = int(np.argmin(w))
        return f"expiry {label}: total variance {w[i]:.4g} is not positive at {strike_text(float(k[i]), reference)}"
    if is_svi:
        g = gatheral_g(w, w1, w2, k)
        i = int(np.argmin(g))
        if g[i] < -_TOL:
            return (f"butterfly arbitrage at expiry {label}, {strike_text(float(k[i]), reference)}: Gatheral's "
                    f"density condition g(k) = {g[i]:.4g} < 0 (the implied density is negative)")
        return None
    x = np.exp(k)
    slope = np.diff(call_prices(k, w)) / np.diff(x)
    if np.any(slope > _TOL):
        i = int(np.argmax(slope))
        return (f"butterfly arbitrage at expiry {label}, {strike_text(float(k[i]), reference)}: call prices rise "
                "with the strike there")
    curv = np.diff(slope)
    i = int(np.argmin(curv))
    if curv[i] < -_TOL:
        return (f"butterfly arbitrage at expiry {label}, {strike_text(float(k[i + 1]), reference)}: call prices "
                "are not convex in strike there (the implied density is negative)")
    return None


def calendar_problem(first: str, second: str, w_first: Callable[[FloatArray], FloatArray],
                     w_second: Callable[[FloatArray], FloatArray], knots: Sequence[float],
                     reference: float | None) -> str | None:
    """Why total variance falls from expiry ``first`` to the later ``second`` somewhere (None: it never does)."""
    k = _grid(knots)
    a, b = w_first(k), w_second(k)
    drop = b - a
    i = int(np.argmin(drop))
    if drop[i] < -_TOL:
        return (f"calendar arbitrage between expiries {first} and {second} at {strike_text(float(k[i]), reference)}:"
                f" total variance falls from {a[i]:.5g} to {b[i]:.5g} (it must not decrease with expiry)")
    return None
