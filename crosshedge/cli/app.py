"""The ``crosshedge`` command line: one typer app, one module per command group under crosshedge.cli.

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
    "crosshedge.cli.devnet",
    "crosshedge.cli.venues",
    "crosshedge.cli.worker", "crosshedge.cli.beat", "crosshedge.cli.rebalance",
    "crosshedge.cli.runs", "crosshedge.cli.control",
    "crosshedge.cli.plan",
    "crosshedge.cli.risk", "crosshedge.cli.backtest",
    "crosshedge.cli.demo",
)

for module_name in COMMAND_MODULES:
    importlib.import_module(module_name).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
