"""Read Uniswap V4 pools of one chain through StateView, pinned to one block, in at most THREE round trips.

The same bounded rounds as the V3 reader (:mod:`adapters.uniswap_v3.reader`), keyed by pool id instead of pool
address, all calls to StateView (which reads PoolManager's storage with ``extsload``):

1. ``getSlot0(id)`` (sqrtPriceX96, tick, protocolFee, lpFee) and ``getLiquidity(id)`` of every pool, decimals() of
   every configured token and the block timestamp;
2. ``getTickBitmap(id, word)`` for every word of the window around each pool's tick;
3. ``getTickLiquidity(id, tick)`` (liquidityGross, liquidityNet) for every initialized tick of those words.

Rounds merge with every other staged reader of the chain (adapters.rpc.run_stages), so V4 pools add no round trip
when V3 pools are read too. With the read lens (:mod:`adapters.rpc.lens`) all three rounds are ONE eth_call: it
runs round 1's calls and walks each pool's window through StateView itself (:func:`lens_walks`, a
``WalkKind.V4_STATE_VIEW`` walk per pool id), and rounds 2 and 3 are answered from what it read.
A :class:`~adapters.uniswap_v3.reader.HintCache` (keyed by pool id) makes a repeated read fetch the words around
the remembered tick and their ticks in round 1, as the V3 reader does, so a warm read is one round trip (inside the
lens's call) unless the price moved past the margin or LPs initialized new ticks. Hints only choose calls: the
state is trimmed to the exact window of the tick read at the block, so a warm read equals a cold one.

Usage::

    reads = read_v4_pools(chain, [V4Request("v4_eth_usdc_250", state_view, key, 4000)], block=123)
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.rpc import Call, CallResult, StageResult, Walk, WalkKind, cached_call, decode, encode_call, run_stages
from adapters.types import ChainContext, TokenInfo
from adapters.uniswap.tokens import check_token
from adapters.uniswap_v3.reader import HintCache, PoolHint, hint_margin, initialized_ticks, word_window
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
    hint: PoolHint | None = None
    slot0: tuple[Any, ...] = ()
    liquidity: int = 0
    words: dict[int, int] = field(default_factory=dict)
    nets: dict[int, int] = field(default_factory=dict)

    @functools.cached_property
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


def _word_calls(pool: _Pool, words: Sequence[int]) -> list[tuple[_Pool, int, Call]]:
    return [(pool, w, cached_call(pool.request.state_view, "getTickBitmap(bytes32,int16)", pool.pool_id, w))
            for w in words]


def _tick_calls(pool: _Pool, ticks: Sequence[int]) -> list[tuple[_Pool, int, Call]]:
    return [(pool, t, cached_call(pool.request.state_view, "getTickLiquidity(bytes32,int24)", pool.pool_id, t))
            for t in ticks]


def _hinted(pool: _Pool) -> tuple[list[tuple[_Pool, int, Call]], list[tuple[_Pool, int, Call]]]:
    """Round-1 word and tick calls predicted from the pool's hint (none without one)."""
    hint, spacing = pool.hint, pool.request.key.tick_spacing
    if hint is None:
        return [], []
    lo, hi = word_window(hint.tick, spacing, pool.request.window_ticks + hint_margin(pool.request.window_ticks,
                                                                                     spacing))
    known = {w: hint.bitmap[w] for w in range(lo, hi + 1) if w in hint.bitmap}
    return _word_calls(pool, range(lo, hi + 1)), _tick_calls(pool, initialized_ticks(known, spacing))


def _store(chain: ChainContext, entries: Sequence[tuple[_Pool, int, Call]], results: Sequence[CallResult],
           words: bool) -> None:
    for (p, key, _), res in zip(entries, results, strict=True):
        if words:
            p.words[key] = int(_decoded(chain, p, "getTickBitmap", ("uint256",), res)[0])
        else:
            p.nets[key] = int(_decoded(chain, p, "getTickLiquidity", ("uint128", "int128"), res)[1])


