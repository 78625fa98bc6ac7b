"""What the Uniswap adapters share: the integer math of V2 and V3, curve sampling, the pair's tokens, and the
npm artifacts their contracts are verified against.

Usage::

    from adapters.uniswap import artifact_code, curve_from_points, get_amount_out, get_sqrt_ratio_at_tick
"""

from adapters.uniswap.artifacts import (
    ARTIFACTS,
    NODE_MODULES_ENV,
    artifact_code,
    multicall_code,
    node_modules,
    permit2_code,
)
from adapters.uniswap.curve import (
    CHORD_ERROR,
    EXACT_IMPACT_BPS,
    IMPACT_BPS,
    CurveCache,
    chord_step,
    cumulative,
    curve_from_points,
    size_within_bps,
)
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
    "ARTIFACTS",
    "CHORD_ERROR",
    "EXACT_IMPACT_BPS",
    "IMPACT_BPS",
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "NODE_MODULES_ENV",
    "PIPS",
    "Q96",
    "V2_FEE_PIPS",
    "CurveCache",
    "artifact_code",
    "base_quote",
    "check_token",
    "chord_step",
    "cumulative",
    "curve_from_points",
    "get_amount_out",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "multicall_code",
    "node_modules",
    "permit2_code",
    "size_within_bps",
]
