"""Uniswap V2 venue adapter: constant-product pairs (entry point ``uniswap_v2``)."""

from adapters.uniswap_v2.adapter import UniswapV2Adapter, UniswapV2Config

__all__ = ["UniswapV2Adapter", "UniswapV2Config"]
