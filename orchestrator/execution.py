"""The middle stages of a run, per (chain, wallet) lane: execute the lane's intents, then confirm them at depth.

    execute_lane (under the lane's fenced lease) -> confirm_lane (books fills at depth; survives reorgs)
                 -> (every lane confirmed) reconcile

When every included intent of a lane is already at depth as execute_lane finishes (a one-block depth), it books
them itself with the same checks, and the confirm stage has nothing left to do (:func:`lane_confirmed`).

Every swap's limits are recomputed at signing time from a fresh read of its venue and the exact quote
(orchestrator.terms); a plan older than ``execution.max_plan_age_s`` is not executed. An approval whose swap was
then skipped or failed is revoked. A fill is booked only once its receipt is buried under the chain's
confirmation depth and its block is still canonical; a transaction reorganised out is re-broadcast (its signed
bytes are still valid) once, and a second reorg of the same intent halts the lane.

Usage::

    for lane in plan_run(ctx, run_id):
        execute_lane(ctx, run_id, lane, delivery="manual")
        if not lane_confirmed(ctx, run_id, lane):
            confirm_lane(ctx, run_id, lane)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters import checksum_address
from crosshedge import (
    CircuitBreakerError,
    HaltedError,
    LedgerError,
    NotReadyError,
    StaleDataError,
    UnsafeTransactionError,
)
from orchestrator.broadcast import Landing, read_landing
from orchestrator.context import RunContext
from orchestrator.lane import Hooks, Lane
from orchestrator.ledger import TERMINAL_RUN_STATES, Intent, IntentKind, IntentRecord, IntentState, Lease
from orchestrator.metrics import record_transfer
from orchestrator.runs import skip_planned
from orchestrator.sender import execute_intent, skip_intent
from orchestrator.snapshot import Snapshot
from orchestrator.terms import hooks_for, run_snapshot
from orchestrator.transfers import deposit_record, route_of

#: Intent states after which an intent needs nothing more from the executor.
_DONE = frozenset({IntentState.INCLUDED, IntentState.CONFIRMED, IntentState.FAILED, IntentState.SKIPPED,
                   IntentState.RECONCILED})
#: Intents an approval in front of them funds (the next of the lane); and the intents whose failure stops the next
#: one (an approval its swap or deposit, a perp margin deposit its order: "failed_approvals" below).
_FUNDED = frozenset({IntentKind.SWAP, IntentKind.PERP_DEPOSIT})
_GATES = frozenset({IntentKind.APPROVE, IntentKind.PERP_DEPOSIT})


@contextmanager
def lane_lease(ctx: RunContext, lane: str, owner: str) -> Iterator[Lease]:
    """Hold the lane's fenced lease for the block (NotReadyError when another executor holds it)."""
    lease = ctx.ledger.acquire(f"lane:{lane}", owner, ctx.execution.lane_lock_ttl_s)
    if lease is None:
        raise NotReadyError(f"lane {lane}: held by {ctx.ledger.lease_owner('lane:' + lane)}; will retry")
    try:
        yield lease
    finally:
        ctx.ledger.release(f"lane:{lane}", owner)


def execute_lane(ctx: RunContext, run_id: str, lane: str, delivery: str = "") -> list[IntentRecord]:
    """Execute the lane's intents in order, each to included/failed (or skipped when stopped before signing).

    Then, still under the lease, the lane is confirmed at once when every included intent is already at the
    chain's confirmation depth (:func:`lane_confirmed` says so; otherwise the separate confirm stage waits for it).
    Retryable errors (RpcError, NotReadyError) propagate so the task retries; the ledger keeps every intent's
    state, so the retry resumes exactly where this attempt stopped.
    """
    chain = lane.split(".", 1)[0]
    # The owner is the delivery (Celery task id): a redelivery of the same message re-enters, a duplicate waits.
    with lane_lease(ctx, lane, f"{run_id}/{lane}/{delivery}") as lease:
        records = ctx.ledger.intents(run_id, lane)
        snap = run_snapshot(ctx, run_id)
        run = ctx.ledger.run(run_id)
        the_lane: Lane | None = None
        executed: list[IntentRecord] | None = None  # the lane's intents as execution left them, when known
        if run.state in TERMINAL_RUN_STATES:  # ended (cancelled, failed) before this lane started: sign nothing
            skip_planned(ctx, records, run.error or f"run {run_id} ended as {run.state.value}")
        elif any(r.state is IntentState.PLANNED for r in records) and chain in snap.failed:
            skip_planned(ctx, records, f"chain {chain} was down at the snapshot")
        else:
            the_lane = ctx.lane(chain, _verified_at(ctx, snap, chain)).with_lease(lease)
            check_books_against_chain(the_lane, records)
            hooks = hooks_for(ctx, run_id, chain, snap, known=records)
            _execute_records(ctx, run_id, the_lane, hooks, records)
            executed = ctx.ledger.intents(run_id, lane)
            revokes = _revokes_needed(executed)
            if revokes:
                ctx.ledger.add_intents(run_id, revokes)
                _execute_records(ctx, run_id, the_lane, hooks, [ctx.ledger.intent(r.id) for r in revokes])
                executed = None  # more intents now: read again
        ctx.ledger.mark_done(run_id, "execute", lane)
        return _confirm_at_once(ctx, run_id, lane, the_lane, executed)


