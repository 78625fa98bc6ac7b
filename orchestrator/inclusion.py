"""Landing a sent transaction: wait for its receipt, re-broadcast a dropped one, replace an underpriced one, notice
when its nonce was taken by a transaction not in the ledger, and notice a nonce gap in front of it.

A receipt moves the intent to ``included`` (receipt and fill recorded, nothing booked yet); the confirmation stage
books it once it is buried under the chain's confirmation depth (orchestrator.execution.confirm_lane).

Usage::

    record = await_inclusion(lane, record, hooks)     # -> included, or failed when its nonce was taken
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from web3 import Web3

from crosshedge import HaltedError, LedgerError, NotReadyError
from orchestrator.broadcast import broadcast, find_receipt, is_known
from orchestrator.lane import Hooks, Lane, UnderpricedError, crash_point
from orchestrator.ledger import Attempt, IntentKind, IntentRecord, IntentState, ReceiptInfo, fields_of
from orchestrator.safety import check_not_halted
from orchestrator.transactions import bump_fees, next_base_fee, tx_dict

#: How often the chain's nonce is compared with the intent's while waiting (a taken nonce frees the lane quickly).
NONCE_CHECK_S = 1.0


class NonceGapError(NotReadyError):
    """The chain's nonce is stuck below this intent's and the nonces between are nobody's in flight: fill them."""

    def __init__(self, message: str, gap: list[int]) -> None:
        super().__init__(message)
        self.gap = gap


def await_inclusion(lane: Lane, record: IntentRecord, hooks: Hooks) -> IntentRecord:
    """Wait for a receipt of any attempt; re-broadcast if dropped, replace if underpriced; record the outcome.

    Raises NotReadyError after ``receipt_timeout_s`` (the intent stays 'sent'; recovery resumes it) and
    NonceGapError when a gap in front of it has lasted ``nonce_gap_blocks`` block times.
    """
    start = last_unstick = last_nonce_check = lane.clock()
    gap_since: float | None = None
    polls = 0
    while True:
        lane.keep_lease()
        receipt = find_receipt(lane.w3, [a.tx_hash for a in record.attempts])
        if receipt is not None:
            return include(lane, record, receipt, hooks)
        now = lane.clock()
        if now - start > lane.execution.receipt_timeout_s:
            raise NotReadyError(f"intent {record.spec.id}: no receipt on {lane.chain} after "
                                f"{lane.execution.receipt_timeout_s:g}s (stays 'sent'; recovery will resume it)")
        if now - last_nonce_check >= NONCE_CHECK_S:
            last_nonce_check = now
            taken, gap = _nonce_state(lane, record)
            if taken:
                return _nonce_taken(lane, record)
            gap_since = (gap_since or now) if gap else None
            if gap and gap_since is not None and now - gap_since >= _gap_patience_s(lane):
                raise NonceGapError(f"lane {lane.name}: nonces {gap} in front of intent {record.spec.id} are held "
                                    "by no pending transaction", gap)
        if now - last_unstick >= lane.execution.stuck_after_s:
            last_unstick = now
            record = _unstick(lane, record)
        # Poll tightly at first (an automining or fast L2 chain answers within milliseconds: 1 ms for the first four
        # polls), then back off.
        lane.sleep(min(lane.execution.poll_interval_s, 0.001 * 2 ** max(0, min(polls, 16) - 3)))
        polls += 1


def _gap_patience_s(lane: Lane) -> float:
    return max(3.0, lane.execution.nonce_gap_blocks * lane.settings.block_time_s)


def _nonce_state(lane: Lane, record: IntentRecord) -> tuple[bool, list[int]]:
    """(our nonce was used by another transaction, nonces in front of ours that nobody in the ledger holds)."""
    assert record.nonce is not None  # a sent intent has its nonce
    mined = int(lane.w3.eth.get_transaction_count(Web3.to_checksum_address(lane.signer.address), "latest"))
    if mined > record.nonce:
        return find_receipt(lane.w3, [a.tx_hash for a in record.attempts]) is None, []
    holders = lane.ledger.lane_nonces(record.spec.nonce_sequence)
    gap = []
    for nonce in range(mined, record.nonce):
        holder = holders.get(nonce)
        if holder is None or not lane.ledger.intent(holder).in_flight:
            gap.append(nonce)
    return False, gap


def _nonce_taken(lane: Lane, record: IntentRecord) -> IntentRecord:
    lane.ledger.transition(record.spec.id, IntentState.FAILED, lease=lane.lease,
                           error=f"nonce {record.nonce} on {lane.chain} was used by a transaction not in the ledger")
    lane.ledger.add_event(record.spec.run_id, "nonce_taken", f"intent {record.spec.id}: nonce {record.nonce} was "
                          "taken by a transaction not in the ledger; the lane moves on", intent=record.spec.id)
    return lane.ledger.intent(record.spec.id)


