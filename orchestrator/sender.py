"""Sign, send and land one trade intent exactly once: checks, simulation, EIP-1559 fees, write-ahead, replacement.

The order for an intent in ``planned``: kill switch -> breakers -> build -> refuse anything unsafe (chain id,
allowlist, amounts, deadline) -> ``eth_call`` simulation -> nonce from the ledger -> kill switch again -> sign ->
store the signed bytes and hash in the ledger (write-ahead) -> broadcast -> ``sent`` -> wait for the receipt,
re-broadcasting a dropped transaction and replacing a stuck one at the same nonce with fee cap AND tip raised by
>= 12.5% (up to the chain's gas cap) -> ``confirmed`` (fill decoded) or ``failed`` (reverted; gas booked).

A redelivered intent picks up where the ledger says it is: ``signed`` re-broadcasts the stored bytes, ``sent``
waits for any of its attempts. "nonce too low", "already known", "replacement underpriced" and timeouts on send
mean "maybe already sent": they are resolved by hash and nonce, never blindly retried.

Test hook: when ``CROSSHEDGE_TEST_CRASH_DIR`` is set, reaching crash point P while a file named P exists in that
directory deletes the file and SIGKILLs the current process (points: ``before_sign``, ``after_sign``,
``after_broadcast``). Without that variable the hook does nothing.

Usage::

    record = execute_intent(lane, intent_id, hooks)   # -> IntentRecord in confirmed or failed
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import encode
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from adapters import Fill, TxRequest
from crosshedge import (
    ExecutionError,
    HaltedError,
    LeaseLostError,
    NotReadyError,
    RpcError,
    UnsafeTransactionError,
)
from crosshedge.config import ChainSettings, ExecutionSettings
from orchestrator.ledger import (
    Attempt,
    IntentKind,
    IntentRecord,
    IntentState,
    Lease,
    Ledger,
    ReceiptInfo,
    TxFields,
    fields_of,
)
from orchestrator.safety import check_gas_price, check_not_halted
from orchestrator.signer import WalletSigner

CRASH_DIR_ENV = "CROSSHEDGE_TEST_CRASH_DIR"
APPROVE_SELECTOR = bytes.fromhex("095ea7b3")  # approve(address,uint256)
ALLOWANCE_SELECTOR = bytes.fromhex("dd62ed3e")  # allowance(address,address)
MAX_UINT256 = 2**256 - 1
_MAYBE_SENT = ("nonce too low", "already known", "replacement transaction underpriced", "replacement underpriced",
               "known transaction", "transaction already imported")
_UNDERPRICED = ("max fee per gas less than block base fee", "fee cap less than block base fee",
                "transaction underpriced", "maxfeepergas too low")
_TRANSPORT_ERRORS = (requests.exceptions.Timeout, requests.exceptions.ConnectionError, TimeoutError, OSError)


def crash_point(name: str) -> None:
    """Test hook (see the module docstring): SIGKILL this process once at ``name`` when armed."""
    directory = os.environ.get(CRASH_DIR_ENV)
    if not directory:
        return
    marker = Path(directory) / name
    try:
        marker.unlink()
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Lane:
    """Everything needed to execute on one (chain, wallet) lane. Built per task from config; never serialized."""

    chain: str
    settings: ChainSettings
    w3: Web3
    signer: WalletSigner
    ledger: Ledger
    execution: ExecutionSettings
    allowlist: frozenset[str]  # checksum addresses of routers and tokens from the config
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    lease: Lease | None = None  # the executor's fenced hold on this lane; every write carries it
    # Where signed transactions are sent: the chain's private submission endpoint when configured (a relay that
    # keeps them out of the public mempool, against sandwiches), else the same connection as reads.
    send_w3: Web3 | None = None

    @property
    def name(self) -> str:
        return f"{self.chain}.{self.signer.name}"

    def with_lease(self, lease: Lease) -> Lane:
        return replace(self, lease=lease)

    def keep_lease(self) -> None:
        """Renew the lane's lease (called while waiting); LeaseLostError when another executor took over."""
        if self.lease is not None and not self.ledger.renew(self.lease):
            raise LeaseLostError(f"lane {self.name}: the lane's lease lapsed and is no longer this executor's")


class UnderpricedError(ExecutionError):
    """The node refuses the stored transaction because the base fee has overtaken its fee cap: replace it."""


