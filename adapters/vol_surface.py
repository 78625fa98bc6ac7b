"""Implied-volatility surface of one underlying: per-expiry smiles (raw SVI or vol points), total-variance
interpolation across expiries, and the smile dynamics the book chose.

Each expiry's smile is given in forward log-moneyness k = ln(K/F), F the forward at that expiry:

* raw SVI (Gatheral 2004): total variance w(k) = a + b(ρ(k − m) + √((k − m)² + σ²)) at the expiry's time to
  expiry T0 from the surface's ``as_of``; bounds b ≥ 0, |ρ| < 1, σ > 0, a + bσ√(1 − ρ²) ≥ 0 (w ≥ 0 everywhere);
* vol points (k_i, σ_i): total variance w_i = σ_i²·T0 interpolated in k by a natural cubic spline, so w is
  C² and gamma (which reads w'') is continuous; beyond the first and last point w is linear in k with the end
  slope (C² again, since a natural spline has w'' = 0 at its ends) where the wing rises, and flat where it
  would fall (a single point is a flat smile). A monotone cubic (PCHIP) was not used: it forces w' = 0 at the
  smile's lowest point, i.e. no skew at the money, which would understate the sticky-delta adjustment. A spline
  can overshoot between badly spaced points; the butterfly check below refuses a smile where it does.

Each expiry keeps its implied vol by k as time passes (w = σ(k)²·T with T the expiry's current time to expiry).
Across expiries the total variance is interpolated linearly in T at fixed k (Gatheral, "The Volatility Surface",
ch. 3); before the first expiry and after the last the vol of that expiry is held flat (w = σ₁(k)²·T, resp.
σₙ(k)²·T), which keeps w increasing in T. An expiry already past at the valuation time drops out.

Arbitrage is refused when the surface is built, as of its ``as_of`` (a ``ValueError`` whose one sentence names
the expiry and the strike; the book loader prefixes the file and the entry): calendar, w(k, T) non-decreasing in
T on a k grid; butterfly, Gatheral's density condition g(k) ≥ 0 for SVI (Gatheral & Jacquier, "Arbitrage-free
SVI volatility surfaces", 2014, eq. 2.1) and, for points, undiscounted call prices decreasing and convex in strike
on a dense grid of the interpolated smile. Strikes in messages are K = F·e^k, F the ``reference_price`` (zero rates).

Smile dynamics (``dynamics``) say how an option's vol moves when the spot moves:

* ``sticky_delta`` (the default; strictly sticky moneyness): the smile is a function of k = ln(K/F) and moves
  with the forward, so the vol of a fixed strike changes as S moves (dσ/dS = −σ_k/S);
* ``sticky_strike``: the vol of a strike stays where the surface was marked, σ(K) = σ(ln(K/F_ref)) with
  F_ref the forward of ``reference_price`` (required for this dynamic), whatever the spot does.

Usage::

    s = VolSurface(underlying="ETH", as_of=t0, reference_price=3000.0, slices=(
        SmileSlice(label="30d", expiry=t0 + timedelta(30), svi=SviParams(a=0.01, b=0.05, rho=-0.3, m=0, sigma=0.2)),
    ))
    s.vol(np.log(3300 / 3000), t0 + timedelta(45), now=t0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import AwareDatetime, Field, model_validator
from scipy.interpolate import CubicSpline

from adapters.types import Frozen
from adapters.vol_checks import WFun, butterfly_problem, calendar_problem

FloatArray = NDArray[np.float64]
SmileDynamics = Literal["sticky_strike", "sticky_delta"]
SMILE_DYNAMICS: tuple[SmileDynamics, ...] = ("sticky_strike", "sticky_delta")
_YEAR_S = 365.0 * 86400.0
#: |k| bound of smile points: ln 20, the same factor-20 moneyness bound the book keeps for strikes.
MAX_ABS_LOG_MONEYNESS = math.log(20.0)
_MAX_VOL = 10.0


class SviParams(Frozen):
    """Raw SVI parameters of one expiry (total variance at the expiry's T0, k = ln(K/F))."""

    a: float
    b: float = Field(ge=0)
    rho: float = Field(gt=-1, lt=1)
    m: float
    sigma: float = Field(gt=0)

    @model_validator(mode="after")
    def _non_negative_variance(self) -> SviParams:
        floor = self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)
        if not all(math.isfinite(x) for x in (self.a, self.m)):
            raise ValueError("a and m must be finite")
        if floor < 0:
            raise ValueError(f"a + b·sigma·sqrt(1 - rho²) = {floor:.6g} is negative (total variance would go "
                             "below zero)")
        return self

    def w(self, k: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(w, dw/dk, d²w/dk²) at ``k``."""
        x = k - self.m
        root = np.sqrt(x * x + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * x + root)
        return w, self.b * (self.rho + x / root), self.b * self.sigma * self.sigma / root**3


class SmileSlice(Frozen):
    """One expiry's smile: ``svi`` or vol points ``k`` (log-moneyness, increasing) with ``vols``."""

    label: str  # the expiry as the book wrote it ("30d", "2026-12-25"), for messages
    expiry: AwareDatetime
    svi: SviParams | None = None
    k: tuple[float, ...] | None = None
    vols: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _shape(self) -> SmileSlice:
        if (self.svi is None) == (self.k is None and self.vols is None):
            raise ValueError(f"expiry {self.label}: give either svi parameters or vol points (k or moneyness, vols)")
        if self.svi is None:
            k, vols = self.k or (), self.vols or ()
            if not k or len(k) != len(vols):
                raise ValueError(f"expiry {self.label}: the points need as many vols as strikes, at least one")
            for i, (x, v) in enumerate(zip(k, vols, strict=True)):
                if not (math.isfinite(x) and abs(x) <= MAX_ABS_LOG_MONEYNESS):
                    raise ValueError(f"expiry {self.label}: k[{i}] = {x:g} is beyond ±ln 20 (moneyness 1/20 to 20)")
                if not (math.isfinite(v) and 0 < v <= _MAX_VOL):
                    raise ValueError(f"expiry {self.label}: vols[{i}] must be within (0, {_MAX_VOL:g}], got {v:g}")
            if any(b <= a for a, b in itertools.pairwise(k)):
                raise ValueError(f"expiry {self.label}: strikes (k or moneyness) must be strictly increasing")
        return self

    def w(self, k: FloatArray, t0: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(w, dw/dk, d²w/dk²) at ``k``; ``t0`` is the slice's time to expiry at the surface's as_of."""
        if self.svi is not None:
            return self.svi.w(k)
        xs = np.asarray(self.k, dtype=np.float64)
        ws = np.asarray(self.vols, dtype=np.float64) ** 2 * t0
        zero = np.zeros_like(k)
        if len(xs) == 1:
            return np.full_like(k, float(ws[0])), zero, zero
        curve = CubicSpline(xs, ws, bc_type="natural")
        # Wings linear in w with the end slope (a natural spline has w'' = 0 at the ends, so w stays C²), flat
        # where that slope would make the wing fall (a convex kink: no butterfly arbitrage from the extension).
        slope_l, slope_r = min(float(curve(xs[0], 1)), 0.0), max(float(curve(xs[-1], 1)), 0.0)
        kc = np.clip(k, xs[0], xs[-1])
        inside = (k > xs[0]) & (k < xs[-1])
        w = curve(kc) + np.where(k < xs[0], slope_l * (k - xs[0]), 0.0) + np.where(k > xs[-1], slope_r * (k - xs[-1]),
                                                                                   0.0)
        w1 = np.where(inside, curve(kc, 1), np.where(k <= xs[0], slope_l, slope_r))
        return w, w1, np.where(inside, curve(kc, 2), zero)

    def vol(self, k: FloatArray, t0: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(σ, dσ/dk, d²σ/dk²) at ``k`` (σ²·t0 = w, differentiated twice)."""
        return _vol_from_w(*self.w(k, t0), t0)


def _vol_from_w(w: FloatArray, w1: FloatArray, w2: FloatArray, t: FloatArray | float) -> tuple[
        FloatArray, FloatArray, FloatArray]:
    sig: FloatArray = np.sqrt(np.maximum(w, 1e-300) / t)
    s1 = w1 / (2.0 * sig * t)
    return sig, s1, (w2 / (2.0 * t) - s1 * s1) / sig


def _wfun(sl: SmileSlice, t0: float) -> WFun:
    def w(k: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        return sl.w(k, t0)
    return w


def _level(f: WFun) -> Callable[[FloatArray], FloatArray]:
    def w(k: FloatArray) -> FloatArray:
        return f(k)[0]
    return w


class VolSurface(Frozen):
    """Per-expiry smiles of one underlying, checked free of calendar and butterfly arbitrage when built."""

    underlying: str
    as_of: AwareDatetime  # when the smiles were marked: SVI total variances are at T0 from here
    slices: tuple[SmileSlice, ...] = Field(min_length=1)
    dynamics: SmileDynamics = "sticky_delta"
    reference_price: float | None = Field(default=None, gt=0)  # the spot the surface was marked at

    @model_validator(mode="after")
    def _no_arbitrage(self) -> VolSurface:
        t0 = self.t0()
        for sl, t in zip(self.slices, t0, strict=True):
            if t <= 0:
                raise ValueError(f"expiry {sl.label} is not after the surface's as_of {self.as_of.isoformat()}")
        for (first, a), (second, b) in itertools.pairwise(zip(self.slices, t0, strict=True)):
            if b <= a:
                order = "fall at the same time" if b == a else "are not listed in increasing order"
                raise ValueError(f"expiries {first.label} and {second.label} {order}")
        if self.dynamics == "sticky_strike" and self.reference_price is None:
            raise ValueError("sticky_strike needs the spot the surface was marked at (a reference price)")
        for i, (sl, t) in enumerate(zip(self.slices, t0, strict=True)):
            problem = butterfly_problem(sl.label, _wfun(sl, t), sl.svi is not None, sl.k, self.reference_price)
            if problem is None and i:
                prev = self.slices[i - 1]
                problem = calendar_problem(prev.label, sl.label, _level(_wfun(prev, t0[i - 1])),
                                           _level(_wfun(sl, t)), (*(prev.k or ()), *(sl.k or ())),
                                           self.reference_price)
            if problem is not None:
                raise ValueError(problem)
        return self

    def t0(self) -> tuple[float, ...]:
        """Each expiry's time to expiry (years) at the surface's as_of."""
        return tuple((sl.expiry - self.as_of).total_seconds() / _YEAR_S for sl in self.slices)

    def vol(self, k: ArrayLike, expiry: datetime | Sequence[datetime], now: datetime) -> FloatArray:
        """Implied vol at log-moneyness ``k`` for options expiring at ``expiry`` (datetimes), valued at ``now``."""
        return self.smile(k, expiry, now)[0]

    def smile(
        self, k: ArrayLike, expiry: datetime | Sequence[datetime], now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(σ, dσ/dk, d²σ/dk²) at ``k`` (broadcast against the ``expiry`` datetimes), valued at ``now``."""
        kk = np.atleast_1d(np.asarray(k, dtype=np.float64))
        exp = np.atleast_1d(np.array([expiry] if isinstance(expiry, datetime) else list(expiry), dtype=object))
        kk, exp = np.broadcast_arrays(kk, exp)
        tau = np.array([(e - now).total_seconds() / _YEAR_S for e in exp.ravel()]).reshape(kk.shape)
        return self.smile_at_tau(kk, tau, now)

    def smile_at_tau(
        self, k: FloatArray, tau: FloatArray, now: datetime
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """As :meth:`smile` with times to expiry ``tau`` (years from ``now``) instead of expiry dates."""
        t0 = self.t0()
        age = (now - self.as_of).total_seconds() / _YEAR_S
        live = [(sl, t, t - age) for sl, t in zip(self.slices, t0, strict=True) if t - age > 1e-9]
        if not live:
            live = [(self.slices[-1], t0[-1], max(t0[-1] - age, 1e-9))]  # every expiry past: the last smile, flat
        k, tau = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.maximum(tau, 1e-9))
        # w_i(k) = σ_i(k)²·T_i and its k-derivatives, per live slice: arrays of shape (slices, *k.shape).
        parts = [sl.vol(k, t) for sl, t, _ in live]
        t_now = np.array([tn for _, _, tn in live])
        sig, s1, s2 = (np.stack([p[j] for p in parts]) for j in range(3))
        tn = t_now.reshape((-1,) + (1,) * k.ndim)
        ws = (sig * sig * tn, 2.0 * sig * s1 * tn, 2.0 * (s1 * s1 + sig * s2) * tn)  # d/dk, d²/dk² of σ²T
        n = len(live)
        hi = np.clip(np.searchsorted(t_now, tau), 1, n - 1) if n > 1 else np.zeros(tau.shape, dtype=np.intp)
        lo = np.maximum(hi - 1, 0)
        x = np.clip((tau - t_now[lo]) / (t_now[hi] - t_now[lo]), 0.0, 1.0) if n > 1 else np.zeros(tau.shape)

        def pick(arr: FloatArray, j: NDArray[np.intp]) -> FloatArray:
            out: FloatArray = np.take_along_axis(arr, j[None], axis=0)[0]
            return out

        wi, wi1, wi2 = (pick(a, lo) + x * (pick(a, hi) - pick(a, lo)) for a in ws)
        # Outside [T_1, T_n] the nearest expiry's vol is held flat: w scales with tau.
        t_lo = np.where(tau <= t_now[0], t_now[0], np.where(tau >= t_now[-1], t_now[-1], tau))
        scale = tau / t_lo
        return _vol_from_w(wi * scale, wi1 * scale, wi2 * scale, tau)
