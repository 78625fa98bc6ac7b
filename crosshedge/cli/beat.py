"""`crosshedge beat`: Celery beat, sending a policy tick every ``policy.check_interval_s`` for the workers to run.

Each tick first asks the workers to resume any stalled run, then (if no run is in progress and the kill switch is
clear) snapshots every chain, asks the policy, and starts a run when any underlying is outside its band. The run
id is the tick's time slot, so a restarted (or a second) beat never starts the same run twice. ``--once`` runs
one tick here and prints what it did.

Beat is one process, so its metrics stay in memory (a ``$PROMETHEUS_MULTIPROC_DIR`` in the environment is dropped:
that directory belongs to a worker). ``--metrics-port`` serves them with the ledger-derived series (halted, last
successful run, open runs) and a heartbeat that moves on every scheduler tick: a beat whose loop is stuck shows a
stale heartbeat, a dead one a failed scrape. ``--log-format json`` writes one JSON object per line.

Usage::

    crosshedge beat --metrics-port 9470 --log-format json
    crosshedge beat --once --json
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit
from crosshedge.cli.worker import MULTIPROC_ENV, LogFormatChoice


def register(app: typer.Typer) -> None:
    @app.command("beat")
    def beat(
        config: ConfigOption = None,
        once: Annotated[bool, typer.Option("--once", help="One policy check here, then exit.")] = False,
        loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
        metrics_port: Annotated[int, typer.Option(
            "--metrics-port", min=0, max=65535, help="Prometheus port for beat (0: off; not shared with a worker).",
        )] = 0,
        metrics_host: Annotated[str, typer.Option(
            "--metrics-host", envvar="CROSSHEDGE_METRICS_HOST", help="Address the metrics endpoint binds.",
        )] = "127.0.0.1",
        log_format: Annotated[LogFormatChoice, typer.Option(
            "--log-format", envvar="CROSSHEDGE_LOG_FORMAT", help="json: one object per line (for log shippers).",
        )] = LogFormatChoice.TEXT,
        json_output: JsonOption = False,
    ) -> None:
        """Send a policy tick on the schedule (workers run it and start runs)."""
        os.environ.pop(MULTIPROC_ENV, None)  # before prometheus_client is imported (through orchestrator)
        from orchestrator import (
            Ledger,
            check_not_halted,
            configure_logging,
            create_app,
            heartbeat,
            open_context,
            policy_tick,
            redis_client,
            start_metrics_server,
        )

        with command_errors():
            cfg = resolve_config(config)
            configure_logging(log_format.value, loglevel)
            if once:
                ctx = open_context(cfg)
                result = policy_tick(ctx, create_app(cfg))
                emit(result, json_output)
                check_not_halted(ctx.ledger)  # halted: the tick did nothing, and the exit code says why
                return
            server = start_metrics_server(metrics_port, addr=metrics_host) if metrics_port else None
            celery = create_app(cfg)
            if server is not None:
                server.add_ledger(Ledger(redis_client(celery.conf.crosshedge_broker_url),
                                         prefix=cfg.raw.execution.key_prefix))
            schedule = cfg.redis_dir / "celerybeat-schedule"
            celery.Beat(loglevel=loglevel, schedule=str(schedule), scheduler_cls=_scheduler(heartbeat),
                        quiet=log_format is LogFormatChoice.JSON).run()


def _scheduler(beat: Any) -> type:
    """Celery's persistent scheduler, marking the heartbeat on every tick (at most every beat_max_loop_interval)."""
    from celery.beat import PersistentScheduler

    class HeartbeatScheduler(PersistentScheduler):  # type: ignore[misc]
        def tick(self, *args: Any, **kwargs: Any) -> Any:
            interval = super().tick(*args, **kwargs)
            beat()
            return interval

    return HeartbeatScheduler


__all__ = ["register"]
