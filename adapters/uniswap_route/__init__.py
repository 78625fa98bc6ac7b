"""Multi-hop Uniswap routes as venues of their own (WBTC→WETH→USDC through V3 and V2 pools, WETH→WBTC→USDC through a
V3 and a V4 pool).

Loaded through the ``crosshedge.adapters`` entry point ``uniswap_route``; legs are read and quoted by their own
protocol's code (:data:`LEG_KINDS`), composed exactly, and swapped through UniversalRouter in one transaction.
"""

from adapters.uniswap_route.adapter import GAS_PER_TICK, HOP_GAS, ROUTE_GAS, UniswapRouteAdapter, token_path
from adapters.uniswap_route.compose import RouteFill, compose, mid_rate_of, route_points, series_reserve
from adapters.uniswap_route.config import (
    PERMIT2_ADDRESS,
    LegConfig,
    UniswapRouteConfig,
    V2LegConfig,
    V3LegConfig,
    V4LegConfig,
)
from adapters.uniswap_route.legs import (
    LEG_KINDS,
    LegFill,
    LegKind,
    LegModel,
    V2LegModel,
    V3LegModel,
    V4Leg,
    V4LegModel,
    fee_factor,
)
from adapters.uniswap_route.router import Hop, route_calldata, route_commands, v3_path, v4_plan

__all__ = [
    "GAS_PER_TICK",
    "HOP_GAS",
    "LEG_KINDS",
    "PERMIT2_ADDRESS",
    "ROUTE_GAS",
    "Hop",
    "LegConfig",
    "LegFill",
    "LegKind",
    "LegModel",
    "RouteFill",
    "UniswapRouteAdapter",
    "UniswapRouteConfig",
    "V2LegConfig",
    "V2LegModel",
    "V3LegConfig",
    "V3LegModel",
    "V4Leg",
    "V4LegConfig",
    "V4LegModel",
    "compose",
    "fee_factor",
    "mid_rate_of",
    "route_calldata",
    "route_commands",
    "route_points",
    "series_reserve",
    "token_path",
    "v3_path",
    "v4_plan",
]
