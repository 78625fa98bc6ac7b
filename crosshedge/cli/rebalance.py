"""`crosshedge rebalance [--dry-run] [--json]`: one rebalance run now, executed by the workers.

``--dry-run`` snapshots, decides and plans in this process and prints the plan; nothing is recorded or signed.
Otherwise the run is created in the ledger (one at a time), handed to the workers, and followed to the end.

Usage::

    crosshedge rebalance --dry-run --json
    crosshedge rebalance --plan plan.json      # execute a saved plan (every safety check still applies)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters import default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from crosshedge.errors import HaltedError, InputError
from optimizer import Plan
from orchestrator import (
    DEFAULT_QUEUE,
    check_not_halted,
    connect_all,
    create_app,
    decide_and_plan,
    open_context,
    run_summary,
    start_run,
    take_snapshot,
    wait_for_run,
)


def register(app: typer.Typer) -> None:
    @app.command("rebalance")
    def rebalance(
        config: ConfigOption = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; sign nothing.")] = False,
        plan_file: Annotated[Path | None, typer.Option("--plan", help="Execute this saved Plan JSON.")] = None,
        wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to the end.")] = True,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the run.")] = 600.0,
        json_output: JsonOption = False,
    ) -> None:
        """Run the hedge now: snapshot, risk, policy, plan, then execute, confirm and reconcile on the workers."""
        with command_errors():
            cfg = resolve_config(config)
            if dry_run:
                registry = default_registry()
                connections, _ = connect_all(cfg, cfg.raw.execution.rpc_timeout_s, allow_partial=True)
                snap = take_snapshot(cfg, connections, registry, allow_partial=True)
                decisions, _problem, plan = decide_and_plan(cfg, registry, snap, connections, set(), set())
                emit({"decisions": decisions, "plan": plan, "failed_chains": snap.failed}, json_output)
                return
            given = None
            if plan_file is not None:
                try:
                    given = Plan.model_validate_json(plan_file.read_text())
                except (OSError, ValueError) as exc:
                    raise InputError(f"{plan_file}: not a readable Plan JSON ({exc})") from None
            ctx = open_context(cfg)
            check_not_halted(ctx.ledger)
            run_id = start_run(ctx, kind="manual", plan_input=given)
            create_app(cfg).send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
            if not wait:
                emit({"run_id": run_id, "state": "queued"}, json_output)
                return
            with console.status(f"run {run_id}: waiting for the workers ..."):
                last = wait_for_run(ctx.ledger, run_id, timeout)
            summary = run_summary(ctx.ledger, last)
            emit(summary, json_output)
            if summary.run.halted:
                raise HaltedError(f"run {last}: {summary.run.halted}")
