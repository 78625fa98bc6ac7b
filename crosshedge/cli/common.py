"""Options and helpers shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crosshedge.config import Config, config_path, resolve_config

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="chains.yaml to use (default: $CROSSHEDGE_CONFIG or ./chains.yaml)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]

__all__ = ["Config", "ConfigOption", "JsonOption", "config_path", "resolve_config"]
