"""The ``crosshedge`` command line: one typer app whose commands are imported only when they run.

Each command lives in its own module under crosshedge.cli and defines ``register(app)``. The table below names
them with a one-line help, so ``crosshedge --help`` lists every command without importing any of them (web3,
cvxpy and celery take seconds to import; the help should not wait for them).

Usage::

    crosshedge devnet up
    crosshedge venues --json
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

#: name -> (module, one-line help). Listed explicitly: no directory scans.
COMMANDS: dict[str, tuple[str, str]] = {
    "devnet": ("crosshedge.cli.devnet", "Start, stop and inspect the local anvil devnet."),
    "venues": ("crosshedge.cli.venues", "Every venue on every chain: mid, depth within 10/50/100 bp, swap gas; "
               "--save-state records each."),
    "quote": ("crosshedge.cli.quote", "An exact swap quote from a recorded pool state (no chain needed)."),
    "risk": ("crosshedge.cli.risk", "The book's Greeks per underlying, the policy's band and whether it fires."),
    "plan": ("crosshedge.cli.plan", "The cheapest hedge trades across venues and chains (live or a saved problem)."),
    "rebalance": ("crosshedge.cli.rebalance", "One run now: snapshot, plan, execute, confirm, reconcile."),
    "worker": ("crosshedge.cli.worker", "A Celery worker for the run stages and/or (chain, wallet) lanes."),
    "beat": ("crosshedge.cli.beat", "Check the policy on a schedule and start runs."),
    "runs": ("crosshedge.cli.runs", "Run history; `runs cancel RUN` / `runs fail RUN` end a run with a reason."),
    "status": ("crosshedge.cli.status", "Halted?, workers, the last run, delta against band, inventory, stuck runs."),
    "inventory": ("crosshedge.cli.inventory", "Per chain and token: held, arriving (bridges in flight), target share "
                  "and deviation."),
    "redis": ("crosshedge.cli.redis", "The embedded Redis server: status and stop."),
    "halt": ("crosshedge.cli.control", "Set the kill switch: nothing is signed or sent until resume."),
    "resume": ("crosshedge.cli.control", "Clear the kill switch."),
    "backtest": ("crosshedge.cli.backtest", "Replay prices through the book and every trigger policy."),
    "demo": ("crosshedge.cli.demo", "Live hedging on the devnet along a real price path."),
}


class LazyGroup(TyperGroup):
    """A group that imports a command's module when the command is used, and lists commands from COMMANDS."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module_name, short_help = COMMANDS[cmd_name]
        if self._listing:  # the top-level help only needs the name and the one line
            return typer.main.get_command_from_info(
                typer.models.CommandInfo(name=cmd_name, callback=_placeholder, help=short_help),
                pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode)
        holder = typer.Typer(add_completion=False)
        importlib.import_module(module_name).register(holder)
        group = typer.main.get_group(holder)
        return group.get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        LazyGroup._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            LazyGroup._listing = False


def _placeholder() -> None:
    """Stands in for a command in the top-level help listing; never invoked."""


app = typer.Typer(
    name="crosshedge",
    cls=LazyGroup,
    help="Keep a crypto derivatives book hedged across fragmented on-chain liquidity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Keep a crypto derivatives book hedged across fragmented on-chain liquidity."""


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["COMMANDS", "LazyGroup", "app", "main"]
