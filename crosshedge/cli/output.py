"""Printing for people and scripts, and the mapping from errors to exit codes.

Every command prints a rich table for people, or JSON with ``--json``. Exit codes mean something:
0 ok, 1 error, 2 bad usage, 3 halted or a limit hit.

Usage::

    with command_errors():
        emit(rows_as_dicts, json_output, table=build_table(rows))
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from crosshedge.errors import CircuitBreakerError, ConfigError, CrosshedgeError, HaltedError, InputError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HALTED = 0, 1, 2, 3

console = Console()
err_console = Console(stderr=True)


def to_jsonable(value: Any) -> Any:
    """Pydantic models, paths and containers into plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit(data: Any, json_output: bool, table: Table | None = None) -> None:
    """Print ``data`` as JSON (scripts) or ``table`` (people)."""
    if json_output:
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
    elif table is not None:
        console.print(table)
    else:
        console.print(to_jsonable(data))


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn crosshedge errors into one clear line on stderr and a meaningful exit code."""
    try:
        yield
    except (HaltedError, CircuitBreakerError) as exc:
        err_console.print(f"[bold yellow]halted:[/] {exc}")
        raise typer.Exit(EXIT_HALTED) from None
    except (ConfigError, InputError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    except CrosshedgeError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
