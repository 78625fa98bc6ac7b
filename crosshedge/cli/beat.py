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
from typing import Annotated

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from orchestrator import create_app, open_context, policy_tick, start_metrics_server


def register(app: typer.Typer) -> None:
    @app.command("beat")
    def beat(
        config: ConfigOption = None,
        once: Annotated[bool, typer.Option("--once", help="One check, then exit.")] = False,
        metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Prometheus port (0: off).")] = None,
        json_output: JsonOption = False,
    ) -> None:
        """Check the policy on a schedule and start runs (workers execute them)."""
        with command_errors():
            cfg = resolve_config(config)
            ctx = open_context(cfg)
            celery = create_app(cfg)
            port = cfg.raw.execution.metrics_port if metrics_port is None else metrics_port
            if port and not once:
                start_metrics_server(port, celery.conf.crosshedge_broker_url, cfg.raw.execution.key_prefix)
            interval = cfg.raw.policy.check_interval_s
            while True:
                started = time.monotonic()
                result = policy_tick(ctx, celery)
                if once:
                    emit(result, json_output)
                    return
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {result.action}: {result.reason}")
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
