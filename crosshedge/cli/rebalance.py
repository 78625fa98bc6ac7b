"""`crosshedge rebalance [--dry-run] [--json]`: one rebalance run now, executed by the workers.

``--dry-run`` snapshots, decides and plans in this process and prints the policy's decisions and the plan; nothing
is recorded or signed. Otherwise the run is created in the ledger (one at a time), handed to the workers, and
followed to the end (with its follow-up runs); the result is the runs' table, their intents and trades.

A run this command reports as failed or abandoned never executes later: when following stops early (``--timeout``
passed, Ctrl-C, Redis lost while following) the run is cancelled (orchestrator.cancel_run). When it had already
signed transactions it cannot be cancelled: its unsigned intents are skipped (orchestrator.fail_run) and the
signed ones are confirmed and reconciled by the workers; the message says so.

Exit codes: 0 the run reconciled (or the policy had nothing to do), 1 it failed or was abandoned, 2 bad usage,
3 halted (kill switch, a circuit breaker, another run in progress).

Usage::

    crosshedge rebalance --dry-run --json
    crosshedge rebalance --timeout 120
    crosshedge rebalance --plan plan.json      # execute a saved plan (every safety check still applies)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters import default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import (
    EXIT_HALTED,
    CommandFailedError,
    command_errors,
    emit,
    service_errors,
    warn,
    warn_failed,
    working,
)
from crosshedge.cli.plan import decisions_table, trades_table
from crosshedge.cli.runs import intents_table, runs_table
from crosshedge.cli.runs import trades_table as run_trades_table
from crosshedge.config import Config
from crosshedge.errors import CrosshedgeError, ExecutionError, InputError, LedgerUnavailableError
from optimizer import Plan
from orchestrator import (
    DEFAULT_QUEUE,
    TERMINAL_RUN_STATES,
    Ledger,
    RunContext,
    RunReport,
    RunState,
    RunSummary,
    cancel_run,
    check_not_halted,
    connect_all,
    create_app,
    decide_and_plan,
    fail_run,
    open_context,
    run_summary,
    start_run,
    take_snapshot,
    wait_for_run,
)

#: How long an abandoned rebalance keeps trying to cancel its run through a Redis restart before it gives up.
CANCEL_RETRY_S = 15.0
#: How long to wait for a follow-up run whose id a reconciled run names but that is not created yet.
FOLLOWUP_GRACE_S = 10.0


def _dry_run(cfg: Config, json_output: bool) -> None:
    registry = default_registry()
    with working("reading every chain, asking the policy and planning ..."):
        connections, down = connect_all(cfg, cfg.raw.execution.rpc_timeout_s, allow_partial=True)
        snap = take_snapshot(cfg, connections, registry, allow_partial=True)
        decisions, _problem, plan = decide_and_plan(cfg, registry, snap, connections, set(), set())
    failed = {**snap.failed, **down}  # the connection error says more than "not connected"
    warn_failed(failed)  # planned without them: say which, one sentence each
    tables: list[Table] = [decisions_table(decisions, title="dry run: the policy per underlying (nothing signed)")]
    if plan is not None:
        tables.append(trades_table(plan))
    emit({"decisions": decisions, "plan": plan, "failed_chains": failed}, json_output, *tables)


def _read_plan(plan_file: Path | None) -> Plan | None:
    if plan_file is None:
        return None
    try:
        return Plan.model_validate_json(plan_file.read_text())
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{plan_file}: not a readable Plan JSON ({first})") from None


def run_chain(ledger: Ledger, run_id: str) -> tuple[list[str], str | None]:
    """The run and its follow-ups as far as they exist, and the id of a follow-up named but not yet created."""
    chain = [run_id]
    while True:
        run = ledger.run(chain[-1])
        if run.state not in TERMINAL_RUN_STATES:
            return chain, None
        report = ledger.blob(chain[-1], "report", RunReport)
        nxt = report.followup if report is not None else None
        if not nxt:
            return chain, None
        if not ledger.has_run(nxt):
            return chain, nxt
        chain.append(nxt)


def _stop(ctx: RunContext, run_id: str, reason: str) -> str:
    """End ``run_id`` so it never executes later; the sentence saying what happened to it."""
    run = ctx.ledger.run(run_id)
    if run.state in TERMINAL_RUN_STATES:  # it ended while we gave up on it: nothing left to stop
        return f"run {run_id} had already ended as {run.state.value}{': ' + run.error if run.error else ''}"
    try:
        cancel_run(ctx, run_id, reason)
        return f"run {run_id} is cancelled: nothing was signed, and it will never execute"
    except ExecutionError as refused:
        # Something was signed: it cannot be taken back. Skip what is unsigned; the signed ones are confirmed and
        # reconciled by the workers (the run ends there, with this reason).
        fail_run(ctx, run_id, reason)
        return (f"run {run_id} had already signed transactions ({refused}): nothing else will be signed, and the "
                "signed ones will be confirmed and reconciled by the workers (`crosshedge runs --run "
                f"{run_id}`)")


def abandon(ctx: RunContext, first: str, reason: str) -> str:
    """Cancel the run the rebalance was following (the latest of its chain); the sentence saying what happened.

    Redis may be restarting (the reason the follow stopped, often): keep trying for CANCEL_RETRY_S before saying
    plainly that the run still has to be cancelled by hand.
    """
    deadline = time.monotonic() + CANCEL_RETRY_S
    while True:
        try:
            chain, pending = run_chain(ctx.ledger, first)
            outcome = _stop(ctx, chain[-1], reason)
            if pending is not None:  # the follow-up is being created right now: wait for it, and stop it too
                grace = time.monotonic() + FOLLOWUP_GRACE_S
                while not ctx.ledger.has_run(pending) and time.monotonic() < grace:
                    time.sleep(0.2)
                if ctx.ledger.has_run(pending):
                    outcome = _stop(ctx, pending, reason)
                else:
                    outcome += (f"; its follow-up {pending} was not created yet: if it appears, cancel it with "
                                f"`crosshedge runs cancel {pending} --reason ...`")
            return outcome
        except Exception as exc:
            unavailable = isinstance(exc, (LedgerUnavailableError, *service_errors()))
            if not unavailable and not isinstance(exc, CrosshedgeError):
                raise  # a bug, not a condition
            if not unavailable or time.monotonic() >= deadline:
                return (f"run {first} could NOT be cancelled ({exc}): cancel it with `crosshedge runs cancel "
                        f"{first} --reason ...` before a worker picks it up")
            time.sleep(0.5)  # Redis is coming back (a restart, an AOF load): try again


def _follow(ctx: RunContext, run_id: str, timeout: float, json_output: bool) -> str:
    """Follow the run to its end; on a timeout, Ctrl-C or an error, cancel it and raise a one-sentence error
    (with ``--json``, stdout also gets ``{"run_id", "abandoned": true, "outcome"}`` so a script knows the run)."""
    try:
        with working(f"run {run_id}: waiting for the workers ..."):
            return wait_for_run(ctx.ledger, run_id, timeout)
    except KeyboardInterrupt:
        why = "interrupted (Ctrl-C) while following the run"
    except CrosshedgeError as exc:
        why = str(exc)
    except Exception as exc:
        if not isinstance(exc, service_errors()):
            raise
        why = f"Redis connection lost while following the run ({type(exc).__name__}: {exc})"
    try:
        with working(f"run {run_id}: cancelling ..."):
            outcome = abandon(ctx, run_id, f"rebalance stopped following it: {why}")
    except KeyboardInterrupt:
        outcome = (f"run {run_id} may NOT be cancelled (interrupted again): cancel it with `crosshedge runs cancel "
                   f"{run_id} --reason ...`")
    if json_output:
        emit({"run_id": run_id, "abandoned": True, "reason": why, "outcome": outcome}, True)
    raise CommandFailedError(f"rebalance abandoned: {why}; {outcome}")


def _result_tables(rows: list[RunSummary]) -> list[Any]:
    tables: list[Any] = [runs_table(rows, title=f"rebalance: {len(rows)} run(s)")]
    for row in rows:
        if row.report is not None and row.report.trades:
            tables.append(run_trades_table(row))
        elif row.intents:
            tables.append(intents_table(row))
    return tables


def _outcome(rows: list[RunSummary]) -> None:
    """Warnings for a partial run; the exit code of a failed or halted one."""
    last = rows[-1]
    for row in rows:
        if row.run.partial:
            downs = [e.message for e in row.events if e.kind == "chain_down"]
            warn(f"run {row.run.id} was partial: {'; '.join(downs) or 'a chain could not be read'}")
    halted = next((r for r in rows if r.run.halted), None)
    if halted is not None:
        raise CommandFailedError(f"run {halted.run.id} halted: {halted.run.halted}", EXIT_HALTED)
    if last.run.state is RunState.FAILED:
        raise CommandFailedError(f"run {last.run.id} failed: {last.run.error or 'no reason recorded'}")
    if last.report is not None and last.report.outside_band:
        warn(f"run {last.run.id}: still outside the band after its follow-ups: {', '.join(last.report.outside_band)}")


def register(app: typer.Typer) -> None:
    @app.command("rebalance")
    def rebalance(
        config: ConfigOption = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; sign nothing.")] = False,
        plan_file: Annotated[Path | None, typer.Option("--plan", help="Execute this saved Plan JSON.")] = None,
        wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to the end.")] = True,
        timeout: Annotated[float, typer.Option("--timeout", min=0.0, help="Seconds to wait for the run; then it "
                                                                           "is cancelled.")] = 600.0,
        json_output: JsonOption = False,
    ) -> None:
        """Run the hedge now: snapshot, risk, policy, plan, then execute, confirm and reconcile on the workers."""
        with command_errors():
            cfg = resolve_config(config)
            if dry_run:
                _dry_run(cfg, json_output)
                return
            given = _read_plan(plan_file)
            ctx = open_context(cfg)
            check_not_halted(ctx.ledger)
            run_id = start_run(ctx, kind="manual", plan_input=given)
            try:
                create_app(cfg).send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
            except (Exception, KeyboardInterrupt) as exc:
                # Not handed over (the broker refused, or Ctrl-C): it must not start later either (recover would).
                outcome = abandon(ctx, run_id, f"its first stage could not be queued ({type(exc).__name__})")
                raise CommandFailedError(f"run {run_id}: could not hand it to the workers ({type(exc).__name__}"
                                         f"{': ' + str(exc) if str(exc) else ''}); {outcome}") from None
            if not wait:
                queued = {"run_id": run_id, "state": "queued"}
                table = Table(title="rebalance queued (`crosshedge runs --run ID` follows it)")
                table.add_column("run")
                table.add_column("state")
                table.add_row(run_id, "queued")
                emit(queued, json_output, table)
                return
            last = _follow(ctx, run_id, timeout, json_output)
            chain, _ = run_chain(ctx.ledger, run_id)
            ids = chain[: chain.index(last) + 1] if last in chain else [*chain, last]
            rows = [run_summary(ctx.ledger, r) for r in ids]
            emit({"run_id": run_id, "last_run_id": last, "runs": rows}, json_output, *_result_tables(rows))
            _outcome(rows)


__all__ = ["abandon", "register", "run_chain"]