def _unstick(lane: Lane, record: IntentRecord) -> IntentRecord:
    lane.keep_lease(force=True)
    if not is_known(lane.w3, [a.tx_hash for a in record.attempts]):
        try:
            broadcast(lane, record, len(record.attempts) - 1)  # dropped from the mempool: the same bytes again
        except UnderpricedError:
            return _replace(lane, record, force=True)  # evicted because the base fee overtook it
        except HaltedError as exc:
            lane.ledger.add_event(record.spec.run_id, "halted", f"intent {record.spec.id}: not re-broadcast: {exc}",
                                  intent=record.spec.id)
            return record
        lane.ledger.add_event(record.spec.run_id, "rebroadcast", f"intent {record.spec.id}: re-broadcast after drop",
                              intent=record.spec.id)
        return record
    return _replace(lane, record)


def reprice(lane: Lane, record: IntentRecord) -> IntentRecord:
    """A sent intent whose stored transaction the node refused as underpriced (the base fee rose after it was
    signed): re-signed at the same nonce with bumped fees at once, not after ``stuck_after_s``; when the
    replacement is refused too, the regular unstick in :func:`await_inclusion` takes it from there."""
    try:
        return _replace(lane, record, force=True)
    except UnderpricedError:
        return lane.ledger.intent(record.spec.id)


def _replace(lane: Lane, record: IntentRecord, force: bool = False) -> IntentRecord:
    """A pending transaction the next base fee has overtaken: re-sign the same nonce with bumped fees."""
    last = record.attempts[-1]
    next_base = next_base_fee(lane.w3)
    if not force and next_base <= last.max_fee_per_gas - last.max_priority_fee_per_gas:
        return record  # still competitive; just not mined yet
    cap = int(lane.settings.gas.max_gas_price_gwei * 1e9)
    fees = bump_fees(last.max_fee_per_gas, last.max_priority_fee_per_gas, next_base, lane.execution.fee_bump_pct,
                     lane.execution.base_fee_multiplier, cap)
    if fees is None:
        lane.ledger.add_event(record.spec.run_id, "gas_cap", f"intent {record.spec.id}: replacement would exceed "
                              f"the {lane.chain} gas cap; waiting", intent=record.spec.id)
        return record
    try:
        check_not_halted(lane.ledger, lane.name)
    except HaltedError:
        return record  # halted: no new signature; the pending one may still land
    assert record.tx is not None  # a sent intent has its transaction body
    signed = lane.signer.sign(tx_dict(record.tx, fees[0], fees[1]))
    attempt = Attempt(tx_hash=signed.tx_hash, max_fee_per_gas=fees[0], max_priority_fee_per_gas=fees[1],
                      signed_at=lane.clock())
    lane.ledger.add_attempt(record.spec.id, len(record.attempts), lane.signer.seal(signed.raw_hex), attempt,
                            lease=lane.lease)
    record = lane.ledger.intent(record.spec.id)
    try:
        broadcast(lane, record, len(record.attempts) - 1)
    except HaltedError:
        return record  # signed and stored, not sent: recovery sends it once resumed
    lane.ledger.add_event(record.spec.run_id, "replaced", f"intent {record.spec.id}: replaced at nonce {record.nonce} "
                          f"with max fee {fees[0]} wei, tip {fees[1]} wei", intent=record.spec.id)
    return record


def include(lane: Lane, record: IntentRecord, receipt: Mapping[str, Any], hooks: Hooks) -> IntentRecord:
    """Record a mined receipt (and a swap's fill) on the intent: 'included', booked only at confirmation depth."""
    info = ReceiptInfo(
        tx_hash=Web3.to_hex(receipt["transactionHash"]), block_number=int(receipt["blockNumber"]),
        block_hash=Web3.to_hex(receipt["blockHash"]), status=int(receipt["status"]),
        gas_used=int(receipt["gasUsed"]), effective_gas_price_wei=int(receipt.get("effectiveGasPrice", 0) or 0),
    )
    fields = fields_of(receipt=info, gas_cost_wei=info.gas_used * info.effective_gas_price_wei)
    if info.status == 1 and record.spec.kind is IntentKind.SWAP:
        fields.update(fields_of(fill=hooks.parse_fill(record, receipt)))
    if info.status == 1 and record.spec.kind is IntentKind.DEPOSIT:
        if hooks.parse_deposit is None:
            raise LedgerError(f"intent {record.spec.id}: a deposit, and the run has no transfer adapter hooks")
        fields.update(fields_of(deposit=hooks.parse_deposit(record, receipt)))
    if info.status == 1 and record.spec.kind is IntentKind.PERP_ORDER:
        if hooks.parse_perp_fills is None:
            raise LedgerError(f"intent {record.spec.id}: a perp order, and the run has no perp hooks")
        fills = hooks.parse_perp_fills(record, receipt)
        fields["perp_fills"] = json.dumps([f.model_dump(mode="json") for f in fills])
    crash_point("before_book")
    return lane.ledger.advance(record.spec.id, IntentState.INCLUDED, lease=lane.lease, **fields)


__all__ = ["NonceGapError", "await_inclusion", "include", "reprice"]
