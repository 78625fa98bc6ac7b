"""Putting stored signed bytes on the wire, and finding out what the chain knows of them.

Every broadcast (the first, a re-broadcast after a drop, a replacement) checks the kill switch first: a halt
stops what reaches a chain, not only what gets signed. "nonce too low", "already known", "replacement underpriced"
and timeouts mean "maybe already sent": they are resolved by hash and nonce, never blindly retried.

Usage::

    broadcast(lane, record, len(record.attempts) - 1)     # raises HaltedError when halted, RpcError on transport
    receipt = find_receipt(lane.w3, [a.tx_hash for a in record.attempts])
    landing = read_landing(lane.w3, lane.chain, [record.receipt])   # head, receipts and canonical blocks at once
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError

from adapters import RpcBatch, hex_int
from crosshedge import ExecutionError, RpcError
from orchestrator.lane import Lane, UnderpricedError
from orchestrator.ledger import IntentRecord, ReceiptInfo
from orchestrator.safety import check_not_halted
from orchestrator.transactions import short

_MAYBE_SENT = ("nonce too low", "already known", "replacement transaction underpriced", "replacement underpriced",
               "known transaction", "transaction already imported")
_UNDERPRICED = ("max fee per gas less than block base fee", "fee cap less than block base fee",
                "transaction underpriced", "maxfeepergas too low")
_TRANSPORT_ERRORS = (requests.exceptions.Timeout, requests.exceptions.ConnectionError, TimeoutError, OSError)


def broadcast(lane: Lane, record: IntentRecord, index: int) -> None:
    """Send stored attempt ``index`` (kill switch checked first); "maybe already sent" is resolved by hash."""
    check_not_halted(lane.ledger, lane.name)
    raw = lane.signer.unseal(lane.ledger.raw_tx(record.spec.id, index))
    try:
        lane.sender.eth.send_raw_transaction(HexStr(raw))
        return
    except Web3RPCError as exc:
        classify(lane, record, exc)
    except _TRANSPORT_ERRORS:
        pass  # a timeout after the node accepted it is indistinguishable from a loss: resolve below
    if is_known(lane.w3, [a.tx_hash for a in record.attempts]):
        return
    try:
        lane.sender.eth.send_raw_transaction(HexStr(raw))  # unknown to the node: the same bytes again are safe
    except Web3RPCError as exc:
        classify(lane, record, exc)
    except _TRANSPORT_ERRORS as exc:
        raise RpcError(
            f"chain {lane.chain}: could not broadcast intent {record.spec.id} ({type(exc).__name__})") from None


def classify(lane: Lane, record: IntentRecord, exc: Web3RPCError) -> None:
    """Return quietly for "maybe already sent" answers (resolved by the caller); raise for real refusals."""
    message = str(exc).lower()
    if any(m in message for m in _MAYBE_SENT):
        return
    if any(m in message for m in _UNDERPRICED):
        raise UnderpricedError(f"intent {record.spec.id}: {lane.chain} base fee is above the signed fee cap")
    raise ExecutionError(f"intent {record.spec.id}: {lane.chain} refused the transaction: {short(exc)}") from None


def is_known(w3: Web3, hashes: list[str]) -> bool:
    """True when the node knows any of ``hashes`` (pending or mined)."""
    for h in hashes:
        try:
            w3.eth.get_transaction(HexStr(h))
            return True
        except TransactionNotFound:
            continue
    return False


def find_receipt(w3: Web3, hashes: list[str]) -> Mapping[str, Any] | None:
    """The receipt of whichever of ``hashes`` was mined (latest attempt first), or None."""
    for h in reversed(hashes):
        try:
            return w3.eth.get_transaction_receipt(HexStr(h))
        except TransactionNotFound:
            continue
    return None


@dataclass(frozen=True)
class Landing:
    """What the chain says now of mined transactions (one JSON-RPC batch): its head, the block hash of each one's
    receipt (None: no receipt any more) and the canonical block hash at each of their blocks (None: the chain is
    not that long any more)."""

    head: int
    receipt_block: dict[str, str | None]  # tx hash (lower-case) -> its receipt's block hash now (lower-case)
    canonical: dict[int, str | None]  # block number -> the canonical block's hash (lower-case)


def read_landing(w3: Web3, chain: str, receipts: Sequence[ReceiptInfo]) -> Landing:
    """The :class:`Landing` of ``receipts`` in ONE round trip (receipts, canonical blocks and the head together)."""
    batch = RpcBatch(w3, chain)
    hashes = {r.tx_hash.lower(): batch.add("eth_getTransactionReceipt", [r.tx_hash]) for r in receipts}
    blocks = {n: batch.add("eth_getBlockByNumber", [hex(n), False]) for n in {r.block_number for r in receipts}}
    head = batch.add("eth_blockNumber", [])
    batch.send()
    receipt_block: dict[str, str | None] = {}
    for tx_hash, i in hashes.items():
        found = batch.result(i)  # an error here is the node's, not a missing receipt: RpcError, retried
        receipt_block[tx_hash] = str(found["blockHash"]).lower() if isinstance(found, dict) else None
    canonical: dict[int, str | None] = {}
    for number, i in blocks.items():
        block = batch.response(i).get("result")  # an error or no block: not canonical (as canonical_hash says)
        canonical[number] = str(block["hash"]).lower() if isinstance(block, dict) and block.get("hash") else None
    try:
        return Landing(head=hex_int(batch.result(head), "eth_blockNumber's answer"), receipt_block=receipt_block,
                       canonical=canonical)
    except ValueError as exc:
        raise RpcError(f"chain {chain}: {exc}") from None


def canonical_hash(w3: Web3, block_number: int) -> str | None:
    """The hash of the canonical block at ``block_number`` now (None when the chain is not that long any more)."""
    try:
        block = w3.eth.get_block(block_number)
    except (Web3RPCError, BlockNotFound):
        return None
    return Web3.to_hex(block["hash"]) if block and "hash" in block else None


__all__ = ["Landing", "broadcast", "canonical_hash", "classify", "find_receipt", "is_known", "read_landing"]
