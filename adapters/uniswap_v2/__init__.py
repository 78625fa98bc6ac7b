"""Uniswap V2 venue adapter: constant-product pairs."""
