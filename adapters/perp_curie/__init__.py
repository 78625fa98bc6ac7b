"""The ``perp_curie`` perp adapter: Perpetual Protocol v2 (Curie) markets on a Uniswap V3 vAMM.

Usage::

    from adapters.perp_curie import PerpCurieAdapter, PerpCurieConfig
    q = PerpCurieAdapter().quote(state, Side.SELL, 10**18)
"""

from adapters.perp_curie.adapter import (
    CLOSE_POSITION,
    DEPOSIT,
    OPEN_POSITION,
    WITHDRAW,
    PerpCurieAdapter,
    pool_model,
    simulate,
)
from adapters.perp_curie.config import PerpCurieConfig
from adapters.perp_curie.events import POSITION_CHANGED, decode_position_changed
from adapters.perp_curie.reader import MAX_ROUND_TRIPS
from adapters.perp_curie.swap import CurieTrade, curie_trade, walk

__all__ = [
    "CLOSE_POSITION",
    "DEPOSIT",
    "MAX_ROUND_TRIPS",
    "OPEN_POSITION",
    "POSITION_CHANGED",
    "WITHDRAW",
    "CurieTrade",
    "PerpCurieAdapter",
    "PerpCurieConfig",
    "curie_trade",
    "decode_position_changed",
    "pool_model",
    "simulate",
    "walk",
]
