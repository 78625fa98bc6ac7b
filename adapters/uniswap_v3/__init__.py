"""Uniswap V3 venue adapter: exact integer math, bounded-round-trip reader, curves, swaps.

Loaded through the ``crosshedge.adapters`` entry point ``uniswap_v3``; its pool model is what tests import.
"""

from adapters.uniswap_v3.adapter import UniswapV3Adapter, UniswapV3Config
from adapters.uniswap_v3.curve import curve_of, sample_points
from adapters.uniswap_v3.pool import PoolModel, SwapResult

__all__ = ["PoolModel", "SwapResult", "UniswapV3Adapter", "UniswapV3Config", "curve_of", "sample_points"]
