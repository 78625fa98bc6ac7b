"""Uniswap V2 pairs as recorded pool states (adapters.pool_state): a pair's reserves are its whole state.

Usage::

    record = record_of(state)                       # a VenueState read by UniswapV2Adapter
    quote = quote_record(record, Side.BUY, 3_000 * 10**6)
"""

from __future__ import annotations

from adapters.pool_state import FORMAT_VERSION, TokenRecord, UniswapV2PoolState
from adapters.types import Side, SwapQuote, TokenInfo, VenueState
from adapters.uniswap.math import get_amount_out
from crosshedge import AdapterError


def _token(t: TokenInfo) -> TokenRecord:
    return TokenRecord(address=t.address, symbol=t.symbol, decimals=t.decimals, underlying=t.underlying)


def record_of(state: VenueState) -> UniswapV2PoolState:
    """The recorded state of a pair read by the ``uniswap_v2`` adapter."""
    p = state.pool
    base_is_token0 = bool(p["base_is_token0"])
    token0, token1 = (state.base, state.quote) if base_is_token0 else (state.quote, state.base)
    return UniswapV2PoolState(
        protocol="uniswap_v2", version=FORMAT_VERSION, chain=state.chain, chain_id=int(p["chain_id"]),
        venue=state.venue, address=str(p["address"]), block_number=state.block_number,
        block_timestamp=state.block_timestamp, token0=_token(token0), token1=_token(token1),
        base="token0" if base_is_token0 else "token1", reserve0=int(p["reserve0"]), reserve1=int(p["reserve1"]),
    )


def quote_reserves(side: Side, amount_in: int, reserve0: int, reserve1: int, base_is_token0: bool, dec0: int,
                   dec1: int) -> SwapQuote:
    """UniswapV2Library.getAmountOut on the pair's reserves, with the price the pair is left at (never partial)."""
    token0_in = base_is_token0 == (side is Side.SELL)
    r_in, r_out = (reserve0, reserve1) if token0_in else (reserve1, reserve0)
    out = get_amount_out(amount_in, r_in, r_out)
    after0, after1 = (r_in + amount_in, r_out - out) if token0_in else (r_out - out, r_in + amount_in)
    price01 = (after1 / 10**dec1) / (after0 / 10**dec0)  # token1 per token0, human
    return SwapQuote(side=side, amount_requested=amount_in, amount_in=amount_in, amount_out=out,
                     price_after=price01 if base_is_token0 else 1 / price01)


def quote_record(record: UniswapV2PoolState, side: Side, amount_in: int) -> SwapQuote:
    """Exact-in quote of a recorded pair (SELL gives base)."""
    if amount_in <= 0:
        raise AdapterError(f"chain {record.chain}: venue {record.venue}: amount_in must be positive, got {amount_in}")
    return quote_reserves(side, amount_in, record.reserve0, record.reserve1, record.base_is_token0,
                          record.token0.decimals, record.token1.decimals)


__all__ = ["quote_record", "quote_reserves", "record_of"]
