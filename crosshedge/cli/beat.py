"""`crosshedge beat`: Celery beat, sending a policy tick every ``policy.check_interval_s`` for the workers to run.

Each tick first asks the workers to resume any stalled run, then (if no run is in progress and the kill switch is
clear) snapshots every chain, asks the policy, and starts a run when any underlying is outside its band. The run
id is the tick's time slot, so a restarted (or a second) beat never starts the same run twice. ``--once`` runs
one tick here and prints what it did.

Usage::

    crosshedge beat
    crosshedge beat --once --json
"""

from __future__ import annotations

from typing import Annotated

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit
from orchestrator import check_not_halted, create_app, open_context, policy_tick


def register(app: typer.Typer) -> None:
    @app.command("beat")
    def beat(
        config: ConfigOption = None,
        once: Annotated[bool, typer.Option("--once", help="One policy check here, then exit.")] = False,
        loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
        json_output: JsonOption = False,
    ) -> None:
        """Send a policy tick on the schedule (workers run it and start runs)."""
        with command_errors():
            cfg = resolve_config(config)
            celery = create_app(cfg)
            if once:
                ctx = open_context(cfg)
                result = policy_tick(ctx, celery)
                emit(result, json_output)
                check_not_halted(ctx.ledger)  # halted: the tick did nothing, and the exit code says why
                return
            schedule = cfg.redis_dir / "celerybeat-schedule"
            celery.Beat(loglevel=loglevel, schedule=str(schedule)).run()


__all__ = ["register"]
