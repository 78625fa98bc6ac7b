"""`crosshedge runs [--json]`: run history from the ledger: trades, tx hashes, predicted vs realised cost, residual.

Usage::

    crosshedge runs --limit 10
    crosshedge runs --run manual-20250101T000000 --json
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit


def run_summary(ledger: Any, run_id: str) -> dict[str, Any]:
    """One run as a plain dict: record, report (when reconciled), intents with their tx hashes, events."""
    record = ledger.run(run_id)
    intents = [{"id": r.spec.id, "kind": r.spec.kind, "chain": r.spec.chain, "venue": r.spec.venue,
                "side": r.spec.side, "state": r.state, "nonce": r.nonce, "tx_hash": r.tx_hash,
                "attempts": len(r.attempts), "error": r.error} for r in ledger.intents(run_id)]
    return {**record.model_dump(mode="json"), "report": ledger.blob(run_id, "report"), "intents": intents,
            "events": ledger.events(run_id)}


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs(
        config: ConfigOption = None,  # type: ignore[assignment]
        run: Annotated[str | None, typer.Option("--run", help="Show one run in full.")] = None,
        limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
        json_output: JsonOption = False,
    ) -> None:
        """Recent runs (newest first) with trades, costs and residual delta."""
        from orchestrator.run import open_context

        with command_errors():
            ledger = open_context(resolve_config(config)).ledger
            ids = [run] if run else [r.id for r in ledger.runs(limit)]
            rows = [run_summary(ledger, i) for i in ids]
            table = Table(title="crosshedge runs")
            for col in ("run", "state", "flags", "trades", "tx hashes", "predicted $", "realised $", "residual Δ"):
                table.add_column(col)
            for row in rows:
                rep = row["report"] or {}
                flags = " ".join(f for f, on in (("partial", row["partial"]), ("halted", row["halted"])) if on)
                hashes = " ".join((i["tx_hash"] or "")[:10] for i in row["intents"] if i["kind"] == "swap")
                table.add_row(row["id"], row["state"], flags, str(len(rep.get("trades", []))), hashes,
                              f"{rep.get('predicted_cost_usd', 0):,.2f}", f"{rep.get('realised_cost_usd', 0):,.2f}",
                              " ".join(f"{k}:{v:+.3f}" for k, v in rep.get("residual_delta", {}).items()))
            emit(rows, json_output, table)
