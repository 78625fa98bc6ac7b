"""`crosshedge runs [--json]`: run history from the ledger: trades, tx hashes, predicted vs realised cost, residual.

Usage::

    crosshedge runs --limit 10
    crosshedge runs --run manual-20250101T000000 --json
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit
from orchestrator import IntentKind, RunSummary, open_ledger, run_summary


def runs_table(rows: list[RunSummary]) -> Table:
    table = Table(title="crosshedge runs")
    for col in ("run", "state", "flags", "trades", "tx hashes", "predicted $", "realised $", "residual Δ", "reason"):
        table.add_column(col, overflow="fold")
    for row in rows:
        rep = row.report
        flags = " ".join(f for f, on in (("partial", row.run.partial), ("halted", row.run.halted)) if on)
        hashes = " ".join((i.tx_hash or "")[:10] for i in row.intents if i.kind is IntentKind.SWAP)
        table.add_row(row.run.id, row.run.state.value, flags, str(len(rep.trades) if rep else 0), hashes,
                      f"{rep.predicted_cost_usd:,.2f}" if rep else "", f"{rep.realised_cost_usd:,.2f}" if rep else "",
                      " ".join(f"{k}:{v:+.3f}" for k, v in rep.residual_delta.items()) if rep else "",
                      row.run.error or row.run.halted)
    return table


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs(
        config: ConfigOption = None,
        run: Annotated[str | None, typer.Option("--run", help="Show one run in full.")] = None,
        limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
        json_output: JsonOption = False,
    ) -> None:
        """Recent runs (newest first) with trades, costs, residual delta and why a run ended early."""
        with command_errors():
            ledger = open_ledger(resolve_config(config))
            ids = [run] if run else [r.id for r in ledger.runs(limit)]
            rows = [run_summary(ledger, i) for i in ids]
            emit(rows, json_output, runs_table(rows))
