"""Staged readers driven in lockstep, so several adapters' rounds share one multicall per round.

A staged reader is a generator: it yields each round's calls, receives ``(block, results)`` and returns its value.

Usage::

    block, [v3_states, v2_states] = run_stages(w3, [v3.read_stages(ctx, a), v2.read_stages(ctx, b)], "latest",
                                               ctx.multicall, ctx.name)
"""
from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockIdentifier

from adapters.rpc.abi import Call, CallResult
from adapters.rpc.batch import RpcBatch
from adapters.rpc.lens import LENS_GAS, Answers, Walk, lens_round, lens_usable
from adapters.rpc.multicall import batch_call, batch_call_in
from crosshedge import HeadMovedError, RpcError

# ---------------------------------------------------------------- staged reads

#: What a staged reader receives after each of its rounds: (block number the round ran in, its results in order).
StageResult = tuple[int, list[CallResult]]
#: A staged reader: yields each round's calls (never an empty list), receives their results, returns its value.
Stages = Generator[list[Call], StageResult, Any]


def run_stages(
    w3: Web3, readers: Sequence[Stages], block: BlockIdentifier, multicall: str | None, chain: str,
    batch: RpcBatch | None = None, walks: Sequence[Walk] | None = None, lens_gas: int = LENS_GAS,
) -> tuple[int, list[Any]]:
    """Drive staged readers in lockstep: each round merges every reader's pending calls into ONE batch_call.

    So reading several adapters' venues costs the largest reader's round count, not the sum. Identical calls
    (e.g. every adapter's decimals() checks) run once. With a block tag and a multicall, the first round runs at
    the tag and pins every later round to the block it ran in (no separate eth_blockNumber); without a multicall
    the tag is resolved first. With ``batch``, the first round rides in it (the batch is sent then, with the
    caller's other requests: no round trip of its own). Returns (block number, each reader's return value in order).

    With ``walks`` the first round is ONE read-lens call (:mod:`adapters.rpc.lens`) that also walks those pools'
    tick bitmaps, and later rounds are answered from what it read: one round trip in all. A call it did not read
    goes to the node as before; an RPC that refuses state overrides falls back to the multicall rounds. Each lens
    call gets ``lens_gas`` (a walk past it is continued in pieces: see adapters.rpc.lens.driver).
    """
    at: BlockIdentifier = block
    lens = walks is not None and lens_usable(w3)
    if not isinstance(at, int) and multicall is None and not lens:
        at = _block_number(w3, chain)
    values: list[Any] = [None] * len(readers)
    pending: dict[int, list[Call]] = {}
    for i in range(len(readers)):
        _advance(readers, i, None, pending, values)
    answers: Answers = {}
    while pending:
        index: dict[tuple[str, bytes], int] = {}
        merged: list[Call] = []
        for calls in pending.values():
            for c in calls:
                if index.setdefault(c.key, len(merged)) == len(merged):
                    merged.append(c)
        got = lens_round(w3, merged, walks or (), at, chain, batch, lens_gas) if lens else None
        ran_at: int | None
        if got is not None:
            ran_at, results, answers = got.block_number, got.results, got.answers
        else:
            if lens and not isinstance(at, int) and multicall is None:  # the lens was refused: resolve the tag
                at = _block_number(w3, chain)
            ran_at, results = _round(w3, merged, at, multicall, chain, batch, answers)
        lens = False
        if isinstance(at, int) and ran_at is not None and ran_at != at:
            raise HeadMovedError(f"chain {chain}: reads pinned to block {at} ran at block {ran_at}")
        at = ran_at if ran_at is not None else at
        assert isinstance(at, int)  # resolved above when there is no multicall to report it
        this_round, pending = pending, {}
        for i, calls in this_round.items():
            mine = [results[index[c.key]] for c in calls]
            _advance(readers, i, (at, mine), pending, values)
    if not isinstance(at, int):  # no reader had anything to read
        at = int(w3.eth.block_number)
    return at, values


def _block_number(w3: Web3, chain: str) -> int:
    try:
        return int(w3.eth.block_number)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(f"chain {chain}: eth_blockNumber failed: {exc}") from exc


def _round(
    w3: Web3, merged: Sequence[Call], at: BlockIdentifier, multicall: str | None, chain: str,
    batch: RpcBatch | None, answers: Answers,
) -> tuple[int | None, list[CallResult]]:
    """One round's results: from the lens's ``answers`` where it read them, the rest from the node."""
    missing = [c for c in merged if c.key not in answers]
    if not missing:
        return (at if isinstance(at, int) else None), [answers[c.key] for c in merged]
    if batch is not None and not batch.sent:
        ran_at, fetched = batch_call_in(batch, missing, at, multicall, chain)
    else:
        ran_at, fetched = batch_call(w3, missing, at, multicall, chain)
    got = iter(fetched)
    return ran_at, [answers.get(c.key) or next(got) for c in merged]


def _advance(
    readers: Sequence[Stages], i: int, sent: StageResult | None, pending: dict[int, list[Call]], values: list[Any]
) -> None:
    try:
        calls = next(readers[i]) if sent is None else readers[i].send(sent)
    except StopIteration as stop:
        values[i] = stop.value
        return
    if not calls:
        raise ValueError("a staged reader yielded no calls (it must return instead)")
    pending[i] = calls
