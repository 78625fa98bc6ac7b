"""The middle stages of a run, per (chain, wallet) lane: execute the lane's intents, then confirm them at depth.

    execute_lane (under the lane's fenced lease) -> confirm_lane -> (every lane confirmed) reconcile

Usage::

    for lane in plan_run(ctx, run_id):
        execute_lane(ctx, run_id, lane, delivery="manual")
        confirm_lane(ctx, run_id, lane)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web3 import Web3

from adapters import Fill, TxRequest, VenueState
from crosshedge import CircuitBreakerError, HaltedError, LedgerError, NotReadyError, UnsafeTransactionError
from orchestrator.context import RunContext
from orchestrator.ledger import IntentKind, IntentRecord, IntentState
from orchestrator.runs import skip_planned
from orchestrator.safety import check_price_move
from orchestrator.sender import Hooks, Lane, execute_intent, skip_intent
from orchestrator.snapshot import Snapshot


def run_snapshot(ctx: RunContext, run_id: str) -> Snapshot:
    snap = ctx.ledger.blob(run_id, "snapshot", Snapshot)
    if snap is None:
        raise LedgerError(f"run {run_id}: the ledger holds no snapshot")
    return snap


def venue_state(snap: Snapshot, run_id: str, chain: str, venue: str) -> VenueState:
    """The venue as the run's snapshot saw it."""
    if chain in snap.chains:
        for v in snap.chains[chain].venues:
            if v.venue == venue:
                return v
    raise LedgerError(f"run {run_id}: no snapshot of venue {venue} on chain {chain}")


def hooks_for(ctx: RunContext, run_id: str, chain: str) -> Hooks:
    """The venue-side callbacks the sender needs, bound to this run's snapshot."""
    snap = run_snapshot(ctx, run_id)

    def state_of(record: IntentRecord) -> tuple[VenueState, str]:
        spec = record.spec
        if spec.venue is None or spec.adapter is None:
            raise LedgerError(f"intent {spec.id}: a {spec.kind} intent names no venue")
        return venue_state(snap, run_id, chain, spec.venue), spec.adapter

    def build_swap(record: IntentRecord, deadline: int) -> TxRequest:
        spec = record.spec
        state, adapter = state_of(record)
        if spec.side is None:
            raise LedgerError(f"intent {spec.id}: a swap intent names no side")
        return ctx.registry.venue(adapter).build_swap(
            state, spec.side, spec.amount_in_raw, spec.min_amount_out_raw, spec.sender, deadline)

    def pre_sign(record: IntentRecord) -> None:
        if record.spec.kind is not IntentKind.SWAP:
            return
        then, adapter = state_of(record)
        entry = ctx.config.venue(chain, then.venue)
        w3 = ctx.w3(chain)
        now_state = ctx.registry.venue(adapter).read(ctx.chain_context(chain), [entry], int(w3.eth.block_number))[0]
        check_price_move(f"{chain}/{then.venue}", then.mid_price, now_state.mid_price,
                         ctx.execution.max_price_move_bps)

    def parse_fill(record: IntentRecord, receipt: Mapping[str, Any]) -> Fill:
        state, adapter = state_of(record)
        return ctx.registry.venue(adapter).parse_receipt(state, receipt)

    return Hooks(build_swap=build_swap, pre_sign=pre_sign, parse_fill=parse_fill)


