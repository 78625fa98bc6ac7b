"""Option Greeks consistent with the book's vol surface and smile dynamics (the numbers stress revalues with).

An option's vol is σ(S) = m·ς(k(S), τ) + h: ς the surface (adapters.VolSurface), m the stress vol multiplier,
h a parallel vol shift. Under ``sticky_strike`` k = ln(K/F_ref) with F_ref the forward of the surface's reference
price, so σ does not move with S and every Greek is Black-Scholes at σ(K). Under ``sticky_delta`` (sticky
moneyness) k = ln(K/F), F = S·e^{rτ}, so dk/dS = −1/S and

    σ_S = −m·ς_k/S,    σ_SS = m·(ς_kk + ς_k)/S²,

and the total derivatives of V(S, σ(S)) are (Hull ch. 20 "smile-adjusted delta"; the chain rule twice):

    Δ = Δ_BS + ν·σ_S
    Γ = Γ_BS + 2·vanna·σ_S + volga·σ_S² + ν·σ_SS
    vanna = dΔ/dh = vanna_BS + volga·σ_S        volga = d²V/dh² = volga_BS     vega = dV/dh = ν

A line with a flat ``vol`` keeps it (σ_S = 0). Theta includes the surface's roll-down: θ = θ_BS + ν·dσ/dt at
fixed S and K, dσ/dt by a one-hour difference of the surface.

Usage: ``g = smile_greeks(options, spot, now, rate=0.0)``; ``g.delta`` per option, per unit
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from adapters import OptionPosition, VolSurface
from risk.greeks import DAYS_PER_YEAR, FloatArray, bsm

_YEAR_S = DAYS_PER_YEAR * 86400.0
_THETA_STEP = timedelta(hours=1)
_MIN_VOL = 1e-6


@dataclass(frozen=True)
class SmileGreeks:
    """Per-option price and smile-consistent Greeks (per unit of the option; size not applied)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray  # per 1.00 of vol (parallel shift)
    theta: FloatArray  # per year
    vanna: FloatArray  # d(delta)/d(vol), per 1.00 of vol
    volga: FloatArray  # d(vega)/d(vol), per 1.00 of vol
    vol: FloatArray
    tau: FloatArray


@dataclass(frozen=True)
class _Vols:
    vol: FloatArray
    d_s: FloatArray  # dσ/dS
    d_ss: FloatArray  # d²σ/dS²


def _surface_vols(surface: VolSurface, strike: FloatArray, spot: FloatArray, tau: FloatArray, now: datetime,
                  rate: float, vol_mult: float) -> _Vols:
    if surface.dynamics == "sticky_strike":
        assert surface.reference_price is not None  # the surface's own validator requires it
        k = np.log(strike / (surface.reference_price * np.exp(rate * tau)))
    else:
        k = np.log(strike / (spot * np.exp(rate * tau)))
    sig, s_k, s_kk = surface.smile_at_tau(k, tau, now)
    if surface.dynamics == "sticky_strike":
        zero = np.zeros_like(sig)
        return _Vols(vol_mult * sig, zero, zero)
    return _Vols(vol_mult * sig, -vol_mult * s_k / spot, vol_mult * (s_kk + s_k) / (spot * spot))


def option_vols(options: Sequence[OptionPosition], spot: FloatArray, tau: FloatArray, now: datetime,
                rate: float = 0.0, vol_mult: float = 1.0, vol_shift: float = 0.0) -> tuple[FloatArray, FloatArray,
                                                                                             FloatArray]:
    """(σ, dσ/dS, d²σ/dS²) per option under its surface's dynamics; flat-vol lines have zero derivatives."""
    n = len(options)
    vol, d_s, d_ss = np.zeros(n), np.zeros(n), np.zeros(n)
    groups: dict[int, list[int]] = {}
    for i, o in enumerate(options):
        if o.surface is None:
            assert o.vol is not None
            vol[i] = vol_mult * o.vol
        else:
            groups.setdefault(id(o.surface), []).append(i)
    strike = np.array([o.strike for o in options], dtype=np.float64)
    for idx in groups.values():
        at = np.array(idx)
        surface = options[idx[0]].surface
        assert surface is not None
        v = _surface_vols(surface, strike[at], spot[at], tau[at], now, rate, vol_mult)
        vol[at], d_s[at], d_ss[at] = v.vol, v.d_s, v.d_ss
    return np.maximum(vol + vol_shift, _MIN_VOL), d_s, d_ss


def smile_greeks(options: Sequence[OptionPosition], spot: FloatArray, now: datetime, rate: float = 0.0,
                 vol_mult: float = 1.0, vol_shift: float = 0.0) -> SmileGreeks:
    """Prices and smile-consistent Greeks of ``options`` at spots ``spot`` (one per option); see the module doc."""
    tau = np.array([max(o.years_to_expiry(now), 0.0) for o in options])
    vol, d_s, d_ss = option_vols(options, spot, tau, now, rate, vol_mult, vol_shift)
    later = now + _THETA_STEP
    dt = _THETA_STEP.total_seconds() / _YEAR_S
    tau_later = np.maximum(tau - dt, 0.0)
    vol_later = option_vols(options, spot, tau_later, later, rate, vol_mult, vol_shift)[0]
    is_call = np.array([o.kind == "call" for o in options])
    g = bsm(is_call, spot, np.array([o.strike for o in options]), tau, rate, 0.0, vol)
    live = tau > dt
    dvol_dt = np.where(live, (vol_later - vol) / dt, 0.0)
    return SmileGreeks(
        price=g.price,
        delta=g.delta + g.vega * d_s,
        gamma=g.gamma + 2.0 * g.vanna * d_s + g.volga * d_s * d_s + g.vega * d_ss,
        vega=g.vega,
        theta=g.theta + g.vega * dvol_dt,
        vanna=g.vanna + g.volga * d_s,
        volga=g.volga,
        vol=vol,
        tau=tau,
    )
