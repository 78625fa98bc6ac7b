"""The ``crosshedge`` command line: one typer app, one module per command group under orchestrator.commands.

Usage::

    crosshedge devnet up
    crosshedge venues --json
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="crosshedge",
    help="Keep a crypto derivatives book hedged across fragmented on-chain liquidity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module defines register(app). Listed explicitly: no directory scans.
COMMAND_MODULES = (
    "orchestrator.commands.devnet",
    "orchestrator.commands.venues",
    "orchestrator.commands.worker", "orchestrator.commands.beat", "orchestrator.commands.rebalance",
    "orchestrator.commands.runs", "orchestrator.commands.control",
    "orchestrator.commands.plan",
    "orchestrator.commands.risk", "orchestrator.commands.backtest",
    "orchestrator.commands.demo",
)

for module_name in COMMAND_MODULES:
    importlib.import_module(module_name).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
