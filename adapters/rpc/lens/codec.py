"""The read lens's calldata and answer, hand-encoded like the multicall's (eth_abi's generic codec costs more CPU
than a local node's whole answer), and the walks' output turned into the answers of the calls they replace.

The answer starts like UniswapInterfaceMulticall's (block number, then the calls' results in the same layout), so
:func:`adapters.rpc.decode_multicall` reads that part.

Usage::

    data = encode_read(calls, [Walk(pool, 4000)], reserve_gas=4_000_000, max_out=12_000)
    answer = decode_read(raw)            # block, results, timestamp, base fee, one WalkOut per walk
    answers = walk_answers(answer.walks)  # (pool, calldata) -> the tickBitmap / ticks result the walk read
    v4 = Walk(state_view, 4000, kind=WalkKind.V4_STATE_VIEW, pool_id=pool_id, spacing=60)  # answers StateView's
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from adapters.rpc.abi import Call, CallResult, _address_word, _selector_and_types, cached_call
from adapters.rpc.multicall import _word, decode_multicall, encode_multicall

READ_SIGNATURE = ("read((address,uint256,bytes)[],(address,uint256,bytes32,int256,int256,bool,int256,int256)[],"
                  "uint256,uint256)")
HEADER = 6  # status, tick, spacing, lo, hi, next (ReadLens.HEADER)
_WORD = 1 << 256


class WalkKind(IntEnum):
    """Where a walk's bitmap lives (ReadLens.KIND_*)."""

    V3_POOL = 0  # a Uniswap V3 pool's own slot0() / tickSpacing() / tickBitmap(int16) / ticks(int24)
    V4_STATE_VIEW = 1  # Uniswap V4's StateView getSlot0 / getTickBitmap / getTickLiquidity for one pool id


@dataclass(frozen=True)
class Walk:
    """One pool's bitmap walk: ``window_ticks`` each side of its tick, or (``words``) a word range.

    The window is the reader's :func:`adapters.uniswap_v3.reader.word_window`; ``words`` continues a walk that
    stopped at its gas budget. ``pool`` is the address called: the V3 pool, or for ``V4_STATE_VIEW`` the StateView,
    with the pool's id (32 bytes) and its key's tick spacing (StateView has no getter for it).
    """

    pool: str
    window_ticks: int
    words: tuple[int, int] | None = None
    kind: WalkKind = WalkKind.V3_POOL
    pool_id: bytes = b""
    spacing: int = 0

    def __post_init__(self) -> None:
        if self.kind is WalkKind.V4_STATE_VIEW and (len(self.pool_id) != 32 or self.spacing <= 0):
            raise ValueError(f"V4 walk on {self.pool}: needs a 32-byte pool id and a positive tick spacing")
        if self.kind is WalkKind.V3_POOL and (self.pool_id or self.spacing):
            raise ValueError(f"V3 walk on {self.pool}: the pool reports its own spacing and has no pool id")

    @property
    def subject(self) -> tuple[str, bytes]:
        """Which pool the walk reads: pieces of one walk share it, V4 walks of one StateView do not."""
        return self.pool.lower(), self.pool_id


@dataclass(frozen=True)
class WalkOut:
    """What the lens read of one walk: every word lo..next-1 and the (gross, net) liquidity of each set bit."""

    walk: Walk
    ok: bool  # False: the address did not answer as a pool (its own calls say why)
    tick: int = 0
    spacing: int = 0
    lo: int = 0
    hi: int = -1
    next: int = 0  # first word not read; > hi when the walk is complete
    words: dict[int, int] = field(default_factory=dict)
    ticks: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.ok or self.next > self.hi


@dataclass(frozen=True)
class LensAnswer:
    block_number: int
    timestamp: int
    base_fee: int
    results: list[CallResult]
    walks: list[WalkOut]


def _int(value: int) -> int:
    """A two's-complement word as a signed integer."""
    return value - _WORD if value >> 255 else value


def encode_read(calls: Sequence[Call], walks: Sequence[Walk], reserve_gas: int, max_out: int) -> bytes:
    """Calldata of ``ReadLens.read``; the calls array is encoded exactly as the multicall's argument."""
    calls_array = encode_multicall(calls)[4 + 32 :]  # the multicall's calldata less its selector and offset word
    walks_array = [len(walks).to_bytes(32, "big")]
    for w in walks:
        lo, hi = w.words if w.words is not None else (0, 0)
        walks_array += [_address_word(w.pool), int(w.kind).to_bytes(32, "big"), w.pool_id.rjust(32, b"\0"),
                        w.spacing.to_bytes(32, "big"), (w.window_ticks % _WORD).to_bytes(32, "big"),
                        int(w.words is not None).to_bytes(32, "big"), (lo % _WORD).to_bytes(32, "big"),
                        (hi % _WORD).to_bytes(32, "big")]
    head = [128, 128 + len(calls_array), reserve_gas, max_out]
    selector, _ = _selector_and_types(READ_SIGNATURE)
    return b"".join((selector, *(v.to_bytes(32, "big") for v in head), calls_array, *walks_array))


