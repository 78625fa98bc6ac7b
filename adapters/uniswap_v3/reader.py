"""Read every Uniswap V3 pool of one chain, pinned to one block, in at most THREE RPC round trips.

The bound holds for any number of pools and any number of initialized ticks (with a multicall configured):

1. one multicall: slot0, liquidity, fee, tickSpacing, token0, token1 of every pool, decimals() of every configured
   token and the block timestamp;
2. one multicall: the tickBitmap words of every pool's window around its current tick;
3. one multicall: ticks(i).liquidityNet for every initialized tick found in those words (skipped if none).

Without a multicall each stage is one JSON-RPC batch instead and the block timestamp costs one more request (4).
Checks that fail closed, naming chain and venue: the address answers as a pool, both tokens are configured on the
chain, and their on-chain decimals() equal the configured ones.

Usage::

    reads = read_pools(chain, [PoolRequest("eth_usdc_500", pool_address, window_ticks=4000)], block=123)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.base import ChainContext, TokenInfo
from adapters.rpc import Call, CallResult, batch_call, decode, encode_call
from adapters.uniswap_v3.math import MAX_TICK, MIN_TICK
from adapters.uniswap_v3.pool import PoolModel
from crosshedge.errors import AdapterError, RpcError

MAX_ROUND_TRIPS = 3  # with a multicall; 4 through plain JSON-RPC batches
_POOL_FIELDS = (
    ("slot0()", ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool")),
    ("liquidity()", ("uint128",)),
    ("fee()", ("uint24",)),
    ("tickSpacing()", ("int24",)),
    ("token0()", ("address",)),
    ("token1()", ("address",)),
)
_TICKS_RETURNS = ("uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool")


@dataclass(frozen=True)
class PoolRequest:
    venue: str
    address: str
    window_ticks: int


@dataclass(frozen=True)
class PoolRead:
    """One pool's state at the read block, with its tokens checked against the chain's configuration."""

    venue: str
    address: str
    token0: TokenInfo
    token1: TokenInfo
    model: PoolModel
    block_number: int
    block_timestamp: int


@dataclass(frozen=True)
class _Head:
    request: PoolRequest
    sqrt_price: int
    tick: int
    liquidity: int
    fee: int
    spacing: int
    token0: TokenInfo
    token1: TokenInfo


def _field(chain: str, req: PoolRequest, name: str, types: tuple[str, ...], result: CallResult) -> tuple[Any, ...]:
    try:
        if not result.success:
            raise ValueError("the call reverted")
        return decode(types, result.data)
    except ValueError as exc:
        raise AdapterError(
            f"chain {chain}: venue {req.venue}: {req.address} is not a Uniswap V3 pool ({name} failed: {exc})"
        ) from None


def check_token(chain: ChainContext, venue: str, address: str, onchain_decimals: dict[str, int]) -> TokenInfo:
    """The configured token at ``address``, after checking its on-chain decimals(); AdapterError otherwise."""
    token = chain.token(address)
    if token is None:
        raise AdapterError(
            f"chain {chain.name}: venue {venue}: pool token {address} is not among the chain's configured tokens"
        )
    got = onchain_decimals.get(token.address)
    if got != token.decimals:
        raise AdapterError(
            f"chain {chain.name}: venue {venue}: token {token.symbol} ({token.address}) has decimals() = {got} "
            f"on chain but {token.decimals} in the config"
        )
    return token


def _stage1(chain: ChainContext, requests: Sequence[PoolRequest], block: int) -> tuple[int, list[_Head]]:
    tokens = list(chain.tokens.values())
    calls: list[Call] = [encode_call(r.address, sig) for r in requests for sig, _ in _POOL_FIELDS]
    calls += [encode_call(t.address, "decimals()") for t in tokens]
    if chain.multicall is not None:
        calls.append(encode_call(chain.multicall, "getCurrentBlockTimestamp()"))
    ran_at, results = batch_call(chain.w3, calls, block, chain.multicall, chain.name)
    _check_block(chain, ran_at, block)
    n = len(_POOL_FIELDS)
    decimals: dict[str, int] = {}
    for t, res in zip(tokens, results[len(requests) * n : len(requests) * n + len(tokens)], strict=True):
        if res.success and res.data:
            decimals[t.address] = int(decode(("uint8",), res.data)[0])
    if chain.multicall is not None:
        timestamp = int(decode(("uint256",), results[-1].data)[0])
    else:
        timestamp = int(chain.w3.eth.get_block(block)["timestamp"])
    heads = []
    for i, req in enumerate(requests):
        vals = [_field(chain.name, req, sig, types, results[i * n + j]) for j, (sig, types) in enumerate(_POOL_FIELDS)]
        slot0, (liq,), (fee,), (spacing,), (t0,), (t1,) = vals
        heads.append(_Head(
            req, int(slot0[0]), int(slot0[1]), int(liq), int(fee), int(spacing),
            check_token(chain, req.venue, str(t0), decimals), check_token(chain, req.venue, str(t1), decimals),
        ))
    return timestamp, heads


def _check_block(chain: ChainContext, ran_at: int | None, block: int) -> None:
    if ran_at is not None and ran_at != block:
        raise RpcError(f"chain {chain.name}: reads pinned to block {block} ran at block {ran_at}")


def word_window(tick: int, spacing: int, window_ticks: int) -> tuple[int, int]:
    """Inclusive range of bitmap words covering ``tick`` ± ``window_ticks`` (clamped to the valid tick range)."""
    lo_tick = max(MIN_TICK, tick - window_ticks)
    hi_tick = min(MAX_TICK, tick + window_ticks)
    return (lo_tick // spacing) >> 8, (hi_tick // spacing) >> 8


def read_pools(chain: ChainContext, requests: Sequence[PoolRequest], block: int) -> list[PoolRead]:
    """Read ``requests`` at ``block`` in at most :data:`MAX_ROUND_TRIPS` round trips (see module doc)."""
    if not requests:
        return []
    timestamp, heads = _stage1(chain, requests, block)
    windows = [word_window(h.tick, h.spacing, h.request.window_ticks) for h in heads]
    word_calls = [
        (i, w, encode_call(h.request.address, "tickBitmap(int16)", w))
        for i, (h, (lo, hi)) in enumerate(zip(heads, windows, strict=True))
        for w in range(lo, hi + 1)
    ]
    ran_at, word_results = batch_call(chain.w3, [c for _, _, c in word_calls], block, chain.multicall, chain.name)
    _check_block(chain, ran_at, block)
    bitmaps: list[dict[int, int]] = [{} for _ in heads]
    for (i, w, _), res in zip(word_calls, word_results, strict=True):
        bitmaps[i][w] = int(_field(chain.name, heads[i].request, "tickBitmap", ("uint256",), res)[0])
    tick_calls = [
        (i, t, encode_call(heads[i].request.address, "ticks(int24)", t))
        for i, bitmap in enumerate(bitmaps)
        for t in initialized_ticks(bitmap, heads[i].spacing)
    ]
    ran_at, tick_results = batch_call(chain.w3, [c for _, _, c in tick_calls], block, chain.multicall, chain.name)
    _check_block(chain, ran_at, block)
    nets: list[dict[int, int]] = [{} for _ in heads]
    for (i, t, _), res in zip(tick_calls, tick_results, strict=True):
        nets[i][t] = int(_field(chain.name, heads[i].request, "ticks", _TICKS_RETURNS, res)[1])
    return [
        PoolRead(
            venue=h.request.venue, address=h.request.address, token0=h.token0, token1=h.token1, block_number=block,
            block_timestamp=timestamp,
            model=PoolModel(h.sqrt_price, h.tick, h.liquidity, h.fee, h.spacing, bitmaps[i], nets[i], windows[i]),
        )
        for i, h in enumerate(heads)
    ]


def initialized_ticks(bitmap: dict[int, int], spacing: int) -> list[int]:
    """Every initialized tick the bitmap words mark, ascending."""
    ticks = []
    for word, value in sorted(bitmap.items()):
        bits = value
        while bits:
            low = bits & -bits
            ticks.append(((word << 8) + low.bit_length() - 1) * spacing)
            bits ^= low
    return ticks