def _confirm_at_once(ctx: RunContext, run_id: str, name: str, lane: Lane | None,
                     records: list[IntentRecord] | None) -> list[IntentRecord]:
    """The lane's intents (``records`` when just read) after marking it confirmed here when nothing is left to wait
    for (no hop to the confirm stage); a reorg, a lost receipt or a depth not reached yet leave it to that stage,
    which waits and re-drives."""
    records = records if records is not None else ctx.ledger.intents(run_id, name)
    if lane is None:  # nothing was executed: confirmed unless something signed earlier is still in flight
        waiting = [r.spec.id for r in records if r.in_flight]
    else:
        waiting, records = _confirm_pass(ctx, lane, records, hooks=None)
    if not waiting:
        ctx.ledger.mark_done(run_id, "confirm", name)
    return records


def lane_confirmed(ctx: RunContext, run_id: str, lane: str) -> bool:
    """True when the lane's confirm stage is done (execute_lane may have done it at once)."""
    return lane in ctx.ledger.done(run_id, "confirm")


def _verified_at(ctx: RunContext, snap: Snapshot, chain: str) -> int | None:
    """The block a lane's allowlist is verified at: the run's snapshot block (its contracts were verified there: no
    read, no second judgement) while the snapshot is no older than a plan may be; else (None) the head."""
    read = snap.chains.get(chain)
    if read is None or ctx.clock() - snap.taken_at > ctx.execution.max_plan_age_s:
        return None
    return read.block_number


def check_books_against_chain(lane: Lane, records: list[IntentRecord]) -> None:
    """Halt the lane when the chain has fewer transactions from this account than the ledger has booked.

    A booked intent whose transaction the chain no longer has (a reorganisation deeper than the confirmation depth)
    means the ledger's balances are fiction: nothing more is signed on the lane until an operator looks.
    """
    sequences = {r.spec.nonce_sequence for r in records}
    if not sequences:
        return
    sent = int(lane.w3.eth.get_transaction_count(checksum_address(lane.signer.address), "latest"))
    for sequence in sequences:
        booked = _highest_booked_nonce(lane, sequence)
        if booked is not None and sent <= booked:
            why = (f"the ledger booked nonce {booked} on {lane.chain}, but the chain has only {sent} "
                   "transactions from this account (a booked transaction left the chain)")
            lane.ledger.halt_lane(lane.name, why)
            raise HaltedError(f"lane {lane.name} halted: {why}")


def _highest_booked_nonce(lane: Lane, sequence: str, look_back: int = 16) -> int | None:
    """The highest nonce of ``sequence`` whose intent is booked, looking at its most recent nonces only."""
    nonces = lane.ledger.lane_nonces(sequence)
    for nonce in sorted(nonces, reverse=True)[:look_back]:
        if lane.ledger.intent(nonces[nonce]).state in (IntentState.CONFIRMED, IntentState.RECONCILED):
            return nonce
    return None