def read_v4_pools_staged(
    chain: ChainContext, requests: Sequence[V4Request], hints: HintCache | None = None, predict: bool = True,
) -> Generator[list[Call], StageResult, list[V4Read]]:
    """The staged reader of ``requests`` (see module doc); drive it with :func:`adapters.rpc.run_stages`.

    With ``predict=False`` the hints are only remembered, never used to pick round-1 calls: the read lens walks
    the window itself (:func:`lens_walks`), so predicted calls would be read twice.
    """
    if not requests:
        return []
    pools = [_Pool(r, hints.get(chain.chain_id, r.key.pool_id) if hints and predict else None) for r in requests]
    calls = [c for p in pools for c in (encode_call(p.request.state_view, "getSlot0(bytes32)", p.pool_id),
                                         encode_call(p.request.state_view, "getLiquidity(bytes32)", p.pool_id))]
    tokens = list(chain.tokens.values())
    calls += [encode_call(t.address, "decimals()") for t in tokens]
    if chain.multicall is not None:
        calls.append(encode_call(chain.multicall, "getCurrentBlockTimestamp()"))
    hinted = [_hinted(p) for p in pools]
    predicted_words = [e for words, _ in hinted for e in words]
    predicted_ticks = [e for _, ticks in hinted for e in ticks]
    block, results = yield calls + [c for _, _, c in predicted_words + predicted_ticks]
    for i, p in enumerate(pools):
        p.slot0 = _decoded(chain, p, "getSlot0", _SLOT0, results[2 * i])
        p.liquidity = int(_decoded(chain, p, "getLiquidity", ("uint128",), results[2 * i + 1])[0])
        if int(p.slot0[0]) == 0:
            raise AdapterError(f"chain {chain.name}: venue {p.request.venue}: pool {p.request.key.pool_id} is not "
                               "initialized on this PoolManager (slot0 sqrtPriceX96 is 0)")
    rest = results[2 * len(pools):len(calls)]
    decimals = {t.address: int(decode(("uint8",), r.data)[0]) for t, r in zip(tokens, rest, strict=False)
                if r.success and r.data}
    timestamp = int(decode(("uint256",), rest[len(tokens)].data)[0]) if chain.multicall is not None else \
        int(chain.w3.eth.get_block(block)["timestamp"])
    _store(chain, predicted_words, results[len(calls):len(calls) + len(predicted_words)], words=True)
    _store(chain, predicted_ticks, results[len(calls) + len(predicted_words):], words=False)
    missing_words = [e for p in pools for e in _word_calls(p, [w for w in range(p.window()[0], p.window()[1] + 1)
                                                                 if w not in p.words])]
    if missing_words:
        _, results = yield [c for _, _, c in missing_words]
        _store(chain, missing_words, results, words=True)
    missing_ticks = [e for p in pools for e in _tick_calls(p, [t for t in initialized_ticks(_window_words(p),
                                                                                           p.request.key.tick_spacing)
                                                               if t not in p.nets])]
    if missing_ticks:
        _, results = yield [c for _, _, c in missing_ticks]
        _store(chain, missing_ticks, results, words=False)
    return [_finish(chain, p, block, timestamp, decimals, hints) for p in pools]


def _window_words(p: _Pool) -> dict[int, int]:
    lo, hi = p.window()
    return {w: p.words[w] for w in range(lo, hi + 1)}


def _finish(chain: ChainContext, p: _Pool, block: int, timestamp: int, decimals: dict[str, int],
            hints: HintCache | None) -> V4Read:
    """The pool trimmed to the exact window of its tick at the block (so hints never change it); remembers it."""
    req = p.request
    sqrt_price, tick, protocol_fee, lp_fee = (int(v) for v in p.slot0)
    bitmap = _window_words(p)
    nets = {t: p.nets[t] for t in initialized_ticks(bitmap, req.key.tick_spacing)}
    if hints is not None:
        hints.put(chain.chain_id, req.key.pool_id, PoolHint(req.key.tick_spacing, tick, dict(p.words)))
    return V4Read(
        venue=req.venue, key=req.key, token0=_token(chain, req, req.key.currency0, decimals),
        token1=_token(chain, req, req.key.currency1, decimals), sqrt_price_x96=sqrt_price, tick=tick,
        liquidity=p.liquidity, lp_fee=lp_fee, protocol_fee=protocol_fee, word_range=p.window(), bitmap=bitmap,
        liquidity_net=nets, block_number=block, block_timestamp=timestamp,
    )


def read_v4_pools(chain: ChainContext, requests: Sequence[V4Request], block: int,
                  hints: HintCache | None = None) -> list[V4Read]:
    """Read ``requests`` at ``block`` in at most :data:`MAX_ROUND_TRIPS` round trips (see module doc)."""
    _, [reads] = run_stages(chain.w3, [read_v4_pools_staged(chain, requests, hints)], block, chain.multicall,
                            chain.name)
    return list(reads)


def lens_walks(requests: Sequence[V4Request]) -> list[Walk]:
    """The read-lens walks that answer rounds 2 and 3 of :func:`read_v4_pools_staged`: each pool's window through
    its StateView, as :func:`word_window` computes it from the tick the lens reads at the same block."""
    return [Walk(r.state_view, r.window_ticks, kind=WalkKind.V4_STATE_VIEW,
                 pool_id=bytes.fromhex(r.key.pool_id.removeprefix("0x")), spacing=r.key.tick_spacing)
            for r in requests]


__all__ = ["MAX_ROUND_TRIPS", "V4Read", "V4Request", "lens_walks", "read_v4_pools", "read_v4_pools_staged"]
