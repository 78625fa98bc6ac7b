"""Sign, send and land one trade intent exactly once: fresh terms, checks, simulation, write-ahead, inclusion.

The order for an intent in ``planned``: kill switch -> the swap's terms from a fresh read (breakers, plan age,
caps and minimum out recomputed from the exact quote; for an approval, of the swap it is for) -> build (for a
Permit2 venue: the permit checked, its nonce read, signed by the lane; orchestrator.permits) -> refuse
anything unsafe (chain id, allowlist, amounts, deadline) -> ``eth_call`` simulation -> nonce from the ledger ->
kill switch again -> sign -> store the signed bytes and hash in the ledger (write-ahead) -> broadcast (kill switch
checked once more) -> ``sent`` -> wait for inclusion (orchestrator.inclusion) -> ``included``. A nonce gap in front
of the intent (a transaction of this key that left the mempool) is filled with a zero-value self-transfer.

The chain reads before the signature share round trips (orchestrator.presign): the head, the next base fee, the
nonce floor, the venue's fresh state and (for an approval) the simulation go in ONE JSON-RPC batch; a swap's
simulation, which needs the calldata built from the fresh quote, is a second one. Each check still runs on the
same facts, in the order above. A first broadcast refused as underpriced (the base fee rose after signing) is
replaced at the same nonce at once.

A redelivered intent picks up where the ledger says it is: ``signed`` re-broadcasts the stored bytes, ``sent``
waits for any of its attempts, ``included`` is the confirmation stage's.

Usage::

    record = execute_intent(lane, intent_id, hooks)   # -> IntentRecord included (or failed / skipped)
"""

from __future__ import annotations

from web3 import Web3

from adapters import RpcBatch, TxRequest, checksum_address
from crosshedge import HaltedError, UnsafeTransactionError
from orchestrator.broadcast import broadcast
from orchestrator.inclusion import NonceGapError, await_inclusion, reprice
from orchestrator.lane import Hooks, Lane, SwapTerms, UnderpricedError, crash_point
from orchestrator.ledger import Attempt, Intent, IntentKind, IntentRecord, IntentState, Ledger, TxFields
from orchestrator.permits import build_swap_with_permit
from orchestrator.presign import PresignReads, add_simulation, simulation_gas
from orchestrator.safety import check_not_halted
from orchestrator.transactions import (
    APPROVALS,
    SELF_TRANSFER_GAS,
    approve_tx,
    current_fees,
    fees_for,
    self_transfer_tx,
    tx_dict,
    validate_tx,
)

#: Nonce gaps filled while one intent waits, at most (then it waits for recovery like any stuck intent).
MAX_GAP_FILLS = 3
#: Kinds whose terms (a fresh quote, the caps) are computed before signing: a swap, a deposit, and the approval
#: in front of either (nothing is approved for a transaction that would be refused).
_TERMS_FIRST = frozenset({IntentKind.SWAP, IntentKind.DEPOSIT, IntentKind.APPROVE, IntentKind.PERP_DEPOSIT,
                          IntentKind.PERP_ORDER})
#: Kinds whose call carries a deadline (the router's, the ClearingHouse's).
_DEADLINED = frozenset({IntentKind.SWAP, IntentKind.PERP_ORDER})
#: Kinds whose notional the rolling day cap books once signed (a perp margin deposit moves the wallet's own funds).
_NOTIONAL = frozenset({IntentKind.SWAP, IntentKind.DEPOSIT, IntentKind.PERP_ORDER})


def execute_intent(lane: Lane, intent_id: str, hooks: Hooks) -> IntentRecord:
    """Drive one intent to ``included`` (or ``failed``) from whatever state the ledger holds.

    Raises HaltedError / CircuitBreakerError / StaleDataError (nothing signed; the caller skips the intent),
    UnsafeTransactionError (refused; recorded as failed here), NotReadyError / RpcError (retryable; the intent
    keeps its state).
    """
    record = lane.ledger.intent(intent_id)
    if record.state is IntentState.PLANNED:
        record = _sign_first(lane, record, hooks)
    if record.state is IntentState.SIGNED:
        try:
            broadcast(lane, record, len(record.attempts) - 1)
            underpriced = False
        except UnderpricedError:  # signed before a base-fee rise: replaced at the same nonce below
            underpriced = True
        crash_point("after_broadcast")
        record = lane.ledger.advance(intent_id, IntentState.SENT, lease=lane.lease)
        if underpriced:
            record = reprice(lane, record)
    fills = 0
    while record.state is IntentState.SENT:
        try:
            record = await_inclusion(lane, record, hooks)
        except NonceGapError as gap:
            if fills >= MAX_GAP_FILLS:
                raise
            fills += 1
            for nonce in gap.gap:
                fill_nonce_gap(lane, record.spec, nonce, hooks)
            record = lane.ledger.intent(intent_id)
    return record


