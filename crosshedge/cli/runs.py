"""`crosshedge runs`: run history from the ledger, one run in full, and ending a run by hand with a reason.

``runs`` lists recent runs (trades, tx hashes, predicted vs realised cost, residual delta, why a run ended early)
and each run's P&L explain: the book's value change from the run's snapshot to the next run's, split into delta
(post-hedge), gamma, vega, theta, funding (0 until perps), fees and gas (the ledger's realised costs) and
unexplained (orchestrator.with_explains; runs stored before the risk report was kept have none);
``runs --run ID`` shows one run in full (its record, intents, events and reconciled trades). ``runs cancel RUN``
ends a run that has signed nothing (orchestrator.cancel_run): it never executes, even when a worker picks up its
queued stage later. ``runs fail RUN`` ends a run that cannot proceed (orchestrator.fail_run): its unsigned intents
are skipped; transactions already signed are still confirmed and reconciled by the workers before it ends. Both
record the reason (``runs`` shows it) and give back the run lock once the run has ended.

Exit codes: 0 done (or the run had already ended the same way), 1 an error (no such run, a run that cannot be
cancelled because it signed something, Redis unreachable), 2 bad usage (no ``--reason``).

Usage::

    crosshedge runs --limit 10
    crosshedge runs --run manual-20250101T000000 --json
    crosshedge runs cancel manual-20250101T000000 --reason "started by mistake"
    crosshedge runs fail manual-20250101T000000 --reason "base RPC provider is down for the day" --json
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import CommandFailedError, UsageError, command_errors, emit
from crosshedge.errors import InputError
from orchestrator import (
    TERMINAL_RUN_STATES,
    IntentKind,
    Ledger,
    RunState,
    RunSummary,
    cancel_run,
    fail_run,
    open_context,
    open_ledger,
    run_explain,
    run_risk,
    run_summary,
    with_explains,
)

#: The prefix orchestrator.cancel_run gives a cancelled run's error (how `runs cancel` knows it already did it).
CANCELLED_PREFIX = "cancelled: "

RunArgument = Annotated[str, typer.Argument(help="The run id (as `crosshedge runs` lists it).", metavar="RUN",
                                           show_default=False)]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the ledger, shown in `runs`).",
                                           show_default=False)]


#: The intents that are trades (a swap, a perp order): what the runs table counts and lists.
_TRADES = frozenset({IntentKind.SWAP, IntentKind.PERP_ORDER})


def _when(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S}" if ts else ""


def _flags(row: RunSummary) -> str:
    return " ".join(f for f, on in (("partial", row.run.partial), ("halted", bool(row.run.halted))) if on)


def runs_table(rows: list[RunSummary], title: str = "crosshedge runs") -> Table:
    """One row per run: state, flags, trades, swap transactions (count and the first hash; every hash is in
    ``runs --run ID`` and ``--json``), predicted/realised cost, residual delta, reason."""
    table = Table(title=title)
    for col in ("run", "state", "flags", "trades", "swap txs", "transfers", "predicted $", "realised $", "residual Δ",
                "reason"):
        # the id and state stay whole (people copy the id into `runs cancel`); the reason takes what is left
        table.add_column(col, overflow="fold", no_wrap=col in {"run", "state"}, ratio=3 if col == "reason" else None)
    for row in rows:
        rep = row.report
        sent = [i.tx_hash for i in row.intents if i.kind in _TRADES and i.tx_hash]
        hashes = f"{len(sent)} ({sent[0][:10]}…)" if sent else ""  # a column of 80-char hash lists crushes the rest
        moved = ", ".join(f"{t.route} {t.state}" for t in rep.transfers) if rep else ""
        table.add_row(row.run.id, row.run.state.value, _flags(row), str(len(rep.trades) if rep else 0), hashes, moved,
                      f"{rep.predicted_cost_usd:,.2f}" if rep else "", f"{rep.realised_cost_usd:,.2f}" if rep else "",
                      " ".join(f"{k}:{v:+.3f}" for k, v in rep.residual_delta.items()) if rep else "",
                      escape(row.run.error or row.run.halted))
    return table


def run_record_table(row: RunSummary) -> Table:
    """The run's record (and report totals) as field/value rows."""
    run, rep = row.run, row.report
    table = Table(title=f"run {run.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    fields: list[tuple[str, str]] = [
        ("state", run.state.value), ("kind", run.kind), ("created", _when(run.created_at)),
        ("updated", _when(run.updated_at)), ("parent", run.parent or ""), ("follow-up #", str(run.followup)),
        ("flags", _flags(row)), ("halted", run.halted), ("error", run.error),
    ]
    if rep is not None:
        fields += [("predicted $", f"{rep.predicted_cost_usd:,.2f}"), ("realised $", f"{rep.realised_cost_usd:,.2f}"),
                   ("approval gas $", f"{rep.approval_gas_usd:,.2f}"), ("failed gas $", f"{rep.failed_gas_usd:,.2f}"),
                   ("residual Δ", " ".join(f"{k}:{v:+.4f}" for k, v in rep.residual_delta.items())),
                   ("outside band", ", ".join(rep.outside_band)), ("follow-up run", rep.followup or ""),
                   ("ledger vs chain", "equal" if not rep.balance_diff else str(rep.balance_diff)),
                   ("perps vs chain", "" if not rep.perp_fills and not rep.perp_diff
                    else "equal" if not rep.perp_diff else str(rep.perp_diff))]
    for name, value in fields:
        if value:
            table.add_row(name, escape(value))
    return table


