"""Uniswap V4 building blocks for the coming ``uniswap_v4`` adapter: pool keys and ids, action plans and
UniversalRouter inputs (no adapter class yet; nothing registers this package as a venue).
"""

from adapters.uniswap_v4.encoding import (
    MAX_UINT48,
    MAX_UINT128,
    MAX_UINT160,
    NATIVE,
    NO_HOOKS,
    PERMIT2_ADDRESS,
    Action,
    Command,
    PoolKey,
    encode_actions,
    exact_in_single_plan,
    mint_position,
    quote_exact_single,
    settle_all,
    settle_pair,
    sorted_currencies,
    swap_exact_in_single,
    sweep,
    take_all,
    v4_swap,
)

__all__ = [
    "MAX_UINT48",
    "MAX_UINT128",
    "MAX_UINT160",
    "NATIVE",
    "NO_HOOKS",
    "PERMIT2_ADDRESS",
    "Action",
    "Command",
    "PoolKey",
    "encode_actions",
    "exact_in_single_plan",
    "mint_position",
    "quote_exact_single",
    "settle_all",
    "settle_pair",
    "sorted_currencies",
    "swap_exact_in_single",
    "sweep",
    "take_all",
    "v4_swap",
]
