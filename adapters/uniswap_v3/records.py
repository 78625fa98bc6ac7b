"""Uniswap V3 pools with EVERY initialized tick: read through the tick bitmap, recorded to a file, quoted from it.

A full read is the ordinary staged reader (:mod:`adapters.uniswap_v3.reader`) with a window as wide as the tick
range: round 2 reads every bitmap word the pool's spacing can use and round 3 ``ticks(i)`` of every initialized
tick. A spacing-1 pool has 6,932 words, more than one multicall may spend in gas, so :func:`chunked` splits every
round into multicalls of at most :data:`MAX_CALLS_PER_MULTICALL` calls, all pinned to the same block (the reader
never notices: it gets its round's results in one list).

Usage::

    reads = read_full(chain, [PoolRequest("v3_weth_usdc_500", pool, FULL_RANGE)], block)
    record = record_of(chain, reads[0])
    quote = quote_record(record, Side.SELL, 10**18)
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.pool_state import FORMAT_VERSION, TickRecord, TokenRecord, UniswapV3PoolState
from adapters.rpc import CallResult, Stages, run_stages
from adapters.types import ChainContext, Side, SwapQuote, TokenInfo
from adapters.uniswap.math import MAX_TICK, MIN_TICK
from adapters.uniswap.tokens import base_quote
from adapters.uniswap_v3.pool import OutOfWindow, PoolModel, SwapResult
from adapters.uniswap_v3.reader import PoolRead, PoolRequest, read_pools_staged
from crosshedge import AdapterError

#: ticks(i) costs ~10k gas cold (four storage slots), tickBitmap ~3k: 500 calls stay near 5M gas a multicall,
#: well inside anvil's and public RPCs' eth_call gas caps (30M-50M).
MAX_CALLS_PER_MULTICALL = 500
FULL_RANGE = MAX_TICK - MIN_TICK  # a window this wide from any tick covers the whole tick range


def chunked(stages: Stages, max_calls: int = MAX_CALLS_PER_MULTICALL) -> Stages:
    """``stages`` with each round split into rounds of at most ``max_calls`` calls; results are re-joined in order."""
    try:
        calls = next(stages)
        while True:
            block, results = 0, list[CallResult]()
            for i in range(0, len(calls), max_calls):
                block, part = yield calls[i : i + max_calls]
                results += part
            calls = stages.send((block, results))
    except StopIteration as stop:
        return stop.value


def read_full(chain: ChainContext, requests: Sequence[PoolRequest], block: int) -> list[PoolRead]:
    """Every pool in ``requests`` at ``block`` with all its initialized ticks (the window is ignored)."""
    full = [PoolRequest(r.venue, r.address, FULL_RANGE) for r in requests]
    stages: Stages = chunked(read_pools_staged(chain, full))
    _, [reads] = run_stages(chain.w3, [stages], block, chain.multicall, chain.name)
    return list(reads)


def _token(t: TokenInfo) -> TokenRecord:
    return TokenRecord(address=t.address, symbol=t.symbol, decimals=t.decimals, underlying=t.underlying)


def record_of(chain: ChainContext, read: PoolRead) -> UniswapV3PoolState:
    """The recorded state of a full read (raises AdapterError if the read was a window)."""
    m = read.model
    if m.word_range[0] * 256 * m.tick_spacing > MIN_TICK or (m.word_range[1] + 1) * 256 * m.tick_spacing <= MAX_TICK:
        raise AdapterError(f"chain {chain.name}: venue {read.venue}: a window read is not a full state "
                           f"(words {m.word_range}); read it with read_full")
    base, _ = base_quote(chain.name, read.venue, read.token0, read.token1)
    return UniswapV3PoolState(
        protocol="uniswap_v3", version=FORMAT_VERSION, chain=chain.name, chain_id=chain.chain_id, venue=read.venue,
        address=read.address, block_number=read.block_number, block_timestamp=read.block_timestamp,
        token0=_token(read.token0), token1=_token(read.token1), base="token0" if base is read.token0 else "token1",
        fee=m.fee, tick_spacing=m.tick_spacing, sqrt_price_x96=m.sqrt_price_x96, tick=m.tick, liquidity=m.liquidity,
        ticks=tuple(TickRecord(tick=t, liquidity_net=n) for t, n in sorted(m.liquidity_net.items())),
    )


def model_of_record(record: UniswapV3PoolState) -> PoolModel:
    """The complete pool model of a recorded state (no window: every initialized tick is in it)."""
    return PoolModel.from_ticks(record.sqrt_price_x96, record.tick, record.liquidity, record.fee,
                                record.tick_spacing, record.nets(),
                                venue=f"chain {record.chain}: venue {record.venue}")


def price_of(sqrt_price_x96: int, base_is_token0: bool, dec0: int, dec1: int) -> float:
    """Quote per base in human units at a sqrt price (no fee)."""
    price01 = (sqrt_price_x96 / 2**96) ** 2 * 10 ** (dec0 - dec1)  # token1 per token0, human
    return float(price01 if base_is_token0 else 1 / price01) if price01 else float("inf")


def swap_quote(side: Side, requested: int, result: SwapResult, base_is_token0: bool, dec0: int,
               dec1: int) -> SwapQuote:
    """A pool model's swap result as a :class:`SwapQuote`."""
    return SwapQuote(
        side=side, amount_requested=requested, amount_in=result.amount_in, amount_out=result.amount_out,
        price_after=price_of(result.sqrt_price_x96, base_is_token0, dec0, dec1),
        sqrt_price_x96_after=result.sqrt_price_x96, tick_after=result.tick,
        ticks_crossed=result.initialized_ticks_crossed, partial=result.partial,
    )


def quote_record(record: UniswapV3PoolState, side: Side, amount_in: int, model: PoolModel | None = None) -> SwapQuote:
    """Exact-in quote of a recorded V3 state (SELL gives base), with partial fills as QuoterV2 reports them."""
    if amount_in <= 0:
        raise AdapterError(f"chain {record.chain}: venue {record.venue}: amount_in must be positive, got {amount_in}")
    model = model or model_of_record(record)
    zf1 = record.base_is_token0 == (side is Side.SELL)
    try:
        result = model.swap_exact_in(zf1, amount_in)
    except OutOfWindow as exc:  # cannot happen on a complete model; a bug if it does, said as one
        raise AdapterError(f"chain {record.chain}: venue {record.venue}: {exc}") from None
    return swap_quote(side, amount_in, result, record.base_is_token0, record.token0.decimals,
                      record.token1.decimals)


__all__ = [
    "FULL_RANGE",
    "MAX_CALLS_PER_MULTICALL",
    "chunked",
    "model_of_record",
    "price_of",
    "quote_record",
    "read_full",
    "record_of",
    "swap_quote",
]
