"""`crosshedge worker`: a Celery worker for the run stages and/or (chain, wallet) lanes.

Usage::

    crosshedge worker                          # every queue: stages + all lanes (dev, demo, tests)
    crosshedge worker --lane ethereum -c 1     # one lane, concurrency 1 (production: one per lane)
    crosshedge worker --stages-only            # snapshot/plan/reconcile only
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer
from celery.signals import worker_ready
from kombu.exceptions import OperationalError

from crosshedge.cli.common import ConfigOption, resolve_config
from crosshedge.cli.output import command_errors
from orchestrator import (
    DEFAULT_QUEUE,
    create_app,
    lane_name,
    lane_queue,
    load_signer,
    preload_signers,
    start_metrics_server,
    terminal_prompt,
)


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        config: ConfigOption = None,
        lane: Annotated[list[str] | None,
                        typer.Option("--lane", help="Chain whose lane to serve (repeatable).")] = None,
        stages_only: Annotated[bool, typer.Option("--stages-only", help="Serve only the stage queue.")] = False,
        concurrency: Annotated[int | None,
                               typer.Option("--concurrency", help="Worker processes (default: one per queue).")] = None,
        loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
        name: Annotated[str, typer.Option("--name", "-n", help="Worker node name.")] = "crosshedge",
        metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Prometheus port (0: off).")] = None,
    ) -> None:
        """Start a Celery worker (keys are unlocked here, before the pool forks; they never leave the host)."""
        with command_errors():
            cfg = resolve_config(config)
            celery = create_app(cfg)
            chains = lane or ([] if stages_only else list(cfg.chains))
            queues = [lane_queue(lane_name(c, cfg.chains[c].wallet)) for c in chains]
            if not lane:
                queues.insert(0, DEFAULT_QUEUE)
            wallets = {cfg.chains[c].wallet for c in chains}
            preload_signers({w: load_signer(w, cfg.wallets[w], terminal_prompt) for w in wallets})
            port = cfg.raw.execution.metrics_port if metrics_port is None else metrics_port
            if port:
                start_metrics_server(port, celery.conf.crosshedge_broker_url, cfg.raw.execution.key_prefix)

            def _recover(**_: object) -> None:
                celery.send_task("crosshedge.recover", queue=DEFAULT_QUEUE)

            def _watchdog() -> None:
                # Resume runs whose next stage was lost (e.g. a stage died between ledger write and enqueue).
                while True:
                    time.sleep(cfg.raw.execution.recover_interval_s)
                    try:
                        _recover()
                    except (OSError, ConnectionError, OperationalError):
                        continue

            worker_ready.connect(_recover, weak=False)
            if not lane:
                threading.Thread(target=_watchdog, name="crosshedge-recover", daemon=True).start()
        argv = ["worker", "-Q", ",".join(queues), "-c", str(concurrency or len(queues)), "-l", loglevel,
                "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-E"]
        celery.worker_main(argv)
