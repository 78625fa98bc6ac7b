"""`crosshedge worker`: a Celery worker for the run stages and/or (chain, wallet) lanes.

The worker's main process serves Prometheus metrics for its whole process tree: the pool's children write their
values under a multiprocess directory of the tree's own (``$PROMETHEUS_MULTIPROC_DIR`` if set, else a fresh
temporary one), emptied at start and locked so two workers never share one. That variable must be set before
prometheus_client is imported, so this module imports ``orchestrator`` only inside the command. Each worker needs a
port of its own (``--metrics-port``, default ``execution.metrics_port``, 0 turns it off); a busy port is one
sentence and exit code 1. ``--log-format json`` writes one JSON object per line, Celery's own lines included.
``-c`` is ``--config`` here as everywhere; the concurrency has no short flag.

Usage::

    crosshedge worker                                          # every queue: stages + all lanes (dev, demo, tests)
    crosshedge worker --lane ethereum --concurrency 1 --metrics-port 9465   # production: one worker per lane
    crosshedge worker --stages-only --log-format json          # snapshot/plan/reconcile only
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crosshedge.cli.common import ConfigOption, resolve_config
from crosshedge.cli.output import command_errors
from crosshedge.config import Config
from crosshedge.errors import ConfigError

if TYPE_CHECKING:
    from celery import Celery

#: prometheus-client picks its multiprocess mode from this variable when it is first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("crosshedge.worker")


class LogFormatChoice(StrEnum):
    # orchestrator.LogFormat cannot be imported here before the metrics directory is set (see module docstring).
    JSON = "json"
    TEXT = "text"


def prepare_metrics_dir() -> Path:
    """Give this process tree its own multiprocess metrics directory, emptied and locked; sets the variable.

    A directory another live worker holds is a ConfigError (their counters would be mixed and wiped).
    """
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="crosshedge-metrics-"))
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"{MULTIPROC_ENV}={path}: cannot use it for metrics ({exc.strerror})") from None
    try:
        # Held (through the inherited descriptor) until the last process of this tree exits.
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(f"{MULTIPROC_ENV}={path}: in use by another running worker; give each worker its own "
                          "directory") from None
    for stale in path.glob("*.db"):  # a previous run's values: this tree counts from zero
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    if not given:
        atexit.register(_remove_when_owner, path, os.getpid())
    return path


def _remove_when_owner(path: Path, owner: int) -> None:
    # Forked pool children inherit atexit handlers: only the process that made the directory removes it.
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def wallet_secrets(config: Config, wallets: Iterable[str]) -> list[str]:
    """What the logs must never show: the wallets' keys and keystore passwords (environment or password file)."""
    out: list[str] = []
    for name in wallets:
        wallet = config.wallets[name]
        out += [os.environ[env] for env in (wallet.key_env, wallet.password_env) if env and os.environ.get(env)]
        if wallet.password_file is not None and wallet.password_file.is_file():
            out.append(wallet.password_file.read_text().strip())
    return out


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        config: ConfigOption = None,
        lane: Annotated[list[str] | None,
                        typer.Option("--lane", help="Chain whose lane to serve (repeatable).")] = None,
        stages_only: Annotated[bool, typer.Option("--stages-only", help="Serve only the stage queue.")] = False,
        concurrency: Annotated[int | None, typer.Option(
            "--concurrency", min=1, help="Worker processes (default: one per queue). No short flag: -c is --config.",
        )] = None,
        loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
        name: Annotated[str, typer.Option("--name", "-n", help="Worker node name.")] = "crosshedge",
        metrics_port: Annotated[int | None, typer.Option(
            "--metrics-port", min=0, max=65535,
            help="Prometheus port for this worker (default: execution.metrics_port; 0: off).")] = None,
        metrics_host: Annotated[str, typer.Option(
            "--metrics-host", envvar="CROSSHEDGE_METRICS_HOST", help="Address the metrics endpoint binds.",
        )] = "127.0.0.1",
        log_format: Annotated[LogFormatChoice, typer.Option(
            "--log-format", envvar="CROSSHEDGE_LOG_FORMAT", help="json: one object per line (for log shippers).",
        )] = LogFormatChoice.TEXT,
    ) -> None:
        """Start a Celery worker (keys are unlocked here, before the pool forks; they never leave the host)."""
        with command_errors():
            cfg = resolve_config(config)
            port = cfg.raw.execution.metrics_port if metrics_port is None else metrics_port
            if port:
                prepare_metrics_dir()  # before orchestrator (and so prometheus_client) is imported
            chains = lane or ([] if stages_only else list(cfg.chains))
            unknown = [c for c in chains if c not in cfg.chains]
            if unknown:
                raise ConfigError(f"{cfg.source}: --lane {unknown[0]}: no such chain (chains: {', '.join(cfg.chains)})")
            celery, argv = _prepare(cfg, chains, serve_stages=not lane, port=port, host=metrics_host,
                                    log_format=log_format, loglevel=loglevel, name=name, concurrency=concurrency)
        celery.worker_main(argv)


