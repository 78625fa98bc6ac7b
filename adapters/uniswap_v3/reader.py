"""Read every Uniswap V3 pool of one chain, pinned to one block, in at most THREE RPC round trips (one when warm).

The bound holds for any number of pools and any number of initialized ticks (with a multicall configured):

1. one multicall: slot0, liquidity, fee, tickSpacing, token0, token1 of every pool, decimals() of every configured
   token and the block timestamp — plus, when a :class:`HintCache` remembers the pool from an earlier read, the
   bitmap words around the remembered tick (widened by a margin) and ``ticks(i)`` of the ticks they had set;
2. one multicall: the tickBitmap words of the window around the current tick that round 1 did not read;
3. one multicall: ticks(i).liquidityNet for every initialized tick of the window round 1 did not read.

Rounds 2 and 3 run only when they have something to read: a cold read costs 3, a warm one 1 unless the price moved
past the margin (2) or LPs initialized new ticks in the window (up to 3). Hints only choose which calls to make:
every value comes from the chain at the block, and the model is trimmed to the exact window of the current tick,
so a warm read returns the same state as a cold one.

With the read lens (:mod:`adapters.rpc.lens`) all three rounds are ONE eth_call: it runs round 1's calls and walks
each pool's window itself (:func:`lens_walks`), and rounds 2 and 3 are answered from what it read.

Without a multicall each round is one JSON-RPC batch instead and the block timestamp costs one more request (4).
Checks that fail closed, naming chain and venue: the address answers as a pool, both tokens are configured on the
chain, and their on-chain decimals() equal the configured ones.

The reader is a generator (:data:`adapters.rpc.Stages`) so :func:`adapters.rpc.run_stages` can merge its rounds
with other adapters' (Uniswap V2 pairs ride along in round 1).

Usage::

    reads = read_pools(chain, [PoolRequest("eth_usdc_500", pool_address, window_ticks=4000)], block=123)
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.rpc import Call, CallResult, StageResult, Walk, cached_call, decode, encode_call, run_stages
from adapters.types import ChainContext, TokenInfo
from adapters.uniswap.math import MAX_TICK, MIN_TICK
from adapters.uniswap.tokens import check_token
from adapters.uniswap_v3.pool import PoolModel
from crosshedge import AdapterError, HeadMovedError

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
_TICKS_SELECTOR = encode_call("0x" + "00" * 20, "ticks(int24)", 0).data[:4]


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


@dataclass(frozen=True)
class PoolHint:
    """What the last read of a pool saw: its spacing, tick and the bitmap words read. Only a guess of which calls
    the next read needs; nothing in it is returned as state."""

    spacing: int
    tick: int
    bitmap: Mapping[int, int]


class HintCache:
    """Pool hints by (chain id, pool address), kept by an adapter instance between reads. Thread-safe.

    Usage::

        hints = HintCache(); read_pools(chain, requests, block, hints)  # the second read is one round trip
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hints: dict[tuple[int, str], PoolHint] = {}

    def get(self, chain_id: int, address: str) -> PoolHint | None:
        with self._lock:
            return self._hints.get((chain_id, address.lower()))

    def put(self, chain_id: int, address: str, hint: PoolHint) -> None:
        with self._lock:
            self._hints[(chain_id, address.lower())] = hint


def hint_margin(window_ticks: int, spacing: int) -> int:
    """Extra ticks read each side of a remembered tick, so a price move up to this between reads stays one trip."""
    return window_ticks // 4 + spacing


def _check_block(chain: ChainContext, ran_at: int | None, block: int) -> None:
    if ran_at is not None and ran_at != block:
        raise HeadMovedError(f"chain {chain.name}: reads pinned to block {block} ran at block {ran_at}")