def decode_read(raw: bytes, walks: Sequence[Walk]) -> LensAnswer:
    """The lens's answer to a read with ``walks``; ValueError on malformed data (every offset bounds-checked)."""
    block, results = decode_multicall(raw)
    timestamp, base_fee, at = _word(raw, 64), _word(raw, 96), _word(raw, 128)
    n = _word(raw, at)
    if at + 32 + 32 * n > len(raw):
        raise ValueError(f"walk output of {n} words runs past the {len(raw)}-byte return data")
    values = [int.from_bytes(raw[at + 32 + 32 * i : at + 64 + 32 * i], "big") for i in range(n)]
    outs: list[WalkOut] = []
    i = 0
    try:
        for w in walks:
            out, i = _walk_out(w, values, i)
            outs.append(out)
    except IndexError:
        raise ValueError("walk output ends inside a word's ticks") from None
    if i != n:
        raise ValueError(f"walk output has {n - i} words left over")
    return LensAnswer(block, timestamp, base_fee, results, outs)


def _walk_out(walk: Walk, values: Sequence[int], i: int) -> tuple[WalkOut, int]:
    """One walk's output starting at ``values[i]``; returns it and where the next one starts."""
    if i + HEADER > len(values):
        raise ValueError("walk output ends inside a header")
    status, tick, spacing, lo, hi, nxt = values[i : i + HEADER]
    i += HEADER
    if status != 1:
        return WalkOut(walk, False), i
    tick, spacing, lo, hi, nxt = _int(tick), _int(spacing), _int(lo), _int(hi), _int(nxt)
    words: dict[int, int] = {}
    ticks: dict[int, tuple[int, int]] = {}
    for word in range(lo, nxt):
        bits = values[i]
        words[word] = bits
        i += 1
        while bits:
            low = bits & -bits
            ticks[((word << 8) + low.bit_length() - 1) * spacing] = (values[i], values[i + 1])
            i += 2
            bits ^= low
    return WalkOut(walk, True, tick, spacing, lo, hi, nxt, words, ticks), i


#: The calls a walk stands in for, per kind: (bitmap word getter, tick liquidity getter).
_GETTERS = {WalkKind.V3_POOL: ("tickBitmap(int16)", "ticks(int24)"),
            WalkKind.V4_STATE_VIEW: ("getTickBitmap(bytes32,int16)", "getTickLiquidity(bytes32,int24)")}


def walk_answers(outs: Sequence[WalkOut]) -> dict[tuple[str, bytes], CallResult]:
    """The bitmap-word and tick results the walks read, keyed as the staged driver keys calls ((target lower-case,
    calldata)): V3's ``tickBitmap(int16)`` / ``ticks(int24)`` on the pool, V4's ``getTickBitmap(bytes32,int16)`` /
    ``getTickLiquidity(bytes32,int24)`` on StateView. A tick answer holds the two words the lens read
    (liquidityGross, liquidityNet): all of V4's getter, and the two of V3's eight that the readers use."""
    answers: dict[tuple[str, bytes], CallResult] = {}
    for out in outs:
        w = out.walk
        word_sig, tick_sig = _GETTERS[w.kind]
        # The calls' keys come from the memoised calls the readers build (a warm read repeats every one of them).
        by: tuple[bytes, ...] = (w.pool_id,) if w.kind is WalkKind.V4_STATE_VIEW else ()
        for word, bits in out.words.items():
            answers[cached_call(w.pool, word_sig, *by, word).key] = CallResult(True, bits.to_bytes(32, "big"))
        for tick, (gross, net) in out.ticks.items():
            answers[cached_call(w.pool, tick_sig, *by, tick).key] = CallResult(
                True, gross.to_bytes(32, "big") + net.to_bytes(32, "big"))
    return answers


def probe_calldata() -> bytes:
    """A read of nothing: what the lens answers when the node runs it (used to tell a refused override apart)."""
    return encode_read([], [], 0, 0)


__all__ = ["HEADER", "READ_SIGNATURE", "LensAnswer", "Walk", "WalkKind", "WalkOut", "decode_read", "encode_read",
           "probe_calldata", "walk_answers"]
