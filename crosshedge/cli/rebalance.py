"""`crosshedge rebalance [--dry-run] [--json]`: one rebalance run now, executed by the workers.

``--dry-run`` snapshots, decides and plans in this process and prints the plan; nothing is recorded or signed.
Otherwise the run is created in the ledger (one at a time), handed to the workers, and followed to the end.

Usage::

    crosshedge rebalance --dry-run --json
    crosshedge rebalance --plan plan.json      # execute a saved plan (every safety check still applies)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from crosshedge.errors import ExecutionError, HaltedError, InputError


def follow(ledger: Any, run_id: str, timeout_s: float, poll_s: float = 0.1) -> str:
    """Wait until the run (and its follow-ups) reach a terminal state; returns the last run id."""
    from orchestrator.ledger import TERMINAL_RUN_STATES

    deadline = time.monotonic() + timeout_s
    current = run_id
    while time.monotonic() < deadline:
        run = ledger.run(current)
        if run.state in TERMINAL_RUN_STATES:
            report = ledger.blob(current, "report") or {}
            nxt = report.get("followup")
            if not nxt:
                return current
            try:
                ledger.run(nxt)
                current = nxt
            except Exception:
                pass
        time.sleep(poll_s)
    raise ExecutionError(f"run {current}: not finished after {timeout_s:g}s (are workers running? `crosshedge worker`)")


def register(app: typer.Typer) -> None:
    @app.command("rebalance")
    def rebalance(
        config: ConfigOption = None,  # type: ignore[assignment]
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; sign nothing.")] = False,
        plan_file: Annotated[Path | None, typer.Option("--plan", help="Execute this saved Plan JSON.")] = None,
        wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to the end.")] = True,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the run.")] = 600.0,
        json_output: JsonOption = False,
    ) -> None:
        """Run the hedge now: snapshot, risk, policy, plan, then execute, confirm and reconcile on the workers."""
        from adapters.registry import default_registry
        from crosshedge.cli.runs import run_summary
        from optimizer.problem import Plan
        from orchestrator import run as stages
        from orchestrator.celery_app import DEFAULT_QUEUE, create_app
        from orchestrator.safety import check_not_halted
        from orchestrator.snapshot import connect_all, take_snapshot

        with command_errors():
            cfg = resolve_config(config)
            if dry_run:
                from orchestrator.assess import decide_and_plan

                connections, _ = connect_all(cfg, cfg.raw.execution.rpc_timeout_s, allow_partial=True)
                snap = take_snapshot(cfg, connections, default_registry(), allow_partial=True)
                registry = default_registry()
                decisions, _problem, plan = decide_and_plan(cfg, registry, snap, connections, set(), set())
                emit({"decisions": decisions, "plan": plan, "failed_chains": snap.failed}, json_output)
                return
            given = None
            if plan_file is not None:
                try:
                    given = Plan.model_validate_json(plan_file.read_text())
                except (OSError, ValueError) as exc:
                    raise InputError(f"{plan_file}: not a readable Plan JSON ({exc})") from None
            ctx = stages.open_context(cfg)
            check_not_halted(ctx.ledger)
            run_id = stages.start_run(ctx, kind="manual", plan_input=given)
            create_app(cfg).send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
            if not wait:
                emit({"run_id": run_id, "state": "queued"}, json_output)
                return
            with console.status(f"run {run_id}: waiting for the workers ..."):
                last = follow(ctx.ledger, run_id, timeout)
            summary = run_summary(ctx.ledger, last)
            emit(summary, json_output)
            if summary["halted"]:
                raise HaltedError(f"run {last}: {summary['halted']}")