def word_window(tick: int, spacing: int, window_ticks: int) -> tuple[int, int]:
    """Inclusive range of bitmap words covering ``tick`` ± ``window_ticks`` (clamped to the valid tick range)."""
    lo_tick = max(MIN_TICK, tick - window_ticks)
    hi_tick = min(MAX_TICK, tick + window_ticks)
    return (lo_tick // spacing) >> 8, (hi_tick // spacing) >> 8


@dataclass
class _Pool:
    """One pool's read in progress: what is known so far at the block."""

    request: PoolRequest
    hint: PoolHint | None
    words: dict[int, int]  # bitmap word -> value, every word read
    nets: dict[int, int]  # tick -> liquidityNet, every tick read
    head: _Head | None = None

    def window(self) -> tuple[int, int]:
        assert self.head is not None
        return word_window(self.head.tick, self.head.spacing, self.request.window_ticks)


def _word_calls(pool: _Pool, words: Sequence[int]) -> list[tuple[_Pool, int, Call]]:
    return [(pool, w, cached_call(pool.request.address, "tickBitmap(int16)", w)) for w in words]


def _tick_calls(pool: _Pool, ticks: Sequence[int]) -> list[tuple[_Pool, int, Call]]:
    return [(pool, t, cached_call(pool.request.address, "ticks(int24)", t)) for t in ticks]


def _hinted(pool: _Pool) -> tuple[list[tuple[_Pool, int, Call]], list[tuple[_Pool, int, Call]]]:
    """Round-1 word and tick calls predicted from the pool's hint (none without one)."""
    hint = pool.hint
    if hint is None:
        return [], []
    margin = hint_margin(pool.request.window_ticks, hint.spacing)
    lo, hi = word_window(hint.tick, hint.spacing, pool.request.window_ticks + margin)
    known = {w: hint.bitmap[w] for w in range(lo, hi + 1) if w in hint.bitmap}
    return _word_calls(pool, range(lo, hi + 1)), _tick_calls(pool, initialized_ticks(known, hint.spacing))


def _store(chain: ChainContext, entries: Sequence[tuple[_Pool, int, Call]], results: Sequence[CallResult]) -> None:
    """File word and tick results into their pools (a reverting call means the address is not a pool)."""
    for (pool, key, call), res in zip(entries, results, strict=True):
        if call.data[:4] == _TICKS_SELECTOR:
            if not res.success or len(res.data) < 64:
                _field(chain.name, pool.request, "ticks", _TICKS_RETURNS, res)  # raises the not-a-pool error
            pool.nets[key] = int.from_bytes(res.data[32:64], "big", signed=True)
        else:
            pool.words[key] = int(_field(chain.name, pool.request, "tickBitmap", ("uint256",), res)[0])


def _heads(chain: ChainContext, pools: Sequence[_Pool], results: Sequence[CallResult]) -> int | None:
    """Parse round 1's pool fields and decimals into each pool's head; returns the multicall's timestamp."""
    tokens = list(chain.tokens.values())
    n = len(_POOL_FIELDS)
    dec_results = results[len(pools) * n : len(pools) * n + len(tokens)]
    decimals = {
        t.address: int(decode(("uint8",), r.data)[0]) for t, r in zip(tokens, dec_results, strict=True)
        if r.success and r.data
    }
    for i, pool in enumerate(pools):
        req = pool.request
        vals = [_field(chain.name, req, sig, types, results[i * n + j]) for j, (sig, types) in enumerate(_POOL_FIELDS)]
        slot0, (liq,), (fee,), (spacing,), (t0,), (t1,) = vals
        if int(spacing) <= 0:
            raise AdapterError(f"chain {chain.name}: venue {req.venue}: {req.address} reports tickSpacing {spacing}")
        pool.head = _Head(
            req, int(slot0[0]), int(slot0[1]), int(liq), int(fee), int(spacing),
            check_token(chain, req.venue, str(t0), decimals), check_token(chain, req.venue, str(t1), decimals),
        )
    if chain.multicall is None:
        return None
    return int(decode(("uint256",), results[len(pools) * n + len(tokens)].data)[0])


def read_pools_staged(
    chain: ChainContext, requests: Sequence[PoolRequest], hints: HintCache | None = None, predict: bool = True,
) -> Generator[list[Call], StageResult, list[PoolRead]]:
    """The staged reader of ``requests`` (see module doc); drive it with :func:`adapters.rpc.run_stages`.

    With ``predict=False`` the hints are only remembered, never used to pick round-1 calls: the read lens walks
    the window itself (:func:`lens_walks`), so predicted calls would be read twice.
    """
    if not requests:
        return []
    pools = [_Pool(r, hints.get(chain.chain_id, r.address) if hints and predict else None, {}, {}) for r in requests]
    calls: list[Call] = [encode_call(p.request.address, sig) for p in pools for sig, _ in _POOL_FIELDS]
    calls += [encode_call(t.address, "decimals()") for t in chain.tokens.values()]
    if chain.multicall is not None:
        calls.append(encode_call(chain.multicall, "getCurrentBlockTimestamp()"))
    predicted = [e for p in pools for part in _hinted(p) for e in part]
    block, results = yield calls + [c for _, _, c in predicted]
    timestamp = _heads(chain, pools, results[: len(calls)])
    if timestamp is None:
        timestamp = int(chain.w3.eth.get_block(block)["timestamp"])
    _store(chain, predicted, results[len(calls) :])
    missing_words = [
        e for p in pools for e in _word_calls(p, [w for w in range(p.window()[0], p.window()[1] + 1)
                                                  if w not in p.words])
    ]
    if missing_words:
        _, results = yield [c for _, _, c in missing_words]
        _store(chain, missing_words, results)
    missing_ticks = [e for p in pools for e in _tick_calls(p, [t for t in _window_ticks(p) if t not in p.nets])]
    if missing_ticks:
        _, results = yield [c for _, _, c in missing_ticks]
        _store(chain, missing_ticks, results)
    return [_finish(chain, p, block, timestamp, hints) for p in pools]


def _window_ticks(pool: _Pool) -> list[int]:
    assert pool.head is not None
    lo, hi = pool.window()
    return initialized_ticks({w: pool.words[w] for w in range(lo, hi + 1)}, pool.head.spacing)


def _finish(chain: ChainContext, pool: _Pool, block: int, timestamp: int, hints: HintCache | None) -> PoolRead:
    """The pool's state trimmed to its exact window (so hints never change the result); remembers the hint."""
    h = pool.head
    assert h is not None
    lo, hi = pool.window()
    bitmap = {w: pool.words[w] for w in range(lo, hi + 1)}
    nets = {t: pool.nets[t] for t in initialized_ticks(bitmap, h.spacing)}
    if hints is not None:
        hints.put(chain.chain_id, h.request.address, PoolHint(h.spacing, h.tick, dict(pool.words)))
    return PoolRead(
        venue=h.request.venue, address=h.request.address, token0=h.token0, token1=h.token1, block_number=block,
        block_timestamp=timestamp,
        model=PoolModel(h.sqrt_price, h.tick, h.liquidity, h.fee, h.spacing, bitmap, nets, (lo, hi)),
    )


def read_pools(
    chain: ChainContext, requests: Sequence[PoolRequest], block: int, hints: HintCache | None = None
) -> list[PoolRead]:
    """Read ``requests`` at ``block`` in at most :data:`MAX_ROUND_TRIPS` round trips (see module doc)."""
    _, [reads] = run_stages(chain.w3, [read_pools_staged(chain, requests, hints)], block, chain.multicall, chain.name)
    return list(reads)


def lens_walks(requests: Sequence[PoolRequest]) -> list[Walk]:
    """The read-lens walks that answer rounds 2 and 3 of :func:`read_pools_staged`: each pool's window, as
    :func:`word_window` computes it from the tick the lens reads at the same block."""
    return [Walk(r.address, r.window_ticks) for r in requests]


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
