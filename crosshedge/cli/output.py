"""Printing for people and scripts, and the mapping from errors to exit codes.

Every command prints a rich table for people, or JSON with ``--json`` (stdout holds only the JSON then; spinners,
warnings and errors go to stderr). Exit codes mean something: 0 ok, 1 error, 2 bad usage, 3 halted or a limit hit.
An error is one sentence on stderr, never a traceback, for every condition crosshedge knows about: its own error
tree, and a Redis or broker connection lost underneath it.

Usage::

    with command_errors():
        if not prices:
            raise UsageError("backtest: give --prices CSV (or --monte-carlo)")     # exit 2
        with working("reading venues on every chain ..."):
            rows = read()
        warn_failed(failed)                                  # one sentence per unreadable chain, on stderr
        emit(rows_as_dicts, json_output, build_table(rows))
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.markup import escape

from crosshedge.errors import CircuitBreakerError, CrosshedgeError, HaltedError, InputError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HALTED = 0, 1, 2, 3

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error is one line, however narrow the terminal


class UsageError(InputError):
    """The command line itself is wrong (a missing or conflicting option, a bad option value): exit code 2."""


class CommandFailedError(CrosshedgeError):
    """A command did its work but the outcome is a failure it has already explained (e.g. a run that failed).

    ``exit_code`` says which failure (1 error, 3 halted or a limit hit); the message is printed like any error.
    """

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def to_jsonable(value: Any) -> Any:
    """Pydantic models, dataclasses, paths and containers into plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def emit(data: Any, json_output: bool, table: RenderableType | None = None, *more: RenderableType) -> None:
    """Print ``data`` as JSON (scripts) or ``table`` and ``more`` (people).

    Without a table, people get the JSON too (indented): never a Python repr.
    """
    if json_output:
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()
        return
    if table is None:
        console.print_json(json.dumps(to_jsonable(data)))
        return
    for item in (table, *more):
        console.print(item)


def note(message: str) -> None:
    """A line for people beside the table (stderr, so ``--json`` output stays clean)."""
    err_console.print(message, highlight=False)


def warn(message: str) -> None:
    """One sentence about a problem that did not stop the command (stderr)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def warn_failed(failed: Mapping[str, str]) -> None:
    """One sentence per chain (or venue) that could not be read, on stderr; the rest of the output still prints."""
    for name, why in failed.items():
        warn(one_sentence(why if name in why else f"{name}: {why}"))


def one_sentence(text: str, limit: int = 400) -> str:
    """``text`` on one line and of bounded length (an RPC error can carry a page of HTML)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while long work runs (nothing on a non-terminal stderr)."""
    with err_console.status(message):
        yield


def service_errors() -> tuple[type[BaseException], ...]:
    """Redis and broker connection errors, from the client libraries only if they are already imported.

    Imported lazily on purpose: a command that never touched Redis cannot raise them, and importing kombu and redis
    here would slow down every command.
    """
    classes: list[type[BaseException]] = []
    redis_exceptions = sys.modules.get("redis.exceptions")
    if redis_exceptions is not None:
        classes.append(redis_exceptions.RedisError)
    kombu_exceptions = sys.modules.get("kombu.exceptions")
    if kombu_exceptions is not None:
        classes.append(kombu_exceptions.OperationalError)
    return tuple(classes)


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` as one line on stderr; the ``typer.Exit`` to raise with ``code``."""
    label = "[bold yellow]halted:[/]" if code == EXIT_HALTED else "[bold red]error:[/]"
    err_console.print(f"{label} {escape(one_sentence(message, limit=1000))}", highlight=False)
    return typer.Exit(code)


def exit_code_for(exc: CrosshedgeError) -> int:
    """The documented exit code of a crosshedge error."""
    if isinstance(exc, CommandFailedError):
        return exc.exit_code
    if isinstance(exc, HaltedError | CircuitBreakerError):
        return EXIT_HALTED
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_ERROR


class _OneLineLogs(logging.Handler):
    """Where library log records go when nothing configured logging: errors only, one line each on stderr.

    Python's default (``logging.lastResort``) prints every warning of the RPC and Redis clients (an endpoint
    failing, a retry) beside the command's own sentence about the same thing; the command's sentence is the one
    that counts. Installed as the last resort only, so a process that configures logging (a worker, with its
    redacting formatter) is never affected.
    """

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[bold yellow]warning:[/] {escape(one_sentence(record.getMessage()))}", highlight=False)


def _quiet_library_logs() -> None:
    if not isinstance(logging.lastResort, _OneLineLogs):
        logging.lastResort = _OneLineLogs(logging.ERROR)


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn crosshedge errors (and a lost Redis/broker connection) into one clear line on stderr and an exit code."""
    _quiet_library_logs()
    try:
        yield
    except CrosshedgeError as exc:
        raise fail(str(exc), exit_code_for(exc)) from None
    except Exception as exc:
        if not isinstance(exc, service_errors()):
            raise  # a bug, not a condition: its traceback is what a report needs
        raise fail(f"Redis (ledger and broker) is unavailable: {type(exc).__name__}: {exc}; "
                   "is it running? (`crosshedge redis status`, or check CROSSHEDGE_REDIS_URL)", EXIT_ERROR) from None
