"""Read-only views of the ledger for people and scripts: a run's summary, and following a run to its end.

Usage::

    last = wait_for_run(ledger, run_id, timeout_s=600)     # follows follow-up runs too
    summary = run_summary(ledger, last)                   # RunSummary (record, report, intents, events)
"""

from __future__ import annotations

import time

from adapters import Side
from crosshedge import Frozen, LedgerError, NotReadyError
from orchestrator.ledger import TERMINAL_RUN_STATES, IntentKind, IntentState, Ledger, RunEvent, RunRecord
from orchestrator.reconcile import RunReport


class IntentLine(Frozen):
    """One intent of a run, as `runs` shows it."""

    id: str
    kind: IntentKind
    chain: str
    venue: str | None
    side: Side | None
    state: IntentState
    nonce: int | None
    tx_hash: str | None
    attempts: int
    error: str


class RunSummary(Frozen):
    """A run as `runs` shows it: its record, report (once reconciled), intents and events."""

    run: RunRecord
    report: RunReport | None
    intents: list[IntentLine]
    events: list[RunEvent]


def run_summary(ledger: Ledger, run_id: str) -> RunSummary:
    """One run with everything the ledger knows about it."""
    intents = [IntentLine(id=r.spec.id, kind=r.spec.kind, chain=r.spec.chain, venue=r.spec.venue, side=r.spec.side,
                          state=r.state, nonce=r.nonce, tx_hash=r.tx_hash, attempts=len(r.attempts), error=r.error)
               for r in ledger.intents(run_id)]
    return RunSummary(run=ledger.run(run_id), report=ledger.blob(run_id, "report", RunReport), intents=intents,
                      events=ledger.events(run_id))


def wait_for_run(ledger: Ledger, run_id: str, timeout_s: float, poll_s: float = 0.1) -> str:
    """Wait until the run (and its follow-ups) reach a terminal state; returns the last run id.

    Raises NotReadyError naming the run when it has not finished within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    current = run_id
    while time.monotonic() < deadline:
        run = ledger.run(current)
        if run.state in TERMINAL_RUN_STATES:
            report = ledger.blob(current, "report", RunReport)
            nxt = report.followup if report is not None else None
            if not nxt:
                return current
            if ledger.has_run(nxt):
                current = nxt
        time.sleep(poll_s)
    try:
        state = ledger.run(current).state.value
    except LedgerError:
        state = "unknown"
    raise NotReadyError(f"run {current}: not finished after {timeout_s:g}s (state {state}; are workers running? "
                        "`crosshedge worker`)")


__all__ = ["IntentLine", "RunSummary", "run_summary", "wait_for_run"]
