"""`crosshedge inventory [--json]`: per chain and token, held, arriving (bridge transfers in flight), the chain's
share of the token's total, its target share and the deviation (compare Across relayer's inventory client).

Every chain that answers is read at its head (held at that block; arriving as of those blocks, so a fill that
landed is counted once, in the destination's balance); transfers still in flight are listed below. A chain that
cannot be read is one sentence on stderr and the rest still prints. It observes and changes nothing; the embedded
Redis is not started. Exit codes: 0 ok, 1 an error.

Usage::

    crosshedge inventory
    crosshedge inventory --json
"""

from __future__ import annotations

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import CommandFailedError, command_errors, emit, warn_failed, working
from crosshedge.errors import LedgerUnavailableError
from orchestrator import InventoryReport, build_inventory, connect_all, open_context, take_snapshot


def _amount(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:,.6g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def inventory_tables(report: InventoryReport) -> list[RenderableType]:
    table = Table(title="inventory per chain and token: held + arriving against the target share")
    for col in ("chain", "token", "held", "arriving", "total", "share", "target", "deviation", "status"):
        table.add_column(col, justify="left" if col in {"chain", "token", "status"} else "right")
    style = {"short": "[bold red]short[/]", "over": "[yellow]over[/]", "ok": "[green]ok[/]", "-": "-"}
    for line in report.lines:
        table.add_row(line.chain, line.symbol, _amount(line.held), _amount(line.arriving), _amount(line.total),
                      _pct(line.share), _pct(line.target_share),
                      "-" if line.deviation is None else f"{line.deviation * 100:+.1f} pp", style[line.status])
    out: list[RenderableType] = [table]
    if report.in_flight:
        flying = Table(title="transfers in flight")
        for col in ("transfer", "route", "state", "in (raw)", "out (raw)", "deposit tx", "note"):
            flying.add_column(col, overflow="fold")
        for t in report.in_flight:
            flying.add_row(t.id, t.route, t.state.value, str(t.deposit.input_amount), str(t.deposit.output_amount),
                           t.deposit.tx_hash, escape(t.note))
        out.append(flying)
    return out


def register(app: typer.Typer) -> None:
    @app.command("inventory")
    def inventory(config: ConfigOption = None, json_output: JsonOption = False) -> None:
        """Per chain and token: held, arriving, target share and deviation; transfers in flight."""
        with command_errors():
            cfg = resolve_config(config)
            ctx = open_context(cfg, start_redis=False)  # it observes: it never starts a server
            with working("reading every chain and the ledger's transfers ..."):
                connections, down = connect_all(cfg, ctx.execution.rpc_timeout_s, allow_partial=True)
                snap = take_snapshot(cfg, connections, ctx.registry, allow_partial=True, clock=ctx.clock,
                                     verifier=ctx.verifier)
                try:
                    report = build_inventory(ctx, snap, chains_down={**snap.failed, **down})
                except LedgerUnavailableError as exc:
                    raise CommandFailedError(f"{exc}; `crosshedge inventory` does not start the embedded Redis (a "
                                             "worker or `crosshedge runs` does)") from None
            warn_failed(report.chains_down)
            emit(report, json_output, *inventory_tables(report))


__all__ = ["inventory_tables", "register"]
