"""Structured logs: stdlib logging with a JSON or a text formatter, the run, chain and lane on every line.

The run id, chain and lane live in :mod:`contextvars`, so every line logged inside :func:`log_context` carries them
(Celery runs one task at a time per process, and contextvars keep threads and asyncio tasks apart). Celery's own
loggers (``celery.*``, ``kombu``, ``billiard``) go through the same handler: :func:`configure_logging` answers
Celery's ``setup_logging`` signal, which tells Celery not to install its own handlers. Every line is redacted on the
way out: URL credentials, query strings and key-like path segments (``/v3/<key>``), and any secret value the
process registered (a wallet's key or keystore password read from the environment or a file).

Thread pools do not inherit contextvars: submit with ``contextvars.copy_context().run`` to keep the fields.

Usage::

    configure_logging("json", "INFO", secrets=[password])   # once per process, before Celery starts
    with log_context(run_id=run_id, lane="base.desk"):      # chain "base" is taken from the lane
        log.info("sent %s", tx_hash)
    # {"ts": "2025-01-01T00:00:00.000Z", "level": "INFO", "logger": "crosshedge.sender", "message": "sent 0x..",
    #  "run_id": "beat-20250101T000000", "chain": "base", "lane": "base.desk", "pid": 4242, ...}
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any
from urllib.parse import urlsplit

from adapters import redact_url

#: The fields every line carries (None when unset).
CONTEXT_FIELDS = ("run_id", "chain", "lane")
_CONTEXT: dict[str, ContextVar[str | None]] = {f: ContextVar(f"crosshedge_log_{f}", default=None)
                                               for f in CONTEXT_FIELDS}
#: Loggers of Celery and its transport: their own handlers are dropped so they propagate to ours.
CELERY_LOGGERS = ("celery", "celery.task", "celery.redirected", "celery.worker", "celery.beat", "kombu", "billiard")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{},]+")
_MIN_SECRET_LEN = 6  # shorter values would redact ordinary words and numbers
_HANDLER_MARK = "_crosshedge_handler"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


@contextmanager
def log_context(*, run_id: str | None = None, chain: str | None = None, lane: str | None = None) -> Iterator[None]:
    """Carry ``run_id``, ``chain`` and ``lane`` on every line logged inside; nested contexts override and restore.

    A lane (``<chain>.<wallet>``) without an explicit chain sets the chain too.
    """
    if lane is not None and chain is None:
        chain = lane.split(".", 1)[0]
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value))
              for name, value in (("run_id", run_id), ("chain", chain), ("lane", lane)) if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str | None]:
    """The fields set by the enclosing :func:`log_context` (None where unset)."""
    return {name: var.get() for name, var in _CONTEXT.items()}


class ContextFilter(logging.Filter):
    """Puts the context fields on each record (a field passed with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class Redactor:
    """Removes credentials from text: URLs (via adapters.redact_url) and registered secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _URL.sub(lambda m: _redact_one_url(m.group(0)), text)


def _redact_one_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        clean = redact_url(url)
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError:  # a malformed port or host: nothing of it is safe to show
        return url.split("://", 1)[0] + "://***"
    # redact_url drops userinfo and the query; show that something was there rather than hide that it was.
    if has_userinfo:
        scheme, rest = clean.split("://", 1)
        clean = f"{scheme}://***@{rest}"
    return clean + ("?***" if parts.query else "")


def _task_fields() -> dict[str, str]:
    # Celery's own TaskFormatter reads the current task the same way (celery.app.log).
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or task.request is None or task.request.id is None:
        return {}
    return {"task_id": str(task.request.id), "task_name": str(task.name)}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, message, run_id, chain, lane, pid, process, task."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        payload: dict[str, Any] = {
            "ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        payload.update({name: getattr(record, name, None) for name in CONTEXT_FIELDS})
        payload.update(pid=record.process, process=record.processName, **_task_fields())
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            payload["exc"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2025-01-01 00:00:00,000 INFO    crosshedge.sender [run=r1 chain=base lane=base.desk] sent 0x..``."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")
        self.redact = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{label}={getattr(record, name)}" for name, label in
                          (("run_id", "run"), ("chain", "chain"), ("lane", "lane")) if getattr(record, name, None))
        line = super().format(record)
        if fields:
            head, _, message = line.partition(f"{record.name} ")
            line = f"{head}{record.name} [{fields}] {message}"
        return self.redact(line)


def formatter_for(fmt: LogFormat | str, secrets: Iterable[str] = ()) -> logging.Formatter:
    redactor = Redactor(secrets)
    return JsonFormatter(redactor) if LogFormat(fmt) is LogFormat.JSON else TextFormatter(redactor)


def configure_logging(fmt: LogFormat | str = LogFormat.TEXT, level: str | int = "INFO", *,
                      stream: IO[str] | None = None, secrets: Iterable[str] = ()) -> logging.Handler:
    """Route every logger (Celery's included) through one handler with ``fmt``; returns the handler.

    Calling it again replaces the handler it installed before (other handlers on the root logger are left alone).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(fmt, secrets))
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in CELERY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    logging.captureWarnings(True)
    _claim_celery_logging()
    return handler


def _claim_celery_logging() -> None:
    """Answer Celery's ``setup_logging`` signal: a connected receiver stops Celery from installing its handlers."""
    from celery.signals import setup_logging

    setup_logging.connect(_keep_our_logging, weak=False, dispatch_uid="crosshedge-logging")


def _keep_our_logging(loglevel: int | str | None = None, **_: Any) -> None:
    if loglevel:
        logging.getLogger().setLevel(loglevel)


__all__ = [
    "CELERY_LOGGERS",
    "CONTEXT_FIELDS",
    "ContextFilter",
    "JsonFormatter",
    "LogFormat",
    "Redactor",
    "TextFormatter",
    "configure_logging",
    "current_context",
    "formatter_for",
    "log_context",
]
