"""What the Redis crosshedge runs on reports and raises: its errors, the recorded identity, status and stop reports.

Kept apart from the server manager (orchestrator.redis_server.server) so the pieces it is built from (its files, its
clients, its /proc lookups) can raise and return these without importing the manager.

Usage::

    try:
        server.ensure_running()
    except EmbeddedRedisBusyError:      # retryable: loading, stalled, or another process holds the start lock
        ...
    server.status().state               # a RedisStatus: "running", "loading", "stalled" or "stopped"
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from crosshedge import LedgerError, LedgerUnavailableError


class EmbeddedRedisError(LedgerError):
    """The embedded Redis cannot be used safely: another server holds its directory, its socket answers for
    another directory, or redis-server failed to start. Terminal: an operator must look."""


class EmbeddedRedisBusyError(LedgerUnavailableError):
    """The embedded Redis is still loading past the bound, does not answer (stalled), or another process holds
    its start lock. Retryable: nothing is replaced, the same call may succeed later."""


class ServerIdentity(BaseModel):
    """Who serves a directory: written by the process that started (or first attached to) the server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    pid: int
    socket: str
    directory: str
    recorded_at: float
    recorded_by: int  # the pid of the crosshedge process that recorded it


class RedisStatus(BaseModel):
    """What ``crosshedge redis status`` shows; sizes and paths are None for an external Redis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["embedded", "external"]
    state: Literal["running", "loading", "stalled", "stopped", "unreachable"]
    running: bool  # a server process exists (answering, loading or stalled)
    url: str  # credentials redacted
    directory: str | None = None
    socket: str | None = None
    pid: int | None = None
    run_id: str | None = None
    recorded_run_id: str | None = None
    connected_clients: int | None = None  # excluding the status probe itself
    aof_bytes: int | None = None
    log_bytes: int | None = None
    log_cap_bytes: int | None = None
    servers: list[int] = []  # every redis-server process serving the directory (more than one is an error)
    problem: str | None = None  # one sentence when something needs an operator


class StopReport(BaseModel):
    """What :meth:`orchestrator.redis_server.EmbeddedRedis.stop` did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str
    method: Literal["shutdown", "signal", "none"]  # SHUTDOWN through the socket, signals by pid, nothing ran
    run_id: str | None = None
    stopped: list[int] = []  # pids that exited
    killed: list[int] = []  # pids that needed SIGKILL after the timeout


__all__ = ["EmbeddedRedisBusyError", "EmbeddedRedisError", "RedisStatus", "ServerIdentity", "StopReport"]
