"""Vectorised Black-Scholes-Merton (with carry q) and Black-76 prices and Greeks.

Formulas: Hull, "Options, Futures and Other Derivatives" ch. 15 and 19 (BSM with carry q); Black (1976) for
futures; checked against Haug (1998) values as QuantLib's test-suite europeanoption.cpp tabulates them. Every
input broadcasts as a numpy array, so a whole book prices in one call (100,000 options take a few milliseconds).

Units: ``delta`` per unit of underlying, ``gamma`` per unit per USD, ``vega`` per 1.00 of volatility (divide by
100 for a vol point), ``theta`` per year of calendar time passing (``theta_day`` = theta / 365), ``rho`` per 1.00
of rate, ``vanna`` = d(delta)/d(sigma) (used by the Zakamouline band's modified-vol delta), ``volga`` =
d(vega)/d(sigma) per 1.00 of volatility squared.

Usage::

    g = bsm(is_call=True, spot=105.0, strike=100.0, tau=0.5, rate=0.10, carry=0.10, vol=0.36)
    g.delta  # 0.5946
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]

DAYS_PER_YEAR = 365.0
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
# Below this time to expiry (about 0.3 s) an option is priced at intrinsic value: d1 is numerically meaningless.
_TAU_EPS = 1e-8


@dataclass(frozen=True)
class Greeks:
    """Prices and Greeks of many options at once, each field an array of the broadcast input shape."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray  # per year
    rho: FloatArray
    vanna: FloatArray
    volga: FloatArray

    @property
    def theta_day(self) -> FloatArray:
        """Theta per calendar day."""
        return self.theta / DAYS_PER_YEAR


def _pdf(x: FloatArray) -> FloatArray:
    out: FloatArray = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return out


def bsm(  # the textbook argument order, positional on purpose
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    tau: ArrayLike,
    rate: ArrayLike,
    carry: ArrayLike,
    vol: ArrayLike,
) -> Greeks:
    """Black-Scholes-Merton price and Greeks with continuous carry ``carry`` (dividend/funding yield q).

    ``tau`` is time to expiry in years. Options at or past expiry (tau <= 0) get intrinsic value, a step delta and
    zero gamma/vega/theta, so a book replayed through its expiry stays well defined.

    Usage: ``bsm(np.array([True, False]), 3000.0, 3200.0, 30 / 365, 0.0, 0.0, 0.65).delta``
    """
    call = np.asarray(is_call, dtype=bool)
    s, k, t, r, q, v = (np.asarray(x, dtype=np.float64) for x in (spot, strike, tau, rate, carry, vol))
    call, s, k, t, r, q, v = np.broadcast_arrays(call, s, k, t, r, q, v)
    live = t > _TAU_EPS
    tl = np.where(live, t, 1.0)  # placeholder for expired entries keeps logs and divisions finite
    sqrt_t = np.sqrt(tl)
    sig_sqrt_t = v * sqrt_t
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * tl) / sig_sqrt_t
    d2 = d1 - sig_sqrt_t
    dq = np.exp(-q * tl)
    dr = np.exp(-r * tl)
    sign = np.where(call, 1.0, -1.0)
    nd1 = ndtr(sign * d1)
    nd2 = ndtr(sign * d2)
    pdf1 = _pdf(d1)
    price = sign * (s * dq * nd1 - k * dr * nd2)
    delta = sign * dq * nd1
    gamma = dq * pdf1 / (s * sig_sqrt_t)
    vega = s * dq * pdf1 * sqrt_t
    # Theta as calendar time passes (= -dV/dtau): Hull's formula with carry.
    theta = -s * dq * pdf1 * v / (2.0 * sqrt_t) + sign * (q * s * dq * nd1 - r * k * dr * nd2)
    rho = sign * k * tl * dr * nd2
    vanna = -dq * pdf1 * d2 / v
    volga = vega * d1 * d2 / v
    intrinsic = np.maximum(sign * (s - k), 0.0)
    step = np.where(sign * (s - k) > 0, sign, 0.0)
    zero = np.zeros_like(s)
    return Greeks(
        price=np.where(live, price, intrinsic),
        delta=np.where(live, delta, step),
        gamma=np.where(live, gamma, zero),
        vega=np.where(live, vega, zero),
        theta=np.where(live, theta, zero),
        rho=np.where(live, rho, zero),
        vanna=np.where(live, vanna, zero),
        volga=np.where(live, volga, zero),
    )


def black76(
    is_call: ArrayLike, forward: ArrayLike, strike: ArrayLike, tau: ArrayLike, rate: ArrayLike, vol: ArrayLike
) -> Greeks:
    """Black-76 on a forward/future ``forward``: BSM with spot = F and carry = rate (as QuantLib encodes it).

    Delta and gamma are with respect to the forward. ``rho`` is dV/dr with the carry held at its input (= the
    input rate), so the forward moves with the rate: sign·K·τ·e^{−rτ}·N(sign·d2), the value QuantLib's
    ``BlackCalculator::rho`` returns. It is *not* the fixed-forward rho of a futures option, which is −τ·V (only
    discounting moves); use ``-tau * price`` for that.

    Usage: ``black76(True, 19.0, 19.0, 0.75, 0.10, 0.28).price``  # 1.7011
    """
    return bsm(is_call, forward, strike, tau, rate, rate, vol)


def implied_forward(spot: ArrayLike, tau: ArrayLike, rate: ArrayLike, carry: ArrayLike) -> FloatArray:
    """Forward price S·e^{(r−q)τ}: the point the smile's moneyness is measured against."""
    s, t, r, q = (np.asarray(x, dtype=np.float64) for x in (spot, tau, rate, carry))
    out: FloatArray = s * np.exp((r - q) * t)
    return out
