"""`crosshedge status [--json]`: the desk at a glance (compare Hummingbot's ``status`` and ``balance``).

Is trading halted (and why), which workers answer a ping, the last run and its state (and error), the book's
delta against the policy's band per underlying (read afresh from every chain), the wallet's inventory per chain
and token, and runs that are stuck (not finished and idle past ``--stuck-after``). A chain that cannot be read is
one sentence on stderr and everything else still prints. The data comes from orchestrator.build_status; this
module only prints it.

It observes and changes nothing: the embedded Redis is not started (a Redis that cannot be read is exit code 1).
Exit codes: 0 ok, 1 Redis cannot be read, 3 halted (the kill switch is set).

Usage::

    crosshedge status
    crosshedge status --json --stuck-after 120
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import EXIT_HALTED, CommandFailedError, command_errors, emit, warn, warn_failed, working
from crosshedge.errors import LedgerUnavailableError
from orchestrator import (
    PING_TIMEOUT_S,
    STUCK_AFTER_S,
    RunLine,
    StatusReport,
    build_status,
    create_app,
    open_context,
    resolve_redis_url,
)


def _num(x: float | None, places: int = 4) -> str:
    if x is None:
        return "-"
    return f"{x:,.{places}g}" if abs(x) < 1000 else f"{x:,.0f}"


def _ago(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _run_text(run: RunLine | None) -> str:
    if run is None:
        return "none yet"
    flags = " ".join(f for f, on in (("partial", run.partial), ("halted", bool(run.halted))) if on)
    text = f"{run.id}: {run.state.value}{f' ({flags})' if flags else ''}, {_ago(run.idle_s)}"
    why = run.error or run.halted
    return text + (f": {why}" if why else "")


def overview_table(report: StatusReport) -> Table:
    """Halted?, workers, last run, stuck runs, unreadable chains: one row each."""
    at = datetime.fromtimestamp(report.as_of, UTC)
    table = Table(title=f"crosshedge status at {at:%Y-%m-%d %H:%M:%S} UTC", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("state", overflow="fold")
    halted = f"[bold yellow]HALTED[/]: {escape(report.halted)}" if report.halted else "[green]no[/] (trading allowed)"
    alive = [w.name for w in report.workers if w.ok]
    if report.workers_error:
        workers = f"[red]unknown[/]: {escape(report.workers_error)}"
    elif alive:
        workers = f"[green]{len(alive)} alive[/]: {escape(', '.join(alive))}"
    else:
        workers = "[bold red]none answered[/] (start one: `crosshedge worker`)"
    stuck = (f"[bold red]{len(report.stuck)}[/]: {escape(', '.join(r.id for r in report.stuck))}" if report.stuck
             else f"none (idle > {report.stuck_after_s:g} s)")
    table.add_row("halted", halted)
    table.add_row("workers", workers)
    table.add_row("last run", escape(_run_text(report.last_run)))
    table.add_row("stuck runs", stuck)
    table.add_row("chains down", escape(", ".join(report.chains_down)) if report.chains_down else "none")
    return table


def delta_table(report: StatusReport) -> Table:
    title = "delta against band per underlying"
    if report.chains_down:
        title += f" (without {', '.join(report.chains_down)}: positions there are not counted)"
    table = Table(title=escape(title))
    for col in ("und.", "policy", "net Δ", "Δ $", "band", "target", "verdict", "reason"):
        table.add_column(col, justify="right" if col in {"net Δ", "Δ $", "target"} else "left", overflow="fold")
    for d in report.deltas:
        verdict = "[bold red]outside: TRADE[/]" if d.trade else "[green]inside: hold[/]"
        table.add_row(d.underlying, d.policy, _num(d.net_delta), _num(d.delta_usd, 6),
                      f"[{_num(d.lower)}, {_num(d.upper)}]", _num(d.target), verdict, escape(d.reason))
    return table


def inventory_table(report: StatusReport) -> Table:
    table = Table(title="inventory per chain and token (operator wallet, at each chain's head)")
    for col in ("chain", "token", "underlying", "amount", "USD", "block"):
        table.add_column(col, justify="right" if col in {"amount", "USD", "block"} else "left")
    for line in report.inventory:
        table.add_row(line.chain, line.symbol, line.underlying, f"{line.amount:,.6g}",
                      "-" if line.usd is None else f"{line.usd:,.2f}", str(line.block_number))
    return table


def stuck_table(report: StatusReport) -> Table:
    table = Table(title=f"stuck runs (not finished, idle > {report.stuck_after_s:g} s)")
    for col in ("run", "state", "idle", "reason"):
        table.add_column(col, overflow="fold")
    for run in report.stuck:
        table.add_row(run.id, run.state.value, _ago(run.idle_s), escape(run.error or run.halted))
    return table


def status_tables(report: StatusReport) -> list[RenderableType]:
    """What people see: the overview, then each part that has rows."""
    tables: list[RenderableType] = [overview_table(report)]
    if report.deltas:
        tables.append(delta_table(report))
    if report.inventory:
        tables.append(inventory_table(report))
    if report.stuck:
        tables.append(stuck_table(report))
    return tables


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        config: ConfigOption = None,
        stuck_after: Annotated[float, typer.Option("--stuck-after", min=0.0, help="Seconds a run may sit idle "
                                                   "before it is listed as stuck.")] = STUCK_AFTER_S,
        ping_timeout: Annotated[float, typer.Option("--ping-timeout", min=0.1,
                                                    help="Seconds to wait for the workers' pong.")] = PING_TIMEOUT_S,
        json_output: JsonOption = False,
    ) -> None:
        """Halted?, workers alive, the last run, delta against band, inventory per chain, stuck runs."""
        with command_errors():
            cfg = resolve_config(config)
            ctx = open_context(cfg, start_redis=False)  # status observes: it never starts a server
            celery = create_app(cfg, resolve_redis_url(cfg.redis_dir, start=False))
            try:
                with working("reading the ledger, pinging the workers, reading every chain ..."):
                    report = build_status(ctx, celery, stuck_after_s=stuck_after, ping_timeout_s=ping_timeout)
            except LedgerUnavailableError as exc:
                raise CommandFailedError(f"{exc}; `crosshedge status` does not start the embedded Redis (a worker "
                                         "or `crosshedge runs` does)") from None
            warn_failed(report.chains_down)
            warn_failed({c: f"chain {c}: wallet inventory unknown ({why})" for c, why in
                         report.inventory_unknown.items()})
            for problem in (report.workers_error, report.risk_error):
                if problem:
                    warn(problem)
            emit(report, json_output, *status_tables(report))
            if report.halted:
                raise CommandFailedError(f"kill switch is set: {report.halted} (run `crosshedge resume`)",
                                         EXIT_HALTED)


__all__ = ["register", "status_tables"]