def intents_table(row: RunSummary) -> Table:
    table = Table(title=f"intents of {row.run.id}")
    for col in ("intent", "kind", "chain", "venue", "side", "state", "nonce", "tx hash", "attempts", "error"):
        table.add_column(col, overflow="fold")
    for i in row.intents:
        table.add_row(i.id, i.kind.value, i.chain, i.venue or "", str(i.side or ""), i.state.value,
                      "" if i.nonce is None else str(i.nonce), i.tx_hash or "", str(i.attempts), escape(i.error))
    return table


def events_table(row: RunSummary) -> Table:
    table = Table(title=f"events of {row.run.id}")
    for col in ("at", "kind", "where", "message"):
        table.add_column(col, overflow="fold")
    for e in row.events:
        where = "/".join(x for x in (e.chain, e.venue, e.intent) if x)
        table.add_row(_when(e.at), e.kind, where, escape(e.message))
    return table


def trades_table(row: RunSummary) -> Table:
    table = Table(title=f"trades of {row.run.id} (reconciled)")
    for col in ("chain", "venue", "side", "state", "base", "quote", "predicted $", "realised $", "gas $", "tx hash"):
        table.add_column(col, overflow="fold", justify="right" if col.endswith("$") else "left")
    for t in row.report.trades if row.report else []:
        if t.kind not in _TRADES:
            continue
        table.add_row(t.chain, t.venue or "", str(t.side or ""), t.state.value, f"{t.base_amount:,.6g}",
                      f"{t.quote_amount:,.2f}", f"{t.predicted_cost_usd:,.2f}", f"{t.realised_cost_usd:,.2f}",
                      f"{t.gas_usd:,.2f}", t.tx_hash or "")
    return table


def transfers_table(row: RunSummary) -> Table:
    """The run's bridge transfers: route, state, both ends' transactions, fee and deposit-to-fill latency."""
    table = Table(title=f"transfers of {row.run.id}")
    for col in ("route", "state", "in (raw)", "out (raw)", "fee (raw)", "latency s", "origin tx", "destination tx"):
        table.add_column(col, overflow="fold", justify="right" if "raw" in col or col.startswith("lat") else "left")
    for t in row.report.transfers if row.report else []:
        table.add_row(t.route, t.state, str(t.amount_in_raw), str(t.amount_out_raw), str(t.fee_raw),
                      "-" if t.latency_s is None else f"{t.latency_s:.0f}", t.origin_tx,
                      t.destination_tx or t.refund_tx or "")
    return table


EXPLAIN_COLUMNS = ("actual", "delta", "gamma", "vega", "theta", "funding", "fees", "gas", "unexplained")


def explain_table(rows: list[RunSummary]) -> Table:
    """Each explained run's P&L explain (USD) up to the next run's snapshot."""
    table = Table(title="P&L explain per run (USD): the book from this run's snapshot to the next run's",
                  caption="delta uses the post-hedge delta; fees and gas are the run's realised costs; funding is 0 "
                          "until perps")
    for col in ("run", "to run", *EXPLAIN_COLUMNS):
        table.add_column(col, overflow="fold", justify="left" if col in {"run", "to run"} else "right")
    for row in rows:
        if row.explain is not None:
            table.add_row(row.run.id, row.explain_to or "",
                          *(f"{getattr(row.explain, k):,.2f}" for k in EXPLAIN_COLUMNS))
    return table


def explained(ledger: Ledger, row: RunSummary) -> RunSummary:
    """One run with its P&L explain up to the nearest newer run that stored a risk report (if any)."""
    risk = run_risk(ledger, row.run.id)
    ids = [r.id for r in ledger.runs(1000)]
    if risk is None or row.run.id not in ids:
        return row
    for newer in reversed(ids[: ids.index(row.run.id)]):
        nxt = run_risk(ledger, newer)
        if nxt is not None:
            return row.model_copy(update={"explain": run_explain(risk, nxt, row.report), "explain_to": newer})
    return row


