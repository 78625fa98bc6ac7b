"""Uniswap V4: the ``uniswap_v4`` venue adapter (exact model, StateView reader, hook policy, recorded states), the
pool keys, action plans and UniversalRouter inputs its swaps are encoded with, and execution (one
UniversalRouter call carrying the Permit2 permit; the fill from PoolManager's Swap event).

Loaded through the ``crosshedge.adapters`` entry point ``uniswap_v4``.
"""

from adapters.uniswap_v4.adapter import GAS_PER_TICK, SWAP_GAS, UniswapV4Adapter, UniswapV4Config
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
from adapters.uniswap_v4.execution import (
    SWAP_TOPIC,
    V4Route,
    build_v4_swap,
    parse_v4_fill,
    route_of,
    v4_permit_request,
    v4_swap_plan,
)
from adapters.uniswap_v4.fees import (
    DYNAMIC_FEE_FLAG,
    MAX_LP_FEE,
    MAX_PROTOCOL_FEE,
    direction_protocol_fee,
    is_dynamic_fee,
    swap_fee,
)
from adapters.uniswap_v4.hooks import DELTA_FLAGS, HookFlag, HookPolicy, hook_flags, hook_policy, pool_key_problem
from adapters.uniswap_v4.model import V4Model
from adapters.uniswap_v4.reader import V4Read, V4Request, read_v4_pools, read_v4_pools_staged
from adapters.uniswap_v4.records import model_of_record_v4, quote_record_v4, read_full_v4, record_of_v4

__all__ = [
    "DELTA_FLAGS",
    "DYNAMIC_FEE_FLAG",
    "GAS_PER_TICK",
    "MAX_LP_FEE",
    "MAX_PROTOCOL_FEE",
    "MAX_UINT48",
    "MAX_UINT128",
    "MAX_UINT160",
    "NATIVE",
    "NO_HOOKS",
    "PERMIT2_ADDRESS",
    "SWAP_GAS",
    "SWAP_TOPIC",
    "Action",
    "Command",
    "HookFlag",
    "HookPolicy",
    "PoolKey",
    "UniswapV4Adapter",
    "UniswapV4Config",
    "V4Model",
    "V4Read",
    "V4Request",
    "V4Route",
    "build_v4_swap",
    "direction_protocol_fee",
    "encode_actions",
    "exact_in_single_plan",
    "hook_flags",
    "hook_policy",
    "is_dynamic_fee",
    "mint_position",
    "model_of_record_v4",
    "parse_v4_fill",
    "pool_key_problem",
    "quote_exact_single",
    "quote_record_v4",
    "read_full_v4",
    "read_v4_pools",
    "read_v4_pools_staged",
    "record_of_v4",
    "route_of",
    "settle_all",
    "settle_pair",
    "sorted_currencies",
    "swap_exact_in_single",
    "swap_fee",
    "sweep",
    "take_all",
    "v4_permit_request",
    "v4_swap",
    "v4_swap_plan",
]