@dataclass(frozen=True)
class Hooks:
    """What the sender needs from the venue side, injected by orchestrator.run (sender knows no adapters)."""

    build_swap: Callable[[IntentRecord, int], TxRequest]  # (intent, deadline) -> unsigned swap call
    pre_sign: Callable[[IntentRecord], None]  # breakers (price move since snapshot); raises CircuitBreakerError
    parse_fill: Callable[[IntentRecord, Mapping[str, Any]], Fill]


# -- building and checking ------------------------------------------------------------------------------------
def approve_tx(chain_id: int, token: str, spender: str, amount: int) -> TxRequest:
    """An exact ERC20 approval: ``approve(spender, amount)`` on ``token``."""
    data = APPROVE_SELECTOR + encode(["address", "uint256"], [Web3.to_checksum_address(spender), amount])
    return TxRequest(chain_id=chain_id, to=Web3.to_checksum_address(token), data="0x" + data.hex(),
                     description=f"approve {amount} to {spender}")


def read_allowance(w3: Web3, token: str, owner: str, spender: str) -> int:
    """``allowance(owner, spender)`` of an ERC20, at the latest block."""
    data = ALLOWANCE_SELECTOR + encode(["address", "address"], [owner, spender])
    out = w3.eth.call({"to": Web3.to_checksum_address(token), "data": HexStr("0x" + data.hex())})
    return int.from_bytes(bytes(out)[:32], "big")


def validate_tx(record: IntentRecord, tx: TxRequest | None, chain_id: int, allowlist: frozenset[str], now: float,
                deadline: int | None, max_trade_usd: float) -> None:
    """Refuse, before signing, anything that is not an exact, bounded, allowlisted call on the right chain.

    ``tx`` None checks the intent alone (before its calldata is even built). Raises
    :class:`UnsafeTransactionError` with one sentence naming the intent and what is wrong.
    """
    spec = record.spec
    where = f"intent {spec.id} ({spec.kind} on {spec.chain})"
    if spec.amount_in_raw <= 0 or spec.amount_in_raw >= 2**255:
        raise UnsafeTransactionError(f"{where}: amount in must be positive and bounded, got {spec.amount_in_raw}")
    if not math.isfinite(spec.notional_usd) or spec.notional_usd < 0 or spec.notional_usd > max_trade_usd:
        raise UnsafeTransactionError(
            f"{where}: notional ${spec.notional_usd:,.2f} is outside [0, ${max_trade_usd:,.0f}] "
            "(execution.max_trade_usd)"
        )
    if spec.kind is IntentKind.APPROVE:
        if spec.spender is None or Web3.to_checksum_address(spec.spender) not in allowlist:
            raise UnsafeTransactionError(f"{where}: spender {spec.spender} is not an allowlisted router")
    else:
        if spec.min_amount_out_raw <= 0:
            raise UnsafeTransactionError(
                f"{where}: amountOutMinimum must be positive (from the plan), got {spec.min_amount_out_raw}")
        if deadline is None or deadline <= now:
            raise UnsafeTransactionError(f"{where}: deadline {deadline} is not in the future (now {int(now)})")
    if tx is None:
        return
    if tx.chain_id != chain_id:
        raise UnsafeTransactionError(
            f"{where}: transaction is for chain id {tx.chain_id}, chain {spec.chain} is {chain_id}")
    if not Web3.is_address(tx.to) or Web3.to_checksum_address(tx.to) not in allowlist:
        raise UnsafeTransactionError(f"{where}: target {tx.to} is not an allowlisted router or token of {spec.chain}")
    if tx.value != 0:
        raise UnsafeTransactionError(f"{where}: refusing to send native value {tx.value} with a hedge trade")


