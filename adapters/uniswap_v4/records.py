"""Uniswap V4 pools with EVERY initialized tick: read through StateView, recorded to a file, quoted from it.

A full read is the staged StateView reader (:mod:`adapters.uniswap_v4.reader`) with a window as wide as the tick
range, each round split into multicalls of at most :data:`adapters.uniswap_v3.MAX_CALLS_PER_MULTICALL` calls
(:func:`adapters.uniswap_v3.chunked`), all at the same block.

Usage::

    [read] = read_full_v4(chain, [V4Request("v4_eth_usdc_250", state_view, key, 1, weth)], block)
    record = record_of_v4(chain, read, pool_manager)
    quote = quote_record_v4(record, Side.SELL, 10**18)
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.pool_state import FORMAT_VERSION, TickRecord, TokenRecord, UniswapV4PoolState
from adapters.rpc import Stages, run_stages
from adapters.types import ChainContext, Side, SwapQuote, TokenInfo
from adapters.uniswap.math import MAX_TICK, MIN_TICK
from adapters.uniswap.tokens import base_quote
from adapters.uniswap_v3.pool import OutOfWindow
from adapters.uniswap_v3.records import FULL_RANGE, chunked, swap_quote
from adapters.uniswap_v4.fees import is_dynamic_fee
from adapters.uniswap_v4.model import V4Model
from adapters.uniswap_v4.reader import V4Read, V4Request, read_v4_pools_staged
from crosshedge import AdapterError


def read_full_v4(chain: ChainContext, requests: Sequence[V4Request], block: int) -> list[V4Read]:
    """Every pool in ``requests`` at ``block`` with all its initialized ticks (the window is ignored)."""
    full = [V4Request(r.venue, r.state_view, r.key, FULL_RANGE, r.weth) for r in requests]
    stages: Stages = chunked(read_v4_pools_staged(chain, full))
    _, [reads] = run_stages(chain.w3, [stages], block, chain.multicall, chain.name)
    return list(reads)


def _token(t: TokenInfo) -> TokenRecord:
    return TokenRecord(address=t.address, symbol=t.symbol, decimals=t.decimals, underlying=t.underlying)


def record_of_v4(chain: ChainContext, read: V4Read, pool_manager: str) -> UniswapV4PoolState:
    """The recorded state of a full read (AdapterError if the read was a window)."""
    spacing = read.key.tick_spacing
    lo, hi = read.word_range
    if lo * 256 * spacing > MIN_TICK or (hi + 1) * 256 * spacing <= MAX_TICK:
        raise AdapterError(f"chain {chain.name}: venue {read.venue}: a window read is not a full state "
                           f"(words {read.word_range}); read it with read_full_v4")
    base, _ = base_quote(chain.name, read.venue, read.token0, read.token1)
    key = read.key
    return UniswapV4PoolState(
        protocol="uniswap_v4", version=FORMAT_VERSION, chain=chain.name, chain_id=chain.chain_id, venue=read.venue,
        address=pool_manager, block_number=read.block_number, block_timestamp=read.block_timestamp,
        token0=_token(read.token0), token1=_token(read.token1), base="token0" if base is read.token0 else "token1",
        pool_id=key.pool_id, currency0=key.currency0, currency1=key.currency1, fee=key.fee,
        dynamic_fee=is_dynamic_fee(key.fee), hooks=key.hooks, lp_fee=read.lp_fee, protocol_fee=read.protocol_fee,
        tick_spacing=spacing, sqrt_price_x96=read.sqrt_price_x96, tick=read.tick, liquidity=read.liquidity,
        ticks=tuple(TickRecord(tick=t, liquidity_net=n) for t, n in sorted(read.liquidity_net.items())),
    )


def model_of_record_v4(record: UniswapV4PoolState) -> V4Model:
    """The complete model of a recorded V4 state (no window: every initialized tick is in it)."""
    return V4Model.from_ticks(record.sqrt_price_x96, record.tick, record.liquidity, record.lp_fee,
                              record.protocol_fee, record.tick_spacing, record.nets(),
                              venue=f"chain {record.chain}: venue {record.venue}")


def quote_record_v4(record: UniswapV4PoolState, side: Side, amount_in: int,
                    model: V4Model | None = None) -> SwapQuote:
    """Exact-in quote of a recorded V4 state (SELL gives base); a partial fill where the pool's liquidity ends."""
    if amount_in <= 0:
        raise AdapterError(f"chain {record.chain}: venue {record.venue}: amount_in must be positive, got {amount_in}")
    model = model or model_of_record_v4(record)
    zf1 = record.base_is_token0 == (side is Side.SELL)
    try:
        result = model.direction(zf1).swap_exact_in(zf1, amount_in)
    except OutOfWindow as exc:  # cannot happen on a complete model; a bug if it does, said as one
        raise AdapterError(f"chain {record.chain}: venue {record.venue}: {exc}") from None
    return swap_quote(side, amount_in, result, record.base_is_token0, record.token0.decimals,
                      record.token1.decimals)


__all__ = ["model_of_record_v4", "quote_record_v4", "read_full_v4", "record_of_v4"]
