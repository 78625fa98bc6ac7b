"""`crosshedge halt` / `crosshedge resume`: the kill switch in the ledger, checked before every signature.

Usage::

    crosshedge halt --reason "desk review"
    crosshedge resume
"""

from __future__ import annotations

from typing import Annotated

import typer

from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from orchestrator import KillSwitch, open_ledger


def register(app: typer.Typer) -> None:
    @app.command("halt")
    def halt(
        config: ConfigOption = None,
        reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown to whoever resumes).")] = "manual halt",
        json_output: JsonOption = False,
    ) -> None:
        """Set the kill switch: no transaction is signed until `crosshedge resume`."""
        with command_errors():
            switch = KillSwitch(open_ledger(resolve_config(config)))
            switch.halt(reason)
            read_back = switch.reason()
            if not json_output:
                console.print(f"[bold yellow]halted[/]: {read_back}")
            else:
                emit({"halted": read_back is not None, "reason": read_back}, json_output)

    @app.command("resume")
    def resume(config: ConfigOption = None, json_output: JsonOption = False) -> None:
        """Clear the kill switch."""
        with command_errors():
            was = KillSwitch(open_ledger(resolve_config(config))).resume()
            if not json_output:
                console.print("[bold green]resumed[/]" + ("" if was else " (the kill switch was not set)"))
            else:
                emit({"halted": False, "was_halted": was}, json_output)
