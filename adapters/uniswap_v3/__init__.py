"""Uniswap V3 venue adapter: exact integer math, bounded-round-trip reader, curves, swaps."""
