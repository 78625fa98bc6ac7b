"""`crosshedge halt` / `crosshedge resume`: the kill switch in the ledger, checked before every signature.

An acknowledgement means the kill switch was read back from the server the workers use: the embedded Redis that
owns the configured directory (verified by its recorded run_id), or the external ``CROSSHEDGE_REDIS_URL``. A
Redis that is stalled, loading past ``--timeout`` or unreachable is never replaced by another server and never
reported as halted: the command exits 1 with one sentence, and the operator retries or stops the workers.

Usage::

    crosshedge halt --reason "desk review"
    crosshedge halt --timeout 2 --json         # give up after 2 s of a silent Redis (exit 1, nothing printed as halted)
    crosshedge resume
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import typer
from rich.markup import escape

from adapters import redact_url
from crosshedge.cli.common import ConfigOption, JsonOption, config_path
from crosshedge.cli.output import command_errors, console, emit
from crosshedge.config import load_config
from crosshedge.errors import LedgerError, LedgerUnavailableError
from orchestrator import (
    EmbeddedRedis,
    EmbeddedRedisBusyError,
    KillSwitch,
    Ledger,
    embedded_identity,
    owned_server,
    redis_client,
    resolve_redis_url,
)

TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for Redis; past them nothing is acknowledged.")
]


class Target(NamedTuple):
    """The Redis the workers use: its URL, the embedded server behind it (None if external), the key prefix."""

    url: str
    server: EmbeddedRedis | None
    prefix: str


def target_for(config: ConfigOption) -> Target:
    # The kill switch needs only the execution section: no devnet or chain has to be up to stop trading.
    cfg = load_config(config_path(config))
    server = owned_server(cfg.redis_dir)
    url = server.url if server is not None else resolve_redis_url(cfg.redis_dir, start=False)
    return Target(url=url, server=server, prefix=cfg.raw.execution.key_prefix)


def verified_switch(target: Target, timeout_s: float) -> KillSwitch:
    """The kill switch on ``target``, after checking the server that answers is the directory's own.

    The embedded server is started if none runs (under its lock: never a second one); one that does not answer
    within ``timeout_s`` raises LedgerUnavailableError, and nothing is written to it.
    """
    if target.server is not None:
        target.server.ensure_running(timeout_s=timeout_s, load_timeout_s=timeout_s)
    ledger = Ledger(redis_client(target.url, timeout_s=timeout_s), prefix=target.prefix,
                    expected_server=embedded_identity(target.url))
    ledger.verify_server()  # before any write: a stale or foreign server gets nothing
    return KillSwitch(ledger)


def unconfirmed(action: str, target: Target, exc: LedgerUnavailableError) -> LedgerUnavailableError:
    """One sentence: what was not acknowledged, why (naming the server), and what to do."""
    # The client library's text may hold sentences of its own ("... 6379. Connection refused."): keep one.
    why = str(exc).rstrip(".").replace(". ", ", ")
    if not isinstance(exc, EmbeddedRedisBusyError):  # the ledger's sentence does not name the server
        why = f"Redis at {redact_url(target.url)} is unreachable or did not answer in time ({why})"
    return LedgerUnavailableError(f"{action} not confirmed, nothing is acknowledged: {why}; run `crosshedge "
                                  f"{action}` again once `crosshedge redis status` shows the server running")


def register(app: typer.Typer) -> None:
    @app.command("halt")
    def halt(
        config: ConfigOption = None,
        reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown to whoever resumes).")] = "manual halt",
        timeout: TimeoutOption = 5.0,
        json_output: JsonOption = False,
    ) -> None:
        """Set the kill switch: no transaction is signed until `crosshedge resume`."""
        with command_errors():
            target = target_for(config)
            try:
                switch = verified_switch(target, timeout)
                switch.halt(reason)
                read_back = switch.reason()  # verifies the server again, then reads the key the workers check
                server = switch.ledger.server_id()
            except LedgerUnavailableError as exc:
                raise unconfirmed("halt", target, exc) from None
            if read_back is None:
                raise LedgerError("halt not confirmed: the kill switch read back empty right after it was set "
                                  "(another operator resumed?); run `crosshedge halt` again")
            if json_output:
                emit({"halted": True, "reason": read_back, "server": server}, json_output)
            else:
                console.print(f"[bold yellow]halted[/]: {escape(read_back)} (Redis server {server[:12]})",
                              highlight=False)

    @app.command("resume")
    def resume(config: ConfigOption = None, timeout: TimeoutOption = 5.0, json_output: JsonOption = False) -> None:
        """Clear the kill switch."""
        with command_errors():
            target = target_for(config)
            try:
                switch = verified_switch(target, timeout)
                was = switch.resume()
                read_back = switch.reason()
                server = switch.ledger.server_id()
            except LedgerUnavailableError as exc:
                raise unconfirmed("resume", target, exc) from None
            if read_back is not None:
                raise LedgerError(f"resume not confirmed: the kill switch is set again ({read_back}); another "
                                  "operator halted, check with them before resuming")
            if json_output:
                emit({"halted": False, "was_halted": was, "server": server}, json_output)
            else:
                console.print("[bold green]resumed[/]" + ("" if was else " (the kill switch was not set)"),
                              highlight=False)