def run_detail(row: RunSummary) -> list[Table]:
    """Everything about one run, as tables: record, intents, events, reconciled trades (those that exist)."""
    tables = [run_record_table(row)]
    if row.intents:
        tables.append(intents_table(row))
    if row.events:
        tables.append(events_table(row))
    if row.report is not None and row.report.trades:
        tables.append(trades_table(row))
    if row.report is not None and row.report.transfers:
        tables.append(transfers_table(row))
    if row.explain is not None:
        tables.append(explain_table([row]))
    return tables


def summary_of(ledger: Ledger, run_id: str) -> RunSummary:
    """The run's summary; InputError naming the run when the ledger has no such run."""
    if not ledger.has_run(run_id):
        raise InputError(f"run {run_id}: no such run in the ledger (`crosshedge runs` lists the recent ones)")
    return run_summary(ledger, run_id)


def _reason(reason: str, command: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise UsageError(f"runs {command}: --reason must say why (it is recorded in the ledger)")
    return text


runs_app = typer.Typer(help="Run history; `runs cancel RUN` / `runs fail RUN` end a run with a reason.",
                       no_args_is_help=False)


@runs_app.callback(invoke_without_command=True)
def runs(
    context: typer.Context,
    config: ConfigOption = None,
    run: Annotated[str | None, typer.Option("--run", help="Show one run in full (intents, events).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many recent runs to list.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Recent runs (newest first) with trades, costs, residual delta and why a run ended early."""
    if context.invoked_subcommand is not None:
        return  # `runs cancel ...` / `runs fail ...`: the subcommand does the work
    with command_errors():
        ledger = open_ledger(resolve_config(config))
        if run is not None:
            row = explained(ledger, summary_of(ledger, run))
            emit(row, json_output, *run_detail(row))
            return
        rows = with_explains(ledger, [run_summary(ledger, r.id) for r in ledger.runs(limit)])
        if not rows:
            emit(rows, json_output, "no runs in the ledger yet")
            return
        emit(rows, json_output, runs_table(rows), *([explain_table(rows)] if any(r.explain for r in rows) else []))


@runs_app.command("cancel")
def cancel(
    run_id: RunArgument,
    reason: ReasonOption,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """End a run that has signed nothing: it never executes, even if a worker picks up its queued stage later."""
    with command_errors():
        text = _reason(reason, "cancel")
        ctx = open_context(resolve_config(config))
        before = summary_of(ctx.ledger, run_id).run
        if before.state in TERMINAL_RUN_STATES:
            if before.state is RunState.FAILED and before.error.startswith(CANCELLED_PREFIX):
                outcome = f"run {run_id} was already cancelled ({before.error})"
            else:
                raise CommandFailedError(f"run {run_id} already ended as {before.state.value}"
                                         f"{': ' + before.error if before.error else ''}; there is nothing to cancel")
        else:
            cancel_run(ctx, run_id, text)  # ExecutionError naming the signed intents when something was signed
            outcome = f"run {run_id} cancelled: nothing was signed, and it will never execute"
        row = run_summary(ctx.ledger, run_id)
        emit({"run": row, "cancelled": True, "outcome": outcome}, json_output, runs_table([row], title=escape(outcome)))


@runs_app.command("fail")
def fail(
    run_id: RunArgument,
    reason: ReasonOption,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """End a run that cannot proceed; transactions already signed are confirmed and reconciled first."""
    with command_errors():
        text = _reason(reason, "fail")
        ctx = open_context(resolve_config(config))
        before = summary_of(ctx.ledger, run_id).run
        if before.state in TERMINAL_RUN_STATES:
            if before.state is not RunState.FAILED:
                raise CommandFailedError(f"run {run_id} already ended as {before.state.value}; there is nothing "
                                         "to fail")
            ended, outcome = True, f"run {run_id} had already failed: {before.error}"
        else:
            ended = fail_run(ctx, run_id, text)
            if ended:
                outcome = f"run {run_id} failed: {text}; its lock is released"
            else:
                out = sum(r.in_flight for r in ctx.ledger.intents(run_id))
                outcome = (f"run {run_id}: {out or 'some'} signed transaction(s) are still out; the workers "
                           "will confirm and reconcile them first, then the run ends with this reason (nothing "
                           "else is signed)")
        row = run_summary(ctx.ledger, run_id)
        emit({"run": row, "ended": ended, "outcome": outcome}, json_output, runs_table([row], title=escape(outcome)))


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


__all__ = ["register", "run_detail", "runs_table", "summary_of"]
