"""`crosshedge halt` / `crosshedge resume`: the kill switch in Redis, checked before every signature.

Usage::

    crosshedge halt --reason "desk review"
    crosshedge resume
"""

from __future__ import annotations

from typing import Annotated

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit


def register(app: typer.Typer) -> None:
    @app.command("halt")
    def halt(
        config: ConfigOption = None,  # type: ignore[assignment]
        reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown to whoever resumes).")] = "manual halt",
        json_output: JsonOption = False,
    ) -> None:
        """Set the kill switch: no transaction is signed until `crosshedge resume`."""
        from orchestrator.run import open_context
        from orchestrator.safety import KillSwitch

        with command_errors():
            switch = KillSwitch(open_context(resolve_config(config)).ledger)
            switch.halt(reason)
            status = switch.status()
            if not json_output:
                console.print(f"[bold yellow]halted[/]: {reason}")
            else:
                emit({"halted": True, **(status or {})}, json_output)

    @app.command("resume")
    def resume(config: ConfigOption = None, json_output: JsonOption = False) -> None:  # type: ignore[assignment]
        """Clear the kill switch."""
        from orchestrator.run import open_context
        from orchestrator.safety import KillSwitch

        with command_errors():
            was = KillSwitch(open_context(resolve_config(config)).ledger).resume()
            if not json_output:
                console.print("[bold green]resumed[/]" + ("" if was else " (the kill switch was not set)"))
            else:
                emit({"halted": False, "was_halted": was}, json_output)
