"""Running the read lens: one ``eth_call`` with a state override that puts its runtime code at a fixed dummy
address, pinned to the block; whether a connection's RPC honours overrides is found out once and remembered.

A walk the lens could not finish inside its gas budget (a huge window: a full-range window on a spacing-1 pool is
about 6,900 bitmap words) is continued at the same block from the word it stopped at, split into pieces that are
sent together as ONE JSON-RPC batch per pass: no call nears the gas cap, and only such windows cost more than one
round trip.

An RPC that refuses the override (an error, or an empty answer from a node that ignores the third parameter) is
told apart from a failing read by a probe (the lens reading nothing, sent only after a failure); once refused, the
connection reads through the multicall for the next ten minutes (then tries the lens again), and says so in the log
and in :func:`lens_status`.

Usage::

    got = lens_round(w3, calls, walks, block=123, chain="base")   # None: this RPC cannot run the lens
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockIdentifier, RPCEndpoint

from adapters.rpc.abi import Call, CallResult
from adapters.rpc.batch import RpcBatch, error_message
from adapters.rpc.lens.build import lens_runtime_code
from adapters.rpc.lens.codec import LensAnswer, Walk, WalkOut, decode_read, encode_read, probe_calldata, walk_answers
from crosshedge import AdapterError, RpcError

log = logging.getLogger(__name__)

#: Where the state override puts the lens ("LENS" in ASCII): an address no chain uses, clear of the precompiles.
LENS_ADDRESS = "0x000000000000000000000000000000004C454e53"
#: Gas of each lens call: below the usual eth_call caps (geth's 50M default), far above a normal chain's read.
LENS_GAS = 30_000_000
#: A walk starts another word only with this much gas left: a word of 256 initialized ticks plus the answer.
RESERVE_GAS = 4_000_000
#: Walk output words per call (each bitmap word is one, each initialized tick two more).
MAX_OUT = 12_000
#: Continuation passes before a walk that makes no progress is an error (it never does with these budgets).
MAX_PASSES = 64

Answers = dict[tuple[str, bytes], CallResult]


@dataclass(frozen=True)
class LensRound:
    """A lens round's outcome: the block it ran in, the calls' results, the walks' answers by call key."""

    block_number: int
    results: list[CallResult]
    answers: Answers
    walks: list[WalkOut]


