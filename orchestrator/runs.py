"""A run's identity and its ends: start it under the one-run lock, finish it, or fail it with its reason.

A run that cannot proceed ends as ``failed`` with its sentence in the ledger (``runs`` shows it) and gives back the
run lock, so the next beat tick can start a new run. A run that already has transactions in flight cannot simply
stop: its unsigned intents are skipped, and the signed ones are still confirmed and reconciled before it ends.

Usage::

    run_id = start_run(ctx, kind="manual")
    ...
    fail_run(ctx, run_id, "no plan meets every limit at once: the per-run notional cap binds")
"""

from __future__ import annotations

import math
import re
import secrets
from datetime import UTC, datetime

from crosshedge import CircuitBreakerError, ExecutionError, InputError
from optimizer import Plan
from orchestrator.context import RunContext
from orchestrator.ledger import TERMINAL_RUN_STATES, IntentRecord, IntentState, RunState
from orchestrator.safety import RunLock
from orchestrator.sender import skip_intent


class RunExistsError(CircuitBreakerError):
    """The run id is taken: that trigger (a beat slot, a follow-up) already started its run, which goes on."""


#: Run states from which a failure ends the run at once (nothing has been signed yet).
_BEFORE_EXECUTION = frozenset({RunState.CREATED, RunState.SNAPSHOTTED, RunState.PLANNED})


def make_run_id(kind: str, at: float, slot_s: float | None = None, key: str | None = None) -> str:
    """The id of a run triggered by ``kind`` at ``at`` (unix seconds); ids never collide between triggers.

    * ``key``: the trigger's own idempotency key (a demo step, a scheduler's slot name): ``{kind}-{key}``. The same
      key always gives the same id, so a trigger delivered twice maps to the run it already started.
    * ``slot_s``: a beat tick, one run per slot: ``{kind}-{slot start}`` at full resolution (milliseconds;
      microseconds for slots shorter than that), so every tick of a slot gives the same id and ticks of different
      slots never share one, however short the slot.
    * neither: a one-off trigger (``rebalance``): its time to the millisecond and a random suffix, unique per call.

    Usage: ``make_run_id("beat", clock(), slot_s=30)`` -> ``beat-20250101T000030.000``
    """
    if key is not None:
        if not _KEY.fullmatch(key):
            raise InputError(f"run id key {key!r}: use letters, digits, '.', '_' and '-' only (at most 64)")
        return f"{kind}-{key}"
    if slot_s is not None:
        if not slot_s > 0:
            raise InputError(f"run id slot: {slot_s!r} s is not a positive length")
        return f"{kind}-{_stamp(math.floor(at / slot_s) * slot_s, 3 if slot_s >= 1e-3 else 6)}"
    return f"{kind}-{_stamp(at, 3)}-{secrets.token_hex(3)}"


_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _stamp(at: float, digits: int) -> str:
    """``at`` as UTC ``YYYYmmddTHHMMSS.fff`` (``digits`` decimals), rounded so that float noise in ``at`` (a slot's
    start computed as index x length) never changes the second."""
    units = round(at * 10**digits)
    whole, frac = divmod(units, 10**digits)
    return f"{datetime.fromtimestamp(whole, UTC):%Y%m%dT%H%M%S}.{frac:0{digits}d}"


def start_run(ctx: RunContext, kind: str, run_id: str | None = None, parent: str | None = None,
              followup: int = 0, plan_input: Plan | None = None) -> str:
    """Create the run and take the one-run lock; CircuitBreakerError if another run holds it, RunExistsError (one)
    if this id was started before.

    ``plan_input`` (a Plan) skips the optimizer: the given trades go through every safety check and execution.
    """
    run_id = run_id or make_run_id(kind, ctx.clock())
    lock = RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s)
    if not lock.acquire(run_id):
        raise CircuitBreakerError(f"run {run_id}: another run ({lock.holder()}) is in progress (one at a time)")
    if not ctx.ledger.create_run(run_id, kind=kind, parent=parent, followup=followup):
        # The id is deterministic (a beat slot, a follow-up): starting it twice must not re-drive its stages.
        # A finished run gives its lock back; one still going keeps it and the recover sweep resumes it.
        if ctx.ledger.run(run_id).state in TERMINAL_RUN_STATES:
            lock.release(run_id)
        raise RunExistsError(f"run {run_id}: already started (its id is taken); not starting it again")
    if plan_input is not None:
        ctx.ledger.put_blob(run_id, "plan_input", plan_input)
    return run_id


def finish_run(ctx: RunContext, run_id: str) -> None:
    """Give back the one-run lock (the run reached a terminal state)."""
    RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s).release(run_id)


def fail_run(ctx: RunContext, run_id: str, reason: str) -> bool:
    """End ``run_id`` because it cannot proceed; returns True when it is now terminal.

    Unsigned intents are skipped (their nonces given back). With nothing in flight the run becomes ``failed`` with
    ``reason`` and its lock is released. With signed transactions still out, the reason is recorded and the run
    stays open so confirmation and reconciliation account for them (it ends there, reason shown).
    """
    run = ctx.ledger.run(run_id)
    if run.state in TERMINAL_RUN_STATES:
        return True
    records = ctx.ledger.intents(run_id)
    skip_planned(ctx, records, reason)
    ctx.ledger.mark_run(run_id, error=reason)
    ctx.ledger.add_event(run_id, "failed", reason)
    in_flight = [r for r in ctx.ledger.intents(run_id) if r.in_flight]
    if in_flight:
        return False
    if run.state in _BEFORE_EXECUTION or not any(r.receipt is not None for r in records):
        ctx.ledger.set_run_state(run_id, RunState.FAILED, error=reason)
        finish_run(ctx, run_id)
        return True
    return False  # something landed (gas at least was spent): reconciliation closes the run, reason shown


def cancel_run(ctx: RunContext, run_id: str, reason: str) -> None:
    """End a run that has signed nothing yet (an operator's `runs cancel`, an abandoned `rebalance`).

    Raises ExecutionError naming the signed intents when something was already signed: such a run can only be
    failed (:func:`fail_run`), which still confirms and reconciles what is out. Idempotent on an ended run.
    """
    run = ctx.ledger.run(run_id)
    if run.state in TERMINAL_RUN_STATES:
        return
    signed = [r.spec.id for r in ctx.ledger.intents(run_id) if r.state is not IntentState.PLANNED
              and r.state is not IntentState.SKIPPED]
    if signed:
        raise ExecutionError(f"run {run_id}: cannot cancel, {len(signed)} intent(s) already signed "
                             f"({', '.join(signed[:3])}); use `crosshedge runs fail` to end it once they land")
    if not fail_run(ctx, run_id, f"cancelled: {reason}"):
        raise ExecutionError(f"run {run_id}: could not be cancelled (a transaction is in flight)")


def skip_planned(ctx: RunContext, records: list[IntentRecord], reason: str) -> None:
    """Skip every intent not yet signed, last first, so each released nonce is its sequence's last one."""
    for record in reversed(records):
        skip_intent(ctx.ledger, ctx.ledger.intent(record.spec.id), reason)


__all__ = ["RunExistsError", "cancel_run", "fail_run", "finish_run", "make_run_id", "skip_planned", "start_run"]
