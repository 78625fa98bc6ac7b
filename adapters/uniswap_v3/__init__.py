"""Uniswap V3 venue adapter: exact integer math, bounded-round-trip reader, curves, swaps, recorded states.

Loaded through the ``crosshedge.adapters`` entry point ``uniswap_v3``; its pool model is what tests import.
"""

from adapters.uniswap_v3.adapter import ModelCache, UniswapV3Adapter, UniswapV3Config
from adapters.uniswap_v3.curve import cached_curve_of, curve_of, sample_points
from adapters.uniswap_v3.pool import PoolModel, SwapResult, full_word_range
from adapters.uniswap_v3.records import (
    FULL_RANGE,
    MAX_CALLS_PER_MULTICALL,
    chunked,
    model_of_record,
    quote_record,
    read_full,
    record_of,
)

__all__ = [
    "FULL_RANGE",
    "MAX_CALLS_PER_MULTICALL",
    "ModelCache",
    "PoolModel",
    "SwapResult",
    "UniswapV3Adapter",
    "UniswapV3Config",
    "cached_curve_of",
    "chunked",
    "curve_of",
    "full_word_range",
    "model_of_record",
    "quote_record",
    "read_full",
    "record_of",
    "sample_points",
]
