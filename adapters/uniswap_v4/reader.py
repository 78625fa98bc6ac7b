"""Read Uniswap V4 pools of one chain through StateView, pinned to one block, in at most THREE round trips.

The same bounded rounds as the V3 reader (:mod:`adapters.uniswap_v3.reader`), keyed by pool id instead of pool
address, all calls to StateView (which reads PoolManager's storage with ``extsload``):

1. ``getSlot0(id)`` (sqrtPriceX96, tick, protocolFee, lpFee) and ``getLiquidity(id)`` of every pool, decimals() of
   every configured token and the block timestamp;
2. ``getTickBitmap(id, word)`` for every word of the window around each pool's tick;
3. ``getTickLiquidity(id, tick)`` (liquidityGross, liquidityNet) for every initialized tick of those words.

Rounds merge with every other staged reader of the chain (adapters.rpc.run_stages), so V4 pools add no round trip
when V3 pools are read too. With the read lens, round 1 rides in the lens's one call, but the lens's bitmap walks
(:class:`adapters.rpc.Walk`) call a V3 pool's own ``tickBitmap`` / ``ticks``; V4's live in PoolManager behind
StateView, so rounds 2 and 3 go through the multicall (extending the lens's Solidity to StateView is left for later).
No hint cache yet: every read is cold.

Usage::

    reads = read_v4_pools(chain, [V4Request("v4_eth_usdc_250", state_view, key, 4000)], block=123)
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.rpc import Call, CallResult, StageResult, decode, encode_call, run_stages
from adapters.types import ChainContext, TokenInfo
from adapters.uniswap.tokens import check_token
from adapters.uniswap_v3.reader import initialized_ticks, word_window
from adapters.uniswap_v4.encoding import PoolKey
from adapters.uniswap_v4.model import V4Model
from crosshedge import AdapterError

MAX_ROUND_TRIPS = 3
_SLOT0 = ("uint160", "int24", "uint24", "uint24")


@dataclass(frozen=True)
class V4Request:
    venue: str
    state_view: str
    key: PoolKey
    window_ticks: int
    weth: str | None = None  # the configured token standing for native ETH (currency 0x0)


@dataclass(frozen=True)
class V4Read:
    """One pool at the read block: its tokens (WETH for native ETH) checked against the configuration."""

    venue: str
    key: PoolKey
    token0: TokenInfo
    token1: TokenInfo
    sqrt_price_x96: int
    tick: int
    liquidity: int
    lp_fee: int
    protocol_fee: int
    word_range: tuple[int, int]
    bitmap: dict[int, int]
    liquidity_net: dict[int, int]
    block_number: int
    block_timestamp: int

    def model(self, venue: str) -> V4Model:
        return V4Model.of(self.sqrt_price_x96, self.tick, self.liquidity, self.lp_fee, self.protocol_fee,
                          self.key.tick_spacing, dict(self.bitmap), dict(self.liquidity_net), self.word_range,
                          venue=venue)


@dataclass
class _Pool:
    request: V4Request
    slot0: tuple[Any, ...] = ()
    liquidity: int = 0
    words: dict[int, int] = field(default_factory=dict)
    nets: dict[int, int] = field(default_factory=dict)

    @property
    def pool_id(self) -> bytes:
        return bytes.fromhex(self.request.key.pool_id[2:])

    def window(self) -> tuple[int, int]:
        return word_window(int(self.slot0[1]), self.request.key.tick_spacing, self.request.window_ticks)


def _decoded(chain: ChainContext, pool: _Pool, what: str, types: tuple[str, ...], res: CallResult) -> tuple[Any, ...]:
    try:
        if not res.success:
            raise ValueError("the call reverted")
        return decode(types, res.data)
    except ValueError as exc:
        raise AdapterError(f"chain {chain.name}: venue {pool.request.venue}: StateView {pool.request.state_view} "
                           f"{what} failed ({exc})") from None


def _token(chain: ChainContext, req: V4Request, currency: str, decimals: dict[str, int]) -> TokenInfo:
    if int(currency, 16) != 0:
        return check_token(chain, req.venue, currency, decimals)
    if req.weth is None:
        raise AdapterError(f"chain {chain.name}: venue {req.venue}: the pool holds native ETH but the venue's "
                           "weth is not set (the wallet's token for it)")
    return check_token(chain, req.venue, req.weth, decimals)


def read_v4_pools_staged(
    chain: ChainContext, requests: Sequence[V4Request]
) -> Generator[list[Call], StageResult, list[V4Read]]:
    """The staged reader of ``requests`` (see module doc); drive it with :func:`adapters.rpc.run_stages`."""
    if not requests:
        return []
    pools = [_Pool(r) for r in requests]
    calls = [c for p in pools for c in (encode_call(p.request.state_view, "getSlot0(bytes32)", p.pool_id),
                                         encode_call(p.request.state_view, "getLiquidity(bytes32)", p.pool_id))]
    tokens = list(chain.tokens.values())
    calls += [encode_call(t.address, "decimals()") for t in tokens]
    if chain.multicall is not None:
        calls.append(encode_call(chain.multicall, "getCurrentBlockTimestamp()"))
    block, results = yield calls
    for i, p in enumerate(pools):
        p.slot0 = _decoded(chain, p, "getSlot0", _SLOT0, results[2 * i])
        p.liquidity = int(_decoded(chain, p, "getLiquidity", ("uint128",), results[2 * i + 1])[0])
        if int(p.slot0[0]) == 0:
            raise AdapterError(f"chain {chain.name}: venue {p.request.venue}: pool {p.request.key.pool_id} is not "
                               "initialized on this PoolManager (slot0 sqrtPriceX96 is 0)")
    rest = results[2 * len(pools):]
    decimals = {t.address: int(decode(("uint8",), r.data)[0]) for t, r in zip(tokens, rest, strict=False)
                if r.success and r.data}
    timestamp = int(decode(("uint256",), rest[len(tokens)].data)[0]) if chain.multicall is not None else \
        int(chain.w3.eth.get_block(block)["timestamp"])
    word_calls = [(p, w) for p in pools for w in range(p.window()[0], p.window()[1] + 1)]
    _, results = yield [encode_call(p.request.state_view, "getTickBitmap(bytes32,int16)", p.pool_id, w)
                        for p, w in word_calls]
    for (p, w), res in zip(word_calls, results, strict=True):
        p.words[w] = int(_decoded(chain, p, "getTickBitmap", ("uint256",), res)[0])
    tick_calls = [(p, t) for p in pools for t in initialized_ticks(p.words, p.request.key.tick_spacing)]
    if tick_calls:
        _, results = yield [encode_call(p.request.state_view, "getTickLiquidity(bytes32,int24)", p.pool_id, t)
                            for p, t in tick_calls]
        for (p, t), res in zip(tick_calls, results, strict=True):
            p.nets[t] = int(_decoded(chain, p, "getTickLiquidity", ("uint128", "int128"), res)[1])
    return [_finish(chain, p, block, timestamp, decimals) for p in pools]


def _finish(chain: ChainContext, p: _Pool, block: int, timestamp: int, decimals: dict[str, int]) -> V4Read:
    req = p.request
    sqrt_price, tick, protocol_fee, lp_fee = (int(v) for v in p.slot0)
    return V4Read(
        venue=req.venue, key=req.key, token0=_token(chain, req, req.key.currency0, decimals),
        token1=_token(chain, req, req.key.currency1, decimals), sqrt_price_x96=sqrt_price, tick=tick,
        liquidity=p.liquidity, lp_fee=lp_fee, protocol_fee=protocol_fee, word_range=p.window(), bitmap=p.words,
        liquidity_net=p.nets, block_number=block, block_timestamp=timestamp,
    )


def read_v4_pools(chain: ChainContext, requests: Sequence[V4Request], block: int) -> list[V4Read]:
    """Read ``requests`` at ``block`` in at most :data:`MAX_ROUND_TRIPS` round trips (see module doc)."""
    _, [reads] = run_stages(chain.w3, [read_v4_pools_staged(chain, requests)], block, chain.multicall, chain.name)
    return list(reads)


__all__ = ["MAX_ROUND_TRIPS", "V4Read", "V4Request", "read_v4_pools", "read_v4_pools_staged"]