def execute_lane(ctx: RunContext, run_id: str, lane: str, delivery: str = "") -> list[IntentRecord]:
    """Execute the lane's intents in order, each to confirmed/failed (or skipped when stopped before signing).

    Retryable errors (RpcError, NotReadyError) propagate so the task retries; the ledger keeps every intent's
    state, so the retry resumes exactly where this attempt stopped.
    """
    chain = lane.split(".", 1)[0]
    # The owner is the delivery (Celery task id): a redelivery of the same message re-enters, a duplicate waits.
    owner = f"{run_id}/{lane}/{delivery}"
    lease = ctx.ledger.acquire(f"lane:{lane}", owner, ctx.execution.lane_lock_ttl_s)
    if lease is None:
        raise NotReadyError(f"lane {lane}: held by {ctx.ledger.lease_owner('lane:' + lane)}; will retry")
    try:
        records = ctx.ledger.intents(run_id, lane)
        snap = run_snapshot(ctx, run_id)
        if any(r.state is IntentState.PLANNED for r in records) and chain in snap.failed:
            skip_planned(ctx, records, f"chain {chain} was down at the snapshot")
            ctx.ledger.mark_done(run_id, "execute", lane)
            return ctx.ledger.intents(run_id, lane)
        the_lane = ctx.lane(chain).with_lease(lease)
        _execute_records(ctx, run_id, the_lane, hooks_for(ctx, run_id, chain), records)
        ctx.ledger.mark_done(run_id, "execute", lane)
        return ctx.ledger.intents(run_id, lane)
    finally:
        ctx.ledger.release(f"lane:{lane}", owner)


def _execute_records(ctx: RunContext, run_id: str, lane: Lane, hooks: Hooks, records: list[IntentRecord]) -> None:
    failed_approvals: set[int] = set()
    for i, record in enumerate(records):
        if record.state in (IntentState.CONFIRMED, IntentState.FAILED, IntentState.SKIPPED, IntentState.RECONCILED):
            if record.spec.kind is IntentKind.APPROVE and record.state is IntentState.FAILED:
                failed_approvals.add(record.spec.seq + 1)
            continue
        if record.spec.kind is IntentKind.SWAP and record.spec.seq in failed_approvals:
            skip_intent(ctx.ledger, record, "its approval failed")
            continue
        try:
            done = execute_intent(lane, record.spec.id, hooks)
        except (HaltedError, CircuitBreakerError) as exc:
            ctx.ledger.mark_run(run_id, halted=str(exc))
            ctx.ledger.add_event(run_id, "halted", str(exc), intent=record.spec.id)
            skip_planned(ctx, records[i:], str(exc))
            return
        except UnsafeTransactionError as exc:
            ctx.ledger.add_event(run_id, "refused", str(exc), intent=record.spec.id)
            done = ctx.ledger.intent(record.spec.id)
        if done.spec.kind is IntentKind.APPROVE and done.state is IntentState.FAILED:
            failed_approvals.add(done.spec.seq + 1)


def confirm_lane(ctx: RunContext, run_id: str, lane: str) -> bool:
    """Check every landed intent of the lane is at the chain's confirmation depth and still in its block.

    Returns True when the lane is confirmed; raises NotReadyError (retry later) while blocks are still due.
    """
    chain = lane.split(".", 1)[0]
    need = ctx.config.chains[chain].confirmations
    records = [r for r in ctx.ledger.intents(run_id, lane) if r.receipt is not None and not r.confirmed_depth]
    if records:
        w3 = ctx.w3(chain)
        head = int(w3.eth.block_number)
        for record in records:
            assert record.receipt is not None  # filtered above
            depth = head - record.receipt.block_number + 1
            if depth < need:
                raise NotReadyError(f"lane {lane}: intent {record.spec.id} has {depth}/{need} confirmations")
            block = w3.eth.get_block(record.receipt.block_number)
            if Web3.to_hex(block["hash"]) != record.receipt.block_hash:
                raise NotReadyError(f"lane {lane}: block {record.receipt.block_number} was reorganised; "
                                    f"intent {record.spec.id} must be re-checked")
            ctx.ledger.set_confirmed(record.spec.id)
    ctx.ledger.mark_done(run_id, "confirm", lane)
    return True


def lanes_finished(ctx: RunContext, run_id: str, stage: str) -> bool:
    return set(ctx.ledger.lanes(run_id)) <= ctx.ledger.done(run_id, stage)


__all__ = ["confirm_lane", "execute_lane", "hooks_for", "lanes_finished", "run_snapshot", "venue_state"]
