"""What the Uniswap adapters share: the integer math of V2 and V3, curve sampling, and the pair's tokens.

Usage::

    from adapters.uniswap import curve_from_points, get_amount_out, get_sqrt_ratio_at_tick
"""

from adapters.uniswap.curve import IMPACT_BPS, cumulative, curve_from_points, size_within_bps
from adapters.uniswap.math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    PIPS,
    Q96,
    V2_FEE_PIPS,
    get_amount_out,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)
from adapters.uniswap.tokens import base_quote, check_token

__all__ = [
    "IMPACT_BPS",
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "PIPS",
    "Q96",
    "V2_FEE_PIPS",
    "base_quote",
    "check_token",
    "cumulative",
    "curve_from_points",
    "get_amount_out",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "size_within_bps",
]
