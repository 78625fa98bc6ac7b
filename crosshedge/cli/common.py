"""Options and helpers shared by every command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from crosshedge.config.loader import Config, load_config

DEFAULT_CONFIG = Path("chains.yaml")

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="chains.yaml to use (default: $CROSSHEDGE_CONFIG or ./chains.yaml)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


def config_path(path: Path | None) -> Path:
    if path is not None:
        return path
    return Path(os.environ.get("CROSSHEDGE_CONFIG", str(DEFAULT_CONFIG)))


def resolve_config(path: Path | None) -> Config:
    """Load the config; a devnet config resolves to the devnet's generated file (run `crosshedge devnet up` first)."""
    from crosshedge.config.generated import resolve_generated  # a devnet config points at its generated file

    return resolve_generated(load_config(config_path(path)))
