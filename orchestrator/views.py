"""Read-only views of the ledger for people and scripts: a run's summary, and following a run to its end.

Usage::

    last = wait_for_run(ledger, run_id, timeout_s=600)     # follows follow-up runs too
    summary = run_summary(ledger, last)                   # RunSummary (record, report, intents, events)
    rows = with_explains(ledger, [run_summary(ledger, r.id) for r in ledger.runs(20)])  # P&L explain per run
"""

from __future__ import annotations

import time

from adapters import Side
from crosshedge import Frozen, LedgerError, NotReadyError
from orchestrator.ledger import TERMINAL_RUN_STATES, IntentKind, IntentState, Ledger, RunEvent, RunRecord
from orchestrator.planning import PolicyVerdicts
from orchestrator.reconcile import RunReport
from risk import PnlExplain, RiskReport, explain_between


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
    explain: PnlExplain | None = None  # the book's P&L from this run's snapshot to the next run's (with_explains)
    explain_to: str | None = None  # that next run


def run_summary(ledger: Ledger, run_id: str) -> RunSummary:
    """One run with everything the ledger knows about it."""
    intents = [IntentLine(id=r.spec.id, kind=r.spec.kind, chain=r.spec.chain, venue=r.spec.venue, side=r.spec.side,
                          state=r.state, nonce=r.nonce, tx_hash=r.tx_hash, attempts=len(r.attempts), error=r.error)
               for r in ledger.intents(run_id)]
    return RunSummary(run=ledger.run(run_id), report=ledger.blob(run_id, "report", RunReport), intents=intents,
                      events=ledger.events(run_id))


def run_risk(ledger: Ledger, run_id: str) -> RiskReport | None:
    """The book's risk report the run's decisions were made from (None when the run stored none)."""
    verdicts = ledger.blob(run_id, "decisions", PolicyVerdicts)
    return verdicts.risk if verdicts is not None else None


def run_explain(risk: RiskReport, nxt: RiskReport, report: RunReport | None) -> PnlExplain:
    """P&L explain from one run's risk report to the next's: the run's hedge moves the delta (post-trade delta
    = the reconciled residual), its fees (realised cost less gas) and gas come from the ledger's report."""
    traded: dict[str, float] = {}
    gas = fees = 0.0
    if report is not None:
        before = {u.underlying: u.delta for u in risk.underlyings}
        traded = {u: d - before[u] for u, d in report.residual_delta.items() if u in before}
        gas = sum(t.gas_usd for t in report.trades) + report.approval_gas_usd
        fees = report.realised_cost_usd - gas
    return explain_between(risk, nxt, traded, fees=fees, gas=gas)


def with_explains(ledger: Ledger, rows: list[RunSummary]) -> list[RunSummary]:
    """``rows`` (newest first, as ``ledger.runs`` lists them) with each run's P&L explain up to the next newer run
    that stored a risk report; the newest such run has none yet."""
    out: list[RunSummary] = []
    later: tuple[str, RiskReport] | None = None
    for row in rows:
        risk = run_risk(ledger, row.run.id)
        explained = row
        if risk is not None and later is not None:
            explained = row.model_copy(update={"explain": run_explain(risk, later[1], row.report),
                                               "explain_to": later[0]})
        if risk is not None:
            later = (row.run.id, risk)
        out.append(explained)
    return out


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