def _prepare(cfg: Config, chains: list[str], *, serve_stages: bool, port: int, host: str,
             log_format: LogFormatChoice, loglevel: str, name: str,
             concurrency: int | None) -> tuple[Celery, list[str]]:
    """Logging, the metrics endpoint (bound first: a busy port stops here), the app, keys; the worker's argv."""
    from orchestrator import (
        DEFAULT_QUEUE,
        Ledger,
        configure_logging,
        connect_worker_signals,
        create_app,
        lane_name,
        lane_queue,
        load_signer,
        preload_signers,
        redis_client,
        start_metrics_server,
        terminal_prompt,
    )

    wallets = sorted({cfg.chains[c].wallet for c in chains})
    configure_logging(log_format.value, loglevel, secrets=wallet_secrets(cfg, wallets))
    server = start_metrics_server(port, addr=host) if port else None
    celery = create_app(cfg)
    if server is not None:
        server.add_ledger(Ledger(redis_client(celery.conf.crosshedge_broker_url), prefix=cfg.raw.execution.key_prefix))
        connect_worker_signals()
    queues = [lane_queue(lane_name(c, cfg.chains[c].wallet)) for c in chains]
    if serve_stages:
        queues.insert(0, DEFAULT_QUEUE)
    preload_signers({w: load_signer(w, cfg.wallets[w], terminal_prompt) for w in wallets})
    _schedule_recovery(celery, DEFAULT_QUEUE, cfg.raw.execution.recover_interval_s, watchdog=serve_stages)
    workers = concurrency or len(queues)
    argv = ["worker", "-Q", ",".join(queues), "-c", str(workers), "-l", loglevel, "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "-E"]
    if log_format is LogFormatChoice.JSON:
        argv.insert(0, "--quiet")  # Celery's banner is not JSON; the same facts go in one line instead
        log.info("worker %s starting: queues %s, concurrency %d, metrics %s", name, ",".join(queues), workers,
                 f"{host}:{port}" if port else "off")
    return celery, argv


def _schedule_recovery(celery: Celery, queue: str, interval_s: float, watchdog: bool) -> None:
    """Resume stalled runs when the worker is ready and (stage workers) every ``interval_s``: a stage can die
    between its ledger write and enqueueing the next stage."""
    from celery.signals import worker_ready
    from kombu.exceptions import OperationalError

    def _recover(**_: object) -> None:
        celery.send_task("crosshedge.recover", queue=queue)

    def _loop() -> None:
        while True:
            time.sleep(interval_s)
            try:
                _recover()
            except (OSError, ConnectionError, OperationalError):
                continue  # Redis is restarting: the next sweep sends it

    worker_ready.connect(_recover, weak=False)
    if watchdog:
        threading.Thread(target=_loop, name="crosshedge-recover", daemon=True).start()


__all__ = ["MULTIPROC_ENV", "LogFormatChoice", "prepare_metrics_dir", "register", "wallet_secrets"]
