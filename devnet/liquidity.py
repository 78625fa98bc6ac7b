"""Pure maths for laying liquidity on a devnet pool: prices in raw token units, tick ranges, position amounts.

Uniswap V3 prices are token1 per token0 in raw (smallest) units; a USD price of the base token must be turned into
that, with the decimals of both tokens and the token order. Amounts for a liquidity L on [pa, pb] follow
Uniswap v3 Core whitepaper §6.2 (x = L/√P, y = L√P between ticks).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

Shape = Literal["ladder", "wide", "skewed"]
MIN_TICK, MAX_TICK = -887272, 887272
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


@dataclass(frozen=True)
class PairLayout:
    """How a base/quote pair maps onto a pool's token0/token1."""

    base_is_token0: bool
    base_decimals: int
    quote_decimals: int

    def raw_price(self, usd_price: float) -> float:
        """token1 per token0 in raw units for a base price in quote (USD) units."""
        scale = 10.0 ** (self.quote_decimals - self.base_decimals)
        return usd_price * scale if self.base_is_token0 else 1.0 / (usd_price * scale)

    def usd_per_raw_token1(self, usd_price: float) -> float:
        # token1 is the quote when the base is token0, and the base otherwise.
        return 10.0**-self.quote_decimals if self.base_is_token0 else usd_price * 10.0**-self.base_decimals


def sqrt_price_x96(raw_price: float) -> int:
    return int(math.sqrt(raw_price) * 2**96)


def tick_at(raw_price: float) -> int:
    return math.floor(math.log(raw_price) / math.log(1.0001))


def align_down(tick: int, spacing: int) -> int:
    return max(math.floor(tick / spacing) * spacing, math.ceil(MIN_TICK / spacing) * spacing)


def align_up(tick: int, spacing: int) -> int:
    return min(math.ceil(tick / spacing) * spacing, math.floor(MAX_TICK / spacing) * spacing)


@dataclass(frozen=True)
class PositionPlan:
    tick_lower: int
    tick_upper: int
    amount0: int  # raw amounts desired; the position manager takes the liquidity both allow
    amount1: int


def amounts_for_budget(
    raw_price: float, tick_lower: int, tick_upper: int, budget_usd: float, usd_per_t1: float
) -> PositionPlan:
    """Token amounts for a position on [tick_lower, tick_upper] worth ``budget_usd`` at ``raw_price``."""
    sa, sb, sp = math.sqrt(1.0001**tick_lower), math.sqrt(1.0001**tick_upper), math.sqrt(raw_price)
    if sp <= sa:
        a0, a1 = 1 / sa - 1 / sb, 0.0
    elif sp >= sb:
        a0, a1 = 0.0, sb - sa
    else:
        a0, a1 = 1 / sp - 1 / sb, sp - sa
    per_l_usd = (a0 * raw_price + a1) * usd_per_t1
    liquidity = budget_usd / per_l_usd
    # A hair more than needed on each side so rounding in the manager never starves the intended liquidity.
    return PositionPlan(
        tick_lower,
        tick_upper,
        int(liquidity * a0 * 1.0001) + 1 if a0 else 0,
        int(liquidity * a1 * 1.0001) + 1 if a1 else 0,
    )


def ranges_for_shape(shape: Shape, n: int, rng: random.Random) -> list[tuple[float, float, float]]:
    """(low factor, high factor, budget weight) per position, as multiples of the current price.

    ladder: overlapping ranges from ±0.5% to ±35%, equal budgets, so liquidity concentrates near the price;
    wide: broad ranges from ±20% to ±90% (and one near full range); skewed: some ranges only above or only below.
    """
    out: list[tuple[float, float, float]] = []
    for i in range(n):
        u = i / max(n - 1, 1)
        if shape == "ladder":
            half = 0.005 * (70.0**u) * rng.uniform(0.85, 1.15)
            centre = 1.0 + rng.uniform(-0.3, 0.3) * half
            out.append((centre * (1 - half), centre * (1 + half), 1.0))
        elif shape == "wide":
            half = 0.2 + 0.7 * u
            out.append((max(1 - half, 0.02), 1 + half * 2, 1.0) if i < n - 1 else (1e-3, 1e3, 0.5))
        else:
            half = 0.01 * (25.0**u) * rng.uniform(0.8, 1.2)
            side = i % 3
            if side == 0:
                out.append((1 - half, 1 + half, 1.5))
            elif side == 1:  # entirely above the price: single-sided liquidity waiting for a rally
                out.append((1 + half * 0.3, 1 + half * 1.8, 0.7))
            else:  # entirely below
                out.append((1 - half * 1.8, 1 - half * 0.3, 0.7))
    return out


def plan_positions(
    shape: Shape, n: int, raw_price: float, fee: int, depth_usd: float, usd_per_t1: float, seed: int,
    spacing: int | None = None,
) -> list[PositionPlan]:
    """Concrete, spacing-aligned positions whose budgets add up to ``depth_usd``.

    ``spacing`` defaults to the V3 tick spacing of ``fee``; V4 pools choose theirs freely and pass it.
    """
    rng = random.Random(seed)
    spacing = spacing if spacing is not None else TICK_SPACING[fee]
    ranges = ranges_for_shape(shape, n, rng)
    total_weight = sum(w for _, _, w in ranges)
    plans = []
    for lo, hi, weight in ranges:
        tl = align_down(tick_at(raw_price * lo), spacing)
        tu = align_up(tick_at(raw_price * hi), spacing)
        if tu <= tl:
            tu = tl + spacing
        plans.append(amounts_for_budget(raw_price, tl, tu, depth_usd * weight / total_weight, usd_per_t1))
    return plans
