"""`crosshedge redis status|stop`: see and stop the embedded Redis server (the ledger and the Celery broker).

Every crosshedge command and worker attaches to (or starts) one redis-server per ``execution.redis_dir``; it keeps
running after the command ends, so the workers, the CLI and the demo share it. ``status`` shows it (or the
external ``CROSSHEDGE_REDIS_URL``, credentials redacted); ``stop`` shuts it down with SHUTDOWN through its socket
(the AOF is flushed) and waits for it to exit. crosshedge does not own an external Redis: ``stop`` refuses it.

Exit codes: 0 ok (including "stopped"), 1 an error, or a status that needs an operator (stalled, more than one
server on the directory, an answering server that is not the recorded one, an unreachable external Redis).

Usage::

    crosshedge redis status
    crosshedge redis status --json
    crosshedge redis stop
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from adapters import redact_url
from crosshedge.cli.common import ConfigOption, JsonOption, config_path
from crosshedge.cli.output import EXIT_ERROR, command_errors, emit, err_console
from crosshedge.config import load_config
from crosshedge.errors import ConfigError
from orchestrator import REDIS_URL_ENV, EmbeddedRedis, RedisStatus, StopReport, external_status, owned_server

redis_app = typer.Typer(help="The embedded Redis server: status and stop.", no_args_is_help=True)


def _target(config: ConfigOption) -> tuple[EmbeddedRedis | None, str]:
    """The embedded server the workers use (None for an external Redis) and the URL they use."""
    cfg = load_config(config_path(config))
    server = owned_server(cfg.redis_dir)
    return server, server.url if server is not None else os.environ.get(REDIS_URL_ENV, "")


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / 1048576:.1f} MiB"


def status_table(status: RedisStatus) -> Table:
    table = Table(title=f"{status.kind} Redis", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [("state", status.state), ("url", status.url), ("directory", status.directory or "-"),
            ("pid", str(status.pid or "-")), ("run id", status.run_id or "-"),
            ("recorded run id", status.recorded_run_id or "-"),
            ("clients", "-" if status.connected_clients is None else str(status.connected_clients))]
    if status.kind == "embedded":
        rows += [("AOF", _mib(status.aof_bytes)),
                 ("log", f"{_mib(status.log_bytes)} (rotated past {_mib(status.log_cap_bytes)})"),
                 ("servers", ", ".join(map(str, status.servers)) or "none")]
    for name, value in rows:
        table.add_row(name, value)
    return table


def stop_table(report: StopReport) -> Table:
    table = Table(title="embedded Redis stopped" if report.stopped else "embedded Redis was not running",
                  show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in (("directory", report.directory), ("method", report.method), ("run id", report.run_id or "-"),
                        ("stopped", ", ".join(map(str, report.stopped)) or "none"),
                        ("killed (SIGKILL)", ", ".join(map(str, report.killed)) or "none")):
        table.add_row(name, value)
    return table


@redis_app.command("status")
def status(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Is the embedded Redis running: pid, run id, socket, AOF and log size, clients (exit 1 if it needs you)."""
    with command_errors():
        server, url = _target(config)
        report = server.status() if server is not None else external_status(url)
        emit(report, json_output, status_table(report))
    if report.problem is not None:
        err_console.print(f"[bold red]error:[/] {escape(report.problem)}", highlight=False)
        raise typer.Exit(EXIT_ERROR)


@redis_app.command("stop")
def stop(
    config: ConfigOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for it to exit.")] = 10.0,
    json_output: JsonOption = False,
) -> None:
    """Shut the embedded Redis down (SHUTDOWN flushes the AOF) and wait for it to exit."""
    with command_errors():
        server, url = _target(config)
        if server is None:
            raise ConfigError(f"{REDIS_URL_ENV}: {redact_url(url)} is an external Redis; crosshedge does not own "
                              "that server and will not stop it")
        report = server.stop(timeout_s=timeout)
        emit(report, json_output, stop_table(report))


def register(app: typer.Typer) -> None:
    app.add_typer(redis_app, name="redis")
