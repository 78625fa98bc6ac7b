"""`crosshedge devnet up|down|status`: the local multi-chain devnet.

``up`` checks every chain's port first: a port another process holds is refused in one sentence (naming the
chain, the port and the chain id of the node found there) before anything starts or deploys (exit 1).

Usage::

    crosshedge devnet up
    crosshedge devnet status --json
    crosshedge devnet down
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, config_path
from crosshedge.cli.output import command_errors, emit, working
from crosshedge.config import load_config
from crosshedge.errors import ConfigError
from devnet import DevnetManager

devnet_app = typer.Typer(help="Start, stop and inspect the local anvil devnet.", no_args_is_help=True)


def manager_for(path: Path | None) -> tuple[Path, DevnetManager]:
    """The chains.yaml in use and the manager of its devnet section (ConfigError naming the file without one)."""
    source = config_path(path)
    config = load_config(source)
    if config.raw.devnet is None:
        raise ConfigError(f"{source}: devnet: section is missing; this configuration has no local devnet")
    return source, DevnetManager(config.raw.devnet, root=source.resolve().parent)


@devnet_app.command("up")
def up(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Start one anvil per chain, deploy the official contracts and pools, write the generated config."""
    with command_errors():
        source, mgr = manager_for(config)
        with working("starting anvil chains and deploying Uniswap V3/V2, WETH9 and tokens ..."):
            try:
                state = mgr.up()
            except ConfigError as exc:  # the manager names the field; the file is the CLI's to name
                raise ConfigError(f"{source}: {exc}") from None
        rows = [
            {"chain": name, "chain_id": s["chain_id"], "rpc_url": s["rpc_url"], "venues": len(s["venues"]),
             "transactions": s["tx_count"]}
            for name, s in state["chains"].items()
        ]
        summary = {"seconds": state["seconds"], "operator": state["operator"], "chains": rows,
                   "generated_config": str(mgr.state_dir / "chains.generated.yaml")}
        table = Table(title=f"devnet up in {state['seconds']:.1f} s (operator {state['operator']})")
        for col in ("chain", "chain_id", "rpc_url", "venues", "transactions"):
            table.add_column(col)
        for row in rows:
            table.add_row(*(str(row[c]) for c in ("chain", "chain_id", "rpc_url", "venues", "transactions")))
        emit(summary, json_output, table)


@devnet_app.command("down")
def down(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Stop the devnet's anvil processes."""
    with command_errors():
        _, mgr = manager_for(config)
        stopped = mgr.down()
        done = f"stopped {len(stopped)} chain(s)" if stopped else "nothing was running"
        table = Table(title=f"devnet down: {done}", min_width=len(done) + 20)  # the title on one line
        table.add_column("chain")
        table.add_column("was running")
        for name in mgr.spec.chains:
            table.add_row(name, "yes" if name in stopped else "no")
        emit({"stopped": stopped}, json_output, table)


@devnet_app.command("status")
def status(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Which devnet chains are running, and their latest block."""
    with command_errors():
        _, mgr = manager_for(config)
        rows = [s.__dict__ for s in mgr.status()]
        table = Table(title="devnet")
        for col in ("name", "chain_id", "port", "running", "block"):
            table.add_column(col)
        for row in rows:
            table.add_row(*(str(row[c]) for c in ("name", "chain_id", "port", "running", "block")))
        emit(rows, json_output, table)


def register(app: typer.Typer) -> None:
    app.add_typer(devnet_app, name="devnet")