def _sign_first(lane: Lane, record: IntentRecord, hooks: Hooks) -> IntentRecord:
    spec = record.spec
    where = f"intent {spec.id} ({spec.kind} on {spec.chain})"
    check_not_halted(lane.ledger, lane.name)
    # One round trip for the head, the next base fee, the nonce floor, the venue's fresh state and (when the
    # transaction does not depend on the terms) the simulation; each check below still reads what it read before.
    reads = PresignReads(lane.w3, lane.chain, lane.signer.address)
    early = _known_tx(lane, record)
    if early is not None and lane.execution.simulate:
        reads.simulate_early(lane.signer.address, early)
    try:
        terms = _terms(record, hooks, reads) if spec.kind in _TERMS_FIRST else None
    except UnsafeTransactionError as exc:  # refused at its terms (a perp close with nothing left to close)
        lane.ledger.transition(spec.id, IntentState.FAILED, lease=lane.lease, error=str(exc))
        raise
    reads.batch.send()
    # The router checks the deadline against the chain's clock: never let a lagging host clock shorten it.
    now = max(lane.clock(), float(reads.head_timestamp()))
    deadline = int(now) + lane.execution.deadline_s if spec.kind in _DEADLINED else None
    # A deposit's quote time is the chain's own clock (the SpokePool refuses one from its future).
    quote_timestamp = int(reads.head_timestamp())
    notional = terms.notional_usd if terms is not None else None
    limits = (lane.settings.chain_id, lane.allowlist, now, deadline, lane.execution.max_trade_usd, notional)
    try:
        validate_tx(record, None, *limits)
        tx = _build(lane, record, hooks, terms, deadline, quote_timestamp)
        validate_tx(record, tx, *limits)
        gas = _gas(lane, record, tx, where, reads)
    except UnsafeTransactionError as exc:
        lane.ledger.transition(spec.id, IntentState.FAILED, lease=lane.lease, error=str(exc))
        raise
    max_fee, tip, _ = fees_for(reads.next_base_fee(), lane.chain, lane.settings, lane.execution)
    # Reads took time: the lease is renewed with the allocation, to outlive the signature and its write-ahead.
    nonce = lane.allocate_nonce(spec.id, spec.nonce_sequence, reads.pending_nonce())
    fields = TxFields(chain_id=tx.chain_id, nonce=nonce, to=checksum_address(tx.to), data=tx.data,
                      value=tx.value, gas=gas, deadline=deadline)
    crash_point("before_sign")
    try:
        check_not_halted(lane.ledger, lane.name)  # immediately before the signature: fail closed
    except HaltedError:
        lane.ledger.release_nonce(spec.id, spec.nonce_sequence)
        raise
    _sign_and_store(lane, spec, fields, max_fee, tip, now, notional)
    crash_point("after_sign")
    crash_point(f"after_sign.{spec.kind.value}")  # the same point, for one kind of intent only (a deposit)
    return lane.ledger.intent(spec.id)


def _terms(record: IntentRecord, hooks: Hooks, reads: PresignReads) -> SwapTerms:
    """The swap's terms from a fresh read; that read rides in the pre-signing batch when the hooks allow it."""
    if hooks.prepare_swap_in is not None:
        return hooks.prepare_swap_in(record, reads.batch)
    return hooks.prepare_swap(record)


def _known_tx(lane: Lane, record: IntentRecord) -> TxRequest | None:
    """The transaction of an approval or revocation, known before its terms (None for swaps, whose calldata needs
    the fresh quote, and for anything _build would refuse: validation decides about those first)."""
    spec = record.spec
    if spec.kind not in APPROVALS or spec.spender is None or not Web3.is_address(spec.spender):
        return None
    if not Web3.is_address(spec.token_in) or not 0 <= spec.amount_in_raw < 2**256:
        return None
    return approve_tx(lane.settings.chain_id, spec.token_in, spec.spender,
                      spec.amount_in_raw if spec.kind is IntentKind.APPROVE else 0)


