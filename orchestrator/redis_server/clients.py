"""Talking to a Redis: a client from any URL crosshedge accepts, Celery's spelling of it, and bounded probes.

One place decides how a URL becomes a ``redis.Redis`` (``redis://``, ``rediss://``, ``unix://`` or Celery's
``redis+socket://``), and how a server is asked whether it answers without ever waiting long: a PING classified as
answering, loading (its AOF), stalled or down, ``INFO`` read or given up on, and the status of an external Redis
(``CROSSHEDGE_REDIS_URL``), which crosshedge does not own and so only reads.

Usage::

    client = redis_client("redis+socket:///tmp/x.sock")
    state, detail = probe(url, socket_path, timeout_s=PROBE_S)     # ("answering", "") when it answers
    external_status(os.environ[REDIS_URL_ENV]).state               # "running", "stalled", "unreachable", ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import redis

from adapters import redact_url
from orchestrator.redis_server.models import RedisStatus

REDIS_URL_ENV = "CROSSHEDGE_REDIS_URL"
PROBE_S = 2.0  # one PING never waits longer than this
Probe = Literal["answering", "loading", "stalled", "down"]


def redis_client(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://`` or Celery's ``redis+socket://``).

    Usage: ``r = redis_client("redis+socket:///tmp/x.sock")``
    """
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
    )


def celery_url(url: str) -> str:
    """The broker URL Celery understands for ``url`` (kombu spells unix sockets ``redis+socket://``)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def probe(url: str, socket_path: Path, timeout_s: float) -> tuple[Probe, str]:
    """One PING: answering, loading (its AOF), stalled (accepted but silent, or erroring) or down."""
    if not socket_path.exists():
        return "down", "no socket"
    client = redis_client(url, timeout_s=timeout_s)
    try:
        client.ping()
        return "answering", ""
    except redis.BusyLoadingError:
        return "loading", "loading its AOF"
    except redis.TimeoutError:
        return "stalled", f"no answer within {timeout_s:g}s"
    except redis.ConnectionError as exc:
        return "down", str(exc)[:120]
    except redis.RedisError as exc:
        return "stalled", str(exc)[:120]
    finally:
        client.close()


def server_info(url: str) -> dict[str, Any]:
    """``INFO`` of the server at ``url``; empty when it does not answer within :data:`PROBE_S`."""
    client = redis_client(url, timeout_s=PROBE_S)
    try:
        info: dict[str, Any] = client.info()
        return info
    except (redis.ConnectionError, redis.TimeoutError):
        return {}
    finally:
        client.close()


def external_status(url: str, timeout_s: float = PROBE_S) -> RedisStatus:
    """Status of an external Redis (URL redacted; nothing of it is owned, so no files or sizes)."""
    client = redis_client(url, timeout_s=timeout_s)
    shown = redact_url(url)
    try:
        info: dict[str, Any] = client.info()
    except redis.BusyLoadingError:
        return RedisStatus(kind="external", state="loading", running=True, url=shown)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
        state: Literal["stalled", "unreachable"] = "stalled" if isinstance(exc, redis.TimeoutError) else "unreachable"
        return RedisStatus(kind="external", state=state, running=state == "stalled", url=shown,
                           problem=f"{REDIS_URL_ENV} {shown}: Redis could not be read ({type(exc).__name__})")
    finally:
        client.close()
    return RedisStatus(kind="external", state="running", running=True, url=shown, run_id=str(info.get("run_id")),
                       pid=int(info["process_id"]) if "process_id" in info else None,
                       connected_clients=max(int(info.get("connected_clients", 1)) - 1, 0))


__all__ = ["PROBE_S", "REDIS_URL_ENV", "Probe", "celery_url", "external_status", "probe", "redis_client",
           "server_info"]
