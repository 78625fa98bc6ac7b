"""Uniswap V2 venue adapter: constant-product pairs (entry point ``uniswap_v2``), and their recorded states."""

from adapters.uniswap_v2.adapter import UniswapV2Adapter, UniswapV2Config
from adapters.uniswap_v2.records import quote_record, quote_reserves, record_of

__all__ = ["UniswapV2Adapter", "UniswapV2Config", "quote_record", "quote_reserves", "record_of"]