def _build(lane: Lane, record: IntentRecord, hooks: Hooks, terms: SwapTerms | None,
           deadline: int | None, quote_timestamp: int) -> TxRequest:
    spec = record.spec
    if spec.kind is IntentKind.APPROVE:
        return approve_tx(lane.settings.chain_id, spec.token_in, spec.spender or "", spec.amount_in_raw)
    if spec.kind is IntentKind.REVOKE:
        return approve_tx(lane.settings.chain_id, spec.token_in, spec.spender or "", 0)
    if spec.kind is IntentKind.NONCE_FILL:
        return self_transfer_tx(lane.settings.chain_id, spec.sender)
    if spec.kind is IntentKind.DEPOSIT:
        if hooks.build_deposit is None:
            raise UnsafeTransactionError(f"intent {spec.id}: a deposit, and the run has no transfer adapter hooks")
        return hooks.build_deposit(record, quote_timestamp)
    if spec.kind is IntentKind.PERP_DEPOSIT:
        if hooks.build_perp_deposit is None:
            raise UnsafeTransactionError(f"intent {spec.id}: a perp deposit, and the run has no perp hooks")
        return hooks.build_perp_deposit(record)
    if spec.kind is IntentKind.PERP_ORDER:
        if hooks.build_perp_order is None or terms is None or deadline is None:
            raise UnsafeTransactionError(f"intent {spec.id}: a perp order, and the run has no perp hooks")
        return hooks.build_perp_order(record, terms, deadline)
    assert terms is not None and deadline is not None  # a swap always has both (see _sign_first)
    return build_swap_with_permit(lane, record, hooks, terms, deadline)  # the permit first where the venue needs one


def _gas(lane: Lane, record: IntentRecord, tx: TxRequest, where: str, reads: PresignReads) -> int:
    if record.spec.kind is IntentKind.NONCE_FILL:
        return SELF_TRANSFER_GAS
    if not lane.execution.simulate:
        return 500_000
    early = reads.simulated_gas(lane.signer.address, tx, where)
    if early is not None:
        return early
    batch = RpcBatch(lane.w3, lane.chain)  # eth_call and eth_estimateGas in one round trip
    call, estimate = add_simulation(batch, lane.signer.address, tx)
    batch.send()
    return simulation_gas(batch, call, estimate, where)


def _sign_and_store(lane: Lane, spec: Intent, fields: TxFields, max_fee: int, tip: int, now: float,
                    notional: float | None) -> None:
    signed = lane.signer.sign(tx_dict(fields, max_fee, tip))
    attempt = Attempt(tx_hash=signed.tx_hash, max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip, signed_at=now)
    # False: another delivery won the write-ahead; its bytes are the ones broadcast.
    stored = lane.ledger.record_signed(spec.id, lane.signer.seal(signed.raw_hex), attempt, fields, lease=lane.lease)
    if stored and spec.kind in _NOTIONAL and notional is not None:
        lane.ledger.add_notional(spec.id, notional)  # the rolling day cap counts what was signed, at its value


def fill_nonce_gap(lane: Lane, blocked: Intent, nonce: int, hooks: Hooks) -> IntentRecord:
    """Fill ``nonce`` (a gap in front of ``blocked``) with a zero-value self-transfer, recorded like any intent."""
    filler = Intent(id=f"{blocked.run_id}.{blocked.lane}.gap{nonce}", run_id=blocked.run_id, seq=10_000 + nonce,
                    kind=IntentKind.NONCE_FILL, chain=blocked.chain, wallet=blocked.wallet, sender=blocked.sender,
                    target=blocked.sender, token_in=blocked.sender, amount_in_raw=0)
    lane.ledger.add_intents(blocked.run_id, [filler])
    record = lane.ledger.intent(filler.id)
    if record.state is IntentState.PLANNED:
        check_not_halted(lane.ledger, lane.name)
        lane.ledger.assign_nonce(filler.id, filler.nonce_sequence, nonce, lease=lane.lease)
        max_fee, tip, _ = current_fees(lane.w3, lane.chain, lane.settings, lane.execution)
        fields = TxFields(chain_id=lane.settings.chain_id, nonce=nonce, to=Web3.to_checksum_address(filler.sender),
                          data="0x", value=0, gas=SELF_TRANSFER_GAS)
        _sign_and_store(lane, filler, fields, max_fee, tip, lane.clock(), None)
        lane.ledger.add_event(blocked.run_id, "nonce_gap", f"lane {lane.name}: nonce {nonce} in front of intent "
                              f"{blocked.id} was held by no pending transaction; filled with a self-transfer",
                              intent=filler.id)
    return execute_intent(lane, filler.id, hooks)


def skip_intent(ledger: Ledger, record: IntentRecord, reason: str) -> None:
    """Mark a not-yet-signed intent skipped (halted, breaker, chain down), giving back any nonce it held."""
    if record.state is not IntentState.PLANNED:
        return
    ledger.release_nonce(record.spec.id, record.spec.nonce_sequence)
    ledger.transition(record.spec.id, IntentState.SKIPPED, error=reason)


__all__ = ["MAX_GAP_FILLS", "execute_intent", "fill_nonce_gap", "skip_intent"]