class _Support:
    """Per connection (its provider): True once the lens ran, the reason once the override was refused.

    A refusal is remembered for ``retry_after_s`` only: a node that answered both the lens and the probe with an
    error may have been failing for another reason (a rate limit, a restart), and the multicall fallback, though
    exact, costs up to three round trips a read. After that the lens is tried again (one failed call and a probe).
    """

    def __init__(self, retry_after_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._by_provider: weakref.WeakKeyDictionary[Any, bool | tuple[str, float]] = weakref.WeakKeyDictionary()
        self.retry_after_s, self._clock = retry_after_s, clock
        self.build_error: str | None = None

    def get(self, w3: Web3) -> bool | str | None:
        """True (the lens runs), the refusal's reason while it holds, or None (untried, or time to try again)."""
        with self._lock:
            known = self._by_provider.get(w3.provider)
            if known is None or known is True or known is False:
                return known
            reason, at = known
            if self._clock() - at >= self.retry_after_s:
                del self._by_provider[w3.provider]
                return None
            return reason

    def put(self, w3: Web3, value: bool | str) -> None:
        with self._lock:
            self._by_provider[w3.provider] = value if isinstance(value, bool) else (value, self._clock())


# The capability belongs to the connection, which outlives every read and snapshot; keyed weakly by its provider
# so a dropped connection takes its entry with it.
_SUPPORT = _Support()


def lens_status(w3: Web3) -> str:
    """How reads on this connection go: "lens", "multicall (<why>)", or "lens (untried)" before the first read."""
    if _SUPPORT.build_error is not None:
        return f"multicall ({_SUPPORT.build_error})"
    known = _SUPPORT.get(w3)
    if known is None:
        return "lens (untried)"
    return "lens" if known is True else f"multicall ({known})"


def lens_usable(w3: Web3) -> bool:
    """False once this connection refused the override or the lens cannot be built (both remembered)."""
    if _SUPPORT.get(w3) not in (None, True):
        return False
    if _SUPPORT.build_error is not None:
        return False
    try:
        lens_runtime_code()
    except AdapterError as exc:
        _SUPPORT.build_error = str(exc)
        log.warning("%s; venues are read through the multicall", exc)
        return False
    return True


@functools.cache
def _override_code() -> str:
    return "0x" + lens_runtime_code().hex()  # 6 KB: hexed once, not on every read


def _request(data: bytes, block: BlockIdentifier, gas: int = LENS_GAS) -> list[Any]:
    at = hex(block) if isinstance(block, int) else str(block)
    call = {"to": LENS_ADDRESS, "data": "0x" + data.hex(), "gas": hex(gas)}
    return [call, at, {LENS_ADDRESS: {"code": _override_code()}}]


def _send(w3: Web3, chain: str, params: list[Any], batch: RpcBatch | None) -> dict[str, Any]:
    """One lens eth_call's raw response (riding in ``batch`` when one is given and not yet sent)."""
    if batch is not None and not batch.sent:
        index = batch.add("eth_call", params)
        batch.send()
        return batch.response(index)
    try:
        return dict(w3.provider.make_request(RPCEndpoint("eth_call"), params))
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(f"chain {chain}: read lens eth_call failed: {exc}") from exc


def _decoded(response: dict[str, Any], walks: Sequence[Walk]) -> LensAnswer | str:
    """The decoded answer, or why there is none (the node's error, or an answer that is not the lens's)."""
    why = error_message(response)
    if why is not None:
        return why
    result = response.get("result")
    if not isinstance(result, str) or len(result) <= 2:
        return f"empty answer {str(result)[:40]!r}"
    try:
        return decode_read(bytes.fromhex(result.removeprefix("0x")), walks)
    except ValueError as exc:
        return f"not the lens's answer ({exc})"


def _refused(w3: Web3, chain: str, block: BlockIdentifier) -> str | None:
    """Why this RPC cannot run the lens (a probe reading nothing fails too), or None when it can."""
    response = _send(w3, chain, _request(probe_calldata(), block), None)
    got = _decoded(response, [])
    return got if isinstance(got, str) else None


def lens_round(
    w3: Web3, calls: Sequence[Call], walks: Sequence[Walk], block: BlockIdentifier, chain: str,
    batch: RpcBatch | None = None, gas: int = LENS_GAS,
) -> LensRound | None:
    """``calls`` and ``walks`` in ONE lens eth_call of ``gas`` at ``block`` (plus one batch per continuation pass
    for a walk past that budget); None when this connection's RPC refuses state overrides (remembered: the caller
    reads through the multicall). A read that fails where the lens does run raises RpcError naming the chain."""
    if gas <= RESERVE_GAS:
        raise ValueError(f"chain {chain}: read lens gas {gas} must exceed its per-word reserve {RESERVE_GAS}")
    params = _request(encode_read(calls, walks, RESERVE_GAS, MAX_OUT), block, gas)
    got = _decoded(_send(w3, chain, params, batch), walks)
    if isinstance(got, str):
        # Probed on every failure, not only the first: after a failover the connection may be served by an
        # endpoint that lacks overrides although the first one had them.
        refusal = _refused(w3, chain, block)
        if refusal is not None:
            _SUPPORT.put(w3, f"the RPC refused an eth_call state override: {refusal[:160]}")
            log.warning("chain %s: its RPC refused an eth_call state override (%s); venues are read through "
                        "the multicall (up to 3 round trips) and the lens is tried again in %.0f minutes", chain,
                        refusal[:160], _SUPPORT.retry_after_s / 60)
            return None
        _SUPPORT.put(w3, True)
        raise RpcError(f"chain {chain}: read lens failed at block {block!r}: {got[:200]}")
    _SUPPORT.put(w3, True)
    outs = _continued(w3, got.walks, got.block_number, chain, gas)
    return LensRound(got.block_number, got.results, walk_answers(outs), outs)


def _continued(w3: Web3, outs: list[WalkOut], block: int, chain: str, gas: int) -> list[WalkOut]:
    """Every walk complete: unfinished ones are continued at ``block``, each pass ONE JSON-RPC batch of lens calls
    over the words left, cut into pieces of half the size the last call managed (so a denser stretch rarely
    needs another pass)."""
    read: list[WalkOut] = []  # every piece's output, finished or not: each holds whole words
    todo = [o for o in outs if not o.complete]
    for _ in range(MAX_PASSES):
        if not todo:
            return _merged(outs, read)
        pieces: list[Walk] = []
        for o in todo:
            step = max(1, (o.next - o.lo) // 2)  # half what the last call managed: denser words cost more
            pieces += [dataclasses.replace(o.walk, words=(lo, min(o.hi, lo + step - 1)))
                       for lo in range(o.next, o.hi + 1, step)]
        batch = RpcBatch(w3, chain)
        ids = [batch.add("eth_call", _request(encode_read([], [p], RESERVE_GAS, MAX_OUT), block, gas))
               for p in pieces]
        batch.send()
        todo = []
        for piece, i in zip(pieces, ids, strict=True):
            got = _decoded(batch.response(i), [piece])
            if isinstance(got, str):
                raise RpcError(f"chain {chain}: read lens continuation failed at block {block}: {got[:200]}")
            if got.block_number != block:
                raise RpcError(f"chain {chain}: read lens continuation pinned to block {block} ran at "
                               f"{got.block_number}")
            [out] = got.walks
            assert piece.words is not None  # every piece is a word range
            if out.ok and out.next == piece.words[0]:
                raise RpcError(f"chain {chain}: read lens made no progress on pool {piece.pool} at word "
                               f"{out.next} (gas budget {gas} too small)")
            read.append(out)
            if not out.complete:
                todo.append(out)
    raise RpcError(f"chain {chain}: read lens walks unfinished after {MAX_PASSES} passes")


def _merged(outs: Sequence[WalkOut], pieces: Sequence[WalkOut]) -> list[WalkOut]:
    """One WalkOut per original walk, holding every word and tick its pieces read."""
    merged: list[WalkOut] = []
    for o in outs:
        words, ticks = dict(o.words), dict(o.ticks)
        for p in pieces:
            if p is not o and p.walk.subject == o.walk.subject and p.walk.words is not None:
                words.update(p.words)
                ticks.update(p.ticks)
        merged.append(WalkOut(o.walk, o.ok, o.tick, o.spacing, o.lo, o.hi, o.hi + 1 if o.ok else o.next,
                              words, ticks))
    return merged
