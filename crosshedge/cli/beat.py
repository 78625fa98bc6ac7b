"""`crosshedge beat`: check the policy every ``policy.check_interval_s`` and start a run when it says trade.

Each tick first asks the workers to resume any stalled run, then (if no run is in progress and the kill switch is
clear) snapshots every chain, asks the policy, and starts a run when any underlying is outside its band. The run
id is the tick's time slot, so a restarted beat never starts the same run twice.

Usage::

    crosshedge beat
    crosshedge beat --once --json
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit


def tick(ctx: Any, celery: Any) -> dict[str, Any]:
    """One policy check; returns what happened."""
    from crosshedge.errors import CircuitBreakerError, HaltedError, PlanError, RpcError
    from orchestrator import run as stages
    from orchestrator.assess import decisions_for
    from orchestrator.celery_app import DEFAULT_QUEUE
    from orchestrator.safety import RunLock, check_not_halted
    from orchestrator.snapshot import take_snapshot

    celery.send_task("crosshedge.recover", queue=DEFAULT_QUEUE)
    holder = RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s).holder()
    if holder:
        return {"action": "wait", "reason": f"run {holder} in progress"}
    try:
        check_not_halted(ctx.ledger)
        connections = {}
        for chain in ctx.chains():
            try:
                connections[chain] = ctx.w3(chain)
            except RpcError:
                ctx.drop_connection(chain)
        snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True)
        decisions = decisions_for(ctx.config, ctx.registry, snap, connections)
    except (HaltedError, PlanError) as exc:
        return {"action": "none", "reason": str(exc)}
    trading = [d for d in decisions if d.trade]
    if not trading:
        return {"action": "none", "reason": "; ".join(d.reason for d in decisions) or "no exposure"}
    run_id = stages.make_run_id("beat", ctx.clock(), ctx.config.raw.policy.check_interval_s)
    try:
        stages.start_run(ctx, kind="beat", run_id=run_id)
    except CircuitBreakerError as exc:
        return {"action": "wait", "reason": str(exc)}
    celery.send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
    return {"action": "run", "run_id": run_id, "reason": "; ".join(d.reason for d in trading)}


def register(app: typer.Typer) -> None:
    @app.command("beat")
    def beat(
        config: ConfigOption = None,  # type: ignore[assignment]
        once: Annotated[bool, typer.Option("--once", help="One check, then exit.")] = False,
        metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Prometheus port (0: off).")] = None,
        json_output: JsonOption = False,
    ) -> None:
        """Check the policy on a schedule and start runs (workers execute them)."""
        from orchestrator import run as stages
        from orchestrator.celery_app import create_app
        from orchestrator.metrics import start_metrics_server

        with command_errors():
            cfg = resolve_config(config)
            ctx = stages.open_context(cfg)
            celery = create_app(cfg)
            port = cfg.raw.execution.metrics_port if metrics_port is None else metrics_port
            if port and not once:
                start_metrics_server(port, celery.conf.crosshedge_broker_url, cfg.raw.execution.key_prefix)
            interval = cfg.raw.policy.check_interval_s
            while True:
                started = time.monotonic()
                result = tick(ctx, celery)
                if once:
                    emit(result, json_output)
                    return
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {result['action']}: {result.get('reason', '')}")
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