def _execute_records(ctx: RunContext, run_id: str, lane: Lane, hooks: Hooks, records: list[IntentRecord]) -> None:
    failed_approvals: set[int] = set()
    for i, record in enumerate(records):
        if record.state in _DONE:
            if record.spec.kind in _GATES and not _approval_landed(record):
                failed_approvals.add(record.spec.seq + 1)
            continue
        if record.spec.kind in _FUNDED and record.spec.seq in failed_approvals:
            skip_intent(ctx.ledger, record, "its approval failed")
            if record.spec.kind is IntentKind.PERP_DEPOSIT:
                failed_approvals.add(record.spec.seq + 1)  # its order would run without its margin
            continue
        if record.spec.kind is IntentKind.PERP_ORDER and record.spec.seq in failed_approvals:
            skip_intent(ctx.ledger, record, "its margin deposit did not land")
            continue
        try:
            done = execute_intent(lane, record.spec.id, hooks)
        except StaleDataError as exc:  # the plan is too old: nothing more of it is signed; the run is re-planned
            ctx.ledger.add_event(run_id, "stale_plan", str(exc), intent=record.spec.id)
            skip_planned(ctx, records[i:], str(exc))
            return
        except (HaltedError, CircuitBreakerError) as exc:
            ctx.ledger.mark_run(run_id, halted=str(exc))
            ctx.ledger.add_event(run_id, "halted", str(exc), intent=record.spec.id)
            skip_planned(ctx, records[i:], str(exc))
            for left in (r.spec for r in records[i:] if r.spec.kind is IntentKind.REVOKE):
                ctx.ledger.add_event(run_id, "allowance_left", f"{left.chain}: the approval of {left.spender} for "
                                     f"{left.token_in} could not be revoked ({exc}); the next trade on that venue "
                                     "overwrites it", intent=left.id)
            return
        except UnsafeTransactionError as exc:
            ctx.ledger.add_event(run_id, "refused", str(exc), intent=record.spec.id)
            done = ctx.ledger.intent(record.spec.id)
        if done.spec.kind in _GATES and not _approval_landed(done) and done.state in _DONE:
            failed_approvals.add(done.spec.seq + 1)


def _approval_landed(record: IntentRecord) -> bool:
    return record.receipt is not None and record.receipt.status == 1


def _revokes_needed(records: list[IntentRecord]) -> list[Intent]:
    """Revocations for approvals of the lane's ``records`` that landed while their swap did not: no allowance is
    left behind."""
    ids = {r.spec.id for r in records}
    swaps = {r.spec.seq: r for r in records if r.spec.kind in _FUNDED}
    out = []
    for r in records:
        if r.spec.kind is not IntentKind.APPROVE or not _approval_landed(r):
            continue
        swap = swaps.get(r.spec.seq + 1)  # an approval's swap is the next intent of its lane
        revoke_id = f"{r.spec.id}.revoke"
        swap_done = swap is not None and swap.state in (IntentState.SKIPPED, IntentState.FAILED)
        if swap_done and revoke_id not in ids:
            out.append(r.spec.model_copy(update={"id": revoke_id, "kind": IntentKind.REVOKE,
                                                 "seq": 20_000 + r.spec.seq, "amount_in_raw": 0,
                                                 "notional_usd": 0.0}))
    return out


def confirm_lane(ctx: RunContext, run_id: str, lane: str, delivery: str = "") -> bool:
    """Book every included intent of the lane once it is at the chain's confirmation depth, still canonical.

    Returns True when the lane is confirmed; raises NotReadyError (retry later) while blocks are still due. Every
    included intent is checked against the canonical chain on each pass (not only the first one still waiting for
    depth): one whose transaction left the chain is un-booked and re-driven (its signed bytes re-broadcast).
    """
    chain = lane.split(".", 1)[0]
    with lane_lease(ctx, lane, f"{run_id}/{lane}/confirm/{delivery}") as lease:
        snap = run_snapshot(ctx, run_id)
        the_lane = ctx.lane(chain, _verified_at(ctx, snap, chain)).with_lease(lease)
        records = ctx.ledger.intents(run_id, lane)
        waiting, _ = _confirm_pass(ctx, the_lane, records, hooks_for(ctx, run_id, chain, snap, known=records))
        if waiting:
            more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
            raise NotReadyError(f"lane {lane}: {waiting[0]}{more}")
        ctx.ledger.mark_done(run_id, "confirm", lane)
        return True


