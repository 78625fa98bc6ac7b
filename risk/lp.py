"""Uniswap V3 LP positions in closed form: holdings, value, delta, gamma and the LVR rate.

Sources: reserves between ticks x = L/√P, y = L√P (Adams et al., "Uniswap v3 Core", 2021, §6.2); LVR rate
ℓ = −½σ²P²Γ, σ²/8 of value for a full-range constant product (Milionis, Moallemi, Roughgarden, Zhang,
"Automated Market Making and Loss-Versus-Rebalancing", arXiv 2208.06046).

A position with liquidity ``L`` on the price range [pa, pb] (price P of token0 in token1) holds
x = L(1/√P − 1/√pb) of token0 and y = L(√P − √pa) of token1 in range; all token0 below pa; all token1 above pb.
Its delta (in token0 units) is exactly x, its gamma −L/(2P^{3/2}) in range and 0 outside. LVR, the loss an LP
suffers to arbitrageurs, accrues at ℓ = −½σ²P²Γ per unit time (Milionis et al. 2022).

Everything here works in *human* units with the risky token as token0 and USD as token1. :func:`human_range`
converts an on-chain position (raw liquidity, ticks, decimals, token order) into that frame: the human liquidity is
L·10^{−(d0+d1)/2}, and a position whose risky token is token1 is the same position on the inverted range
[1/pb, 1/pa] with the same L (x and y swap roles under P → 1/P).

Usage::

    rng = human_range(liquidity, tick_lower, tick_upper, 18, 6, risky_is_token0=True)
    lp_delta(rng.liquidity, 3000.0, rng.lower, rng.upper)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from risk.greeks import FloatArray

Q96 = 2**96
TICK_BASE = 1.0001


@dataclass(frozen=True)
class HumanRange:
    """A position in the risky-token/USD frame: human liquidity and the price range in USD per risky unit."""

    liquidity: float
    lower: float
    upper: float


def tick_to_price(tick: ArrayLike) -> FloatArray:
    """Raw pool price (token1 raw per token0 raw) at a tick: 1.0001^tick."""
    out: FloatArray = np.power(TICK_BASE, np.asarray(tick, dtype=np.float64))
    return out


def sqrt_x96_to_price(sqrt_price_x96: int) -> float:
    """Raw pool price from slot0's sqrtPriceX96 (exact integer square, then one float division)."""
    return (sqrt_price_x96 * sqrt_price_x96) / float(Q96 * Q96)


def human_range(  # mirrors the on-chain position's fields
    liquidity: int, tick_lower: int, tick_upper: int, decimals0: int, decimals1: int, risky_is_token0: bool
) -> HumanRange:
    """Convert an on-chain position to the risky/USD frame used by :func:`lp_value` and friends.

    Usage: ``human_range(10**18, -200000, -190000, 6, 18, risky_is_token0=False)``
    """
    scale = 10.0 ** (decimals0 - decimals1)  # human price = raw price * 10^(d0 - d1)
    lo, hi = float(tick_to_price(tick_lower)) * scale, float(tick_to_price(tick_upper)) * scale
    human_l = liquidity * 10.0 ** (-(decimals0 + decimals1) / 2)
    if risky_is_token0:
        return HumanRange(liquidity=human_l, lower=lo, upper=hi)
    return HumanRange(liquidity=human_l, lower=1.0 / hi, upper=1.0 / lo)


def human_price(sqrt_price_x96: int, decimals0: int, decimals1: int, risky_is_token0: bool) -> float:
    """USD per risky unit from a pool's sqrtPriceX96 (inverting when the risky token is token1)."""
    p = sqrt_x96_to_price(sqrt_price_x96) * 10.0 ** (decimals0 - decimals1)
    return p if risky_is_token0 else 1.0 / p


def lp_amounts(
    liquidity: ArrayLike, price: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """(token0, token1) held by the position at ``price``; the three regimes by clipping √P into [√pa, √pb].

    Usage: ``x, y = lp_amounts(1e4, 3000.0, 2500.0, 3500.0)``
    """
    big_l = np.asarray(liquidity, dtype=np.float64)
    sa, sb = np.sqrt(np.asarray(lower, dtype=np.float64)), np.sqrt(np.asarray(upper, dtype=np.float64))
    sp = np.clip(np.sqrt(np.asarray(price, dtype=np.float64)), sa, sb)
    x: FloatArray = big_l * (1.0 / sp - 1.0 / sb)
    y: FloatArray = big_l * (sp - sa)
    return x, y


def lp_value(liquidity: ArrayLike, price: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> FloatArray:
    """Value in token1 (USD): x·P + y; equals L(2√P − √pa − P/√pb) in range."""
    x, y = lp_amounts(liquidity, price, lower, upper)
    out: FloatArray = x * np.asarray(price, dtype=np.float64) + y
    return out


def lp_delta(liquidity: ArrayLike, price: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> FloatArray:
    """dV/dP in token0 units: L(1/√pa − 1/√pb) below the range, L(1/√P − 1/√pb) in it, 0 above."""
    return lp_amounts(liquidity, price, lower, upper)[0]


def lp_gamma(liquidity: ArrayLike, price: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> FloatArray:
    """d²V/dP²: −L/(2P^{3/2}) strictly inside the range, 0 outside (the kinks at pa, pb are measure zero)."""
    big_l = np.asarray(liquidity, dtype=np.float64)
    p = np.asarray(price, dtype=np.float64)
    inside = (p > np.asarray(lower)) & (p < np.asarray(upper))
    out: FloatArray = np.where(inside, -big_l / (2.0 * p**1.5), 0.0)
    return out


def lvr_rate(
    liquidity: ArrayLike, price: ArrayLike, lower: ArrayLike, upper: ArrayLike, vol: ArrayLike
) -> FloatArray:
    """Loss-versus-rebalancing per year in USD: ℓ = −½σ²P²Γ (σ annualised). Constant product: ℓ/V = σ²/8.

    Usage: ``lvr_rate(L, 3000.0, 2500.0, 3500.0, 0.8) / 365``  # USD per day
    """
    p = np.asarray(price, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    out: FloatArray = -0.5 * v * v * p * p * lp_gamma(liquidity, price, lower, upper)
    return out