def current_fees(w3: Web3, chain: str, settings: ChainSettings, execution: ExecutionSettings) -> tuple[int, int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas, base fee) for a new transaction; the gas cap breaker applies."""
    base = _next_base_fee(w3)
    check_gas_price(chain, base, settings.gas.max_gas_price_gwei)
    tip = int(settings.gas.priority_fee_gwei * 1e9)
    cap = int(settings.gas.max_gas_price_gwei * 1e9)
    max_fee = min(int(base * execution.base_fee_multiplier) + tip, cap)
    return max_fee, min(tip, max_fee), base


def _next_base_fee(w3: Web3) -> int:
    try:
        block = w3.eth.get_block("pending")
    except Web3RPCError:
        block = w3.eth.get_block("latest")
    return int(block.get("baseFeePerGas", 0) or 0)


def bump_fees(max_fee: int, tip: int, next_base_fee: int, bump_pct: float, base_fee_multiplier: float,
              cap_wei: int) -> tuple[int, int] | None:
    """Fees for a replacement at the same nonce: fee cap AND tip each >= ``bump_pct`` higher (and enough for the
    next base fee), never above ``cap_wei``. None when the cap does not leave room for a valid replacement.

    Usage: ``bump_fees(30 * 10**9, 10**9, 50 * 10**9, 12.5, 2.0, 500 * 10**9)``
    """
    factor = 1.0 + bump_pct / 100.0
    new_tip = max(math.ceil(tip * factor), tip + 1)
    min_fee = max(math.ceil(max_fee * factor), max_fee + 1)
    wanted = max(min_fee, int(next_base_fee * base_fee_multiplier) + new_tip)
    new_fee = min(wanted, cap_wei)
    if new_fee < min_fee or new_tip > new_fee:
        return None
    return new_fee, new_tip


def simulate(w3: Web3, sender: str, tx: TxRequest, where: str) -> int:
    """``eth_call`` the transaction (refusing it if it reverts), then estimate its gas; returns the gas limit."""
    call = {"from": sender, "to": tx.to, "data": tx.data, "value": tx.value}
    try:
        w3.eth.call(call, "latest")  # type: ignore[arg-type]
        estimate = int(w3.eth.estimate_gas(call))  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        raise UnsafeTransactionError(f"{where}: simulation (eth_call) reverted: {_short(exc)}") from None
    return estimate + estimate // 5 + 10_000  # headroom: state can move between simulation and inclusion


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


# -- the state machine driver ---------------------------------------------------------------------------------
def execute_intent(lane: Lane, intent_id: str, hooks: Hooks) -> IntentRecord:
    """Drive one intent to ``confirmed`` or ``failed`` from whatever state the ledger holds.

    Raises HaltedError / CircuitBreakerError (nothing signed; the caller skips the intent), UnsafeTransactionError
    (refused; recorded as failed here), ExecutionError / RpcError (transient; the intent keeps its state).
    """
    record = lane.ledger.intent(intent_id)
    if record.state is IntentState.PLANNED:
        record = _sign_first(lane, record, hooks)
    if record.state is IntentState.SIGNED:
        # Signed before a base-fee rise: await_inclusion replaces it at the same nonce.
        with contextlib.suppress(UnderpricedError):
            _broadcast(lane, record, len(record.attempts) - 1)
        crash_point("after_broadcast")
        lane.ledger.transition(intent_id, IntentState.SENT, lease=lane.lease)
        record = lane.ledger.intent(intent_id)
    if record.state is IntentState.SENT:
        record = await_inclusion(lane, record, hooks)
    return record


def _sign_first(lane: Lane, record: IntentRecord, hooks: Hooks) -> IntentRecord:
    spec = record.spec
    where = f"intent {spec.id} ({spec.kind} on {spec.chain})"
    check_not_halted(lane.ledger)
    hooks.pre_sign(record)
    head = lane.w3.eth.get_block("latest")
    # The router checks the deadline against the chain's clock: never let a lagging host clock shorten it.
    now = max(lane.clock(), float(head["timestamp"]))
    deadline = int(now) + lane.execution.deadline_s if spec.kind is IntentKind.SWAP else None
    try:
        validate_tx(record, None, lane.settings.chain_id, lane.allowlist, now, deadline, lane.execution.max_trade_usd)
        tx = (approve_tx(lane.settings.chain_id, spec.token_in, spec.spender or "", spec.amount_in_raw)
              if spec.kind is IntentKind.APPROVE else hooks.build_swap(record, deadline or 0))
        validate_tx(record, tx, lane.settings.chain_id, lane.allowlist, now, deadline, lane.execution.max_trade_usd)
        gas = simulate(lane.w3, lane.signer.address, tx, where) if lane.execution.simulate else 500_000
    except UnsafeTransactionError as exc:
        lane.ledger.transition(spec.id, IntentState.FAILED, lease=lane.lease, error=str(exc))
        raise
    max_fee, tip, _ = current_fees(lane.w3, lane.chain, lane.settings, lane.execution)
    pending = lane.w3.eth.get_transaction_count(lane.signer.address, "pending")  # type: ignore[arg-type]
    nonce = lane.ledger.allocate_nonce(spec.id, spec.nonce_sequence, int(pending), lease=lane.lease)
    fields = TxFields(chain_id=tx.chain_id, nonce=nonce, to=Web3.to_checksum_address(tx.to), data=tx.data,
                      value=tx.value, gas=gas, deadline=deadline)
    crash_point("before_sign")
    try:
        check_not_halted(lane.ledger)  # immediately before the signature: fail closed
    except HaltedError:
        lane.ledger.release_nonce(spec.id, spec.nonce_sequence)
        raise
    signed = lane.signer.sign(_tx_dict(fields, max_fee, tip))
    attempt = Attempt(tx_hash=signed.tx_hash, max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip, signed_at=now)
    # False: another delivery won the write-ahead; its bytes are the ones broadcast.
    lane.ledger.record_signed(spec.id, lane.signer.seal(signed.raw_hex), attempt, fields, lease=lane.lease)
    crash_point("after_sign")
    return lane.ledger.intent(spec.id)


def _tx_dict(fields: TxFields, max_fee: int, tip: int) -> dict[str, Any]:
    return {"chainId": fields.chain_id, "nonce": fields.nonce, "to": fields.to, "data": fields.data,
            "value": fields.value, "gas": fields.gas, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
            "type": 2}


def _broadcast(lane: Lane, record: IntentRecord, index: int) -> None:
    """Send stored attempt ``index``; "maybe already sent" answers are resolved by hash, not retried."""
    raw = lane.signer.unseal(lane.ledger.raw_tx(record.spec.id, index))
    sender = lane.send_w3 or lane.w3
    try:
        sender.eth.send_raw_transaction(HexStr(raw))
        return
    except Web3RPCError as exc:
        _classify(lane, record, exc)
    except _TRANSPORT_ERRORS:
        pass  # a timeout after the node accepted it is indistinguishable from a loss: resolve below
    if _known(lane.w3, [a.tx_hash for a in record.attempts]):
        return
    try:
        sender.eth.send_raw_transaction(HexStr(raw))  # the node does not know it: the same bytes again are always safe
    except Web3RPCError as exc:
        _classify(lane, record, exc)
    except _TRANSPORT_ERRORS as exc:
        raise RpcError(
            f"chain {lane.chain}: could not broadcast intent {record.spec.id} ({type(exc).__name__})") from None


def _classify(lane: Lane, record: IntentRecord, exc: Web3RPCError) -> None:
    """Return quietly for "maybe already sent" answers (resolved by the caller); raise for real refusals."""
    message = str(exc).lower()
    if any(m in message for m in _MAYBE_SENT):
        return
    if any(m in message for m in _UNDERPRICED):
        raise UnderpricedError(f"intent {record.spec.id}: {lane.chain} base fee is above the signed fee cap")
    raise ExecutionError(f"intent {record.spec.id}: {lane.chain} refused the transaction: {_short(exc)}") from None


def _known(w3: Web3, hashes: list[str]) -> bool:
    for h in hashes:
        try:
            w3.eth.get_transaction(h)  # type: ignore[arg-type]
            return True
        except TransactionNotFound:
            continue
    return False


def _receipt(w3: Web3, hashes: list[str]) -> Mapping[str, Any] | None:
    for h in reversed(hashes):
        try:
            return w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
        except TransactionNotFound:
            continue
    return None


def await_inclusion(lane: Lane, record: IntentRecord, hooks: Hooks) -> IntentRecord:
    """Wait for a receipt of any attempt; re-broadcast if dropped, replace if underpriced; book the outcome."""
    start = last_check = lane.clock()
    polls = 0
    while True:
        hashes = [a.tx_hash for a in record.attempts]
        receipt = _receipt(lane.w3, hashes)
        if receipt is not None:
            return _book(lane, record, receipt, hooks)
        now = lane.clock()
        if now - start > lane.execution.receipt_timeout_s:
            raise NotReadyError(f"intent {record.spec.id}: no receipt on {lane.chain} after "
                                 f"{lane.execution.receipt_timeout_s:g}s (stays 'sent'; recovery will resume it)")
        if now - last_check >= lane.execution.stuck_after_s:
            last_check = now
            lane.keep_lease()
            record = _unstick(lane, record)
        # Poll tightly at first (an automining or fast L2 chain answers within milliseconds), then back off.
        lane.sleep(min(lane.execution.poll_interval_s, 0.002 * 2 ** min(polls, 16)))
        polls += 1


def _unstick(lane: Lane, record: IntentRecord) -> IntentRecord:
    assert record.nonce is not None
    mined_nonce = int(lane.w3.eth.get_transaction_count(lane.signer.address, "latest"))  # type: ignore[arg-type]
    hashes = [a.tx_hash for a in record.attempts]
    if mined_nonce > record.nonce:
        if _receipt(lane.w3, hashes) is None:
            lane.ledger.transition(record.spec.id, IntentState.FAILED, lease=lane.lease,
                                   error=f"nonce {record.nonce} on {lane.chain} was used by a transaction "
                                         "not in the ledger")
        return lane.ledger.intent(record.spec.id)
    if not _known(lane.w3, hashes):
        try:
            _broadcast(lane, record, len(record.attempts) - 1)  # dropped from the mempool: same bytes again
        except UnderpricedError:
            return _replace(lane, record, force=True)  # evicted because the base fee overtook it
        lane.ledger.add_event(record.spec.run_id, "rebroadcast", f"intent {record.spec.id}: re-broadcast after drop")
        return record
    return _replace(lane, record)


def _replace(lane: Lane, record: IntentRecord, force: bool = False) -> IntentRecord:
    """A pending transaction the next base fee has overtaken: re-sign the same nonce with bumped fees."""
    last = record.attempts[-1]
    next_base = _next_base_fee(lane.w3)
    if not force and next_base <= last.max_fee_per_gas - last.max_priority_fee_per_gas:
        return record  # still competitive; just not mined yet
    cap = int(lane.settings.gas.max_gas_price_gwei * 1e9)
    fees = bump_fees(last.max_fee_per_gas, last.max_priority_fee_per_gas, next_base, lane.execution.fee_bump_pct,
                     lane.execution.base_fee_multiplier, cap)
    if fees is None:
        lane.ledger.add_event(record.spec.run_id, "gas_cap", f"intent {record.spec.id}: replacement would exceed "
                              f"the {lane.chain} gas cap; waiting")
        return record
    try:
        check_not_halted(lane.ledger)
    except HaltedError:
        return record  # halted: no new signature; the pending one may still land
    assert record.tx is not None
    signed = lane.signer.sign(_tx_dict(record.tx, fees[0], fees[1]))
    attempt = Attempt(tx_hash=signed.tx_hash, max_fee_per_gas=fees[0], max_priority_fee_per_gas=fees[1],
                      signed_at=lane.clock())
    lane.ledger.add_attempt(record.spec.id, len(record.attempts), lane.signer.seal(signed.raw_hex), attempt,
                           lease=lane.lease)
    record = lane.ledger.intent(record.spec.id)
    _broadcast(lane, record, len(record.attempts) - 1)
    lane.ledger.add_event(record.spec.run_id, "replaced", f"intent {record.spec.id}: replaced at nonce {record.nonce} "
                          f"with max fee {fees[0]} wei, tip {fees[1]} wei")
    return record


def _book(lane: Lane, record: IntentRecord, receipt: Mapping[str, Any], hooks: Hooks) -> IntentRecord:
    info = ReceiptInfo(
        tx_hash=Web3.to_hex(receipt["transactionHash"]), block_number=int(receipt["blockNumber"]),
        block_hash=Web3.to_hex(receipt["blockHash"]), status=int(receipt["status"]),
        gas_used=int(receipt["gasUsed"]), effective_gas_price_wei=int(receipt.get("effectiveGasPrice", 0) or 0),
    )
    gas_cost = info.gas_used * info.effective_gas_price_wei
    if info.status != 1:
        lane.ledger.transition(record.spec.id, IntentState.FAILED, lease=lane.lease, **fields_of(
            receipt=info, gas_cost_wei=gas_cost), error=f"reverted on chain in block {info.block_number}; gas booked")
        return lane.ledger.intent(record.spec.id)
    fields = fields_of(receipt=info, gas_cost_wei=gas_cost)
    if record.spec.kind is IntentKind.SWAP:
        fields.update(fields_of(fill=hooks.parse_fill(record, receipt)))
    lane.ledger.transition(record.spec.id, IntentState.CONFIRMED, lease=lane.lease, **fields)
    return lane.ledger.intent(record.spec.id)


def skip_intent(ledger: Ledger, record: IntentRecord, reason: str) -> None:
    """Mark a not-yet-signed intent skipped (halted, breaker, chain down), giving back any nonce it held."""
    if record.state is not IntentState.PLANNED:
        return
    ledger.release_nonce(record.spec.id, record.spec.nonce_sequence)
    ledger.transition(record.spec.id, IntentState.SKIPPED, error=reason)


__all__ = [
    "Hooks",
    "Lane",
    "UnderpricedError",
    "approve_tx",
    "bump_fees",
    "crash_point",
    "current_fees",
    "execute_intent",
    "read_allowance",
    "simulate",
    "skip_intent",
    "validate_tx",
]