def _confirm_pass(ctx: RunContext, lane: Lane, records: list[IntentRecord],
                  hooks: Hooks | None) -> tuple[list[str], list[IntentRecord]]:
    """One confirmation pass over the lane's intents (their chain state read in ONE round trip): book those at
    depth and canonical, un-book those that left the chain; with ``hooks``, re-drive what is in flight but not
    included. Returns (what is still waiting: empty when the lane is confirmed, the intents as the pass left them)."""
    waiting: list[str] = []
    after: list[IntentRecord] = []
    receipts = {r.spec.id: r.receipt for r in records if r.state is IntentState.INCLUDED and r.receipt is not None}
    landing = read_landing(lane.w3, lane.chain, list(receipts.values())) if receipts else None
    for listed in records:
        record = listed
        if landing is not None and listed.spec.id in receipts:
            record = _confirm_one(ctx, lane, listed, waiting, landing)
        if record.spec.kind is IntentKind.DEPOSIT and record.state is IntentState.CONFIRMED:
            book_transfer(ctx, record)  # idempotent: a crash after confirming and before this books it next pass
        if record.in_flight and record.state is not IntentState.INCLUDED:
            if hooks is not None:
                record = execute_intent(lane, record.spec.id, hooks)  # a reorged or resumed one: land it again
            waiting.append(f"intent {record.spec.id} is being landed again")
        after.append(record)
    return waiting, after


def _confirm_one(ctx: RunContext, lane: Lane, record: IntentRecord, waiting: list[str],
                 landing: Landing) -> IntentRecord:
    """Book ``record`` if it is deep enough and canonical; un-book it if it left the chain; else note it waits."""
    receipt = record.receipt
    assert receipt is not None  # included intents carry their receipt
    ours = receipt.block_hash.lower()
    still = landing.receipt_block.get(receipt.tx_hash.lower())
    if still != ours or landing.canonical.get(receipt.block_number) != ours:
        return _reorged(ctx, lane, record)
    need = ctx.config.chains[lane.chain].confirmations
    depth = landing.head - receipt.block_number + 1
    if depth < need:
        waiting.append(f"intent {record.spec.id} has {depth}/{need} confirmations")
        return record
    if receipt.status == 1:
        return ctx.ledger.advance(record.spec.id, IntentState.CONFIRMED, lease=lane.lease, confirmed_depth="1")
    return ctx.ledger.advance(record.spec.id, IntentState.FAILED, lease=lane.lease, confirmed_depth="1",
                              error=f"reverted on chain in block {receipt.block_number}; gas booked")


def book_transfer(ctx: RunContext, record: IntentRecord) -> None:
    """Open the transfer of a confirmed deposit in the ledger (once; a second call finds it there). Its fill is
    searched from the destination's block in the run's snapshot: the deposit came after it, and so does any fill."""
    spec, deposit = record.spec, record.deposit
    if deposit is None or spec.destination is None or spec.adapter is None or spec.route is None:
        raise LedgerError(f"intent {spec.id}: a confirmed deposit without its decoded event or destination")
    snap = run_snapshot(ctx, spec.run_id)
    dest = snap.chains.get(spec.destination)
    route = route_of(ctx.config, ctx.registry, spec.adapter, spec.chain, spec.destination,
                     spec.route.rsplit("/", 1)[-1])
    if ctx.ledger.add_transfer(deposit_record(spec.run_id, spec.id, route, deposit,
                                              dest.block_number if dest is not None else 0)):
        record_transfer(route.key, "deposited")
        ctx.ledger.add_event(spec.run_id, "transfer", f"transfer {route.key}: deposit {deposit.deposit_id} of "
                             f"{deposit.input_amount} raw booked; {deposit.output_amount} raw arriving on "
                             f"{spec.destination}", chain=spec.chain, intent=spec.id)


def _reorged(ctx: RunContext, lane: Lane, record: IntentRecord) -> IntentRecord:
    receipt = record.receipt
    assert receipt is not None  # included intents carry their receipt
    why = (f"intent {record.spec.id}: its transaction {receipt.tx_hash[:12]} left the canonical chain "
           f"(block {receipt.block_number} was reorganised)")
    if record.reorgs >= 1:
        ctx.ledger.halt_lane(lane.name, f"{why} a second time; the lane stops until an operator checks it")
        ctx.ledger.add_event(record.spec.run_id, "reorg", why + " again; lane halted", intent=record.spec.id)
        raise HaltedError(f"lane {lane.name} halted: {why} a second time")
    ctx.ledger.revert_inclusion(record.spec.id, why, lease=lane.lease)
    ctx.ledger.add_event(record.spec.run_id, "reorg", why + "; un-booked and re-broadcast", intent=record.spec.id)
    return ctx.ledger.intent(record.spec.id)


def lanes_finished(ctx: RunContext, run_id: str, stage: str) -> bool:
    return set(ctx.ledger.lanes(run_id)) <= ctx.ledger.done(run_id, stage)


__all__ = ["confirm_lane", "execute_lane", "lane_confirmed", "lane_lease", "lanes_finished"]
