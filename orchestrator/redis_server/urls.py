"""Which Redis a URL or a ``redis_dir`` means: ``CROSSHEDGE_REDIS_URL`` when set, else the embedded server.

Every process (CLI, workers, beat, demo) resolves its Redis the same way here: an external Redis named by
:data:`~orchestrator.redis_server.clients.REDIS_URL_ENV` is used as it is and never started or stopped; otherwise the
embedded server under the execution section's ``redis_dir`` (orchestrator.redis_server.server) is started on demand. A
socket URL is recognised as an embedded server's when it is the socket of a crosshedge Redis directory, so the
ledger can check it talks to the server that owns the directory (:func:`embedded_identity`).

Usage::

    url = resolve_redis_url(config.raw.execution.redis_dir)         # started when it is not running
    ledger = Ledger(redis_client(url), prefix=p, expected_server=embedded_identity(url))
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.redis_server.clients import REDIS_URL_ENV, celery_url
from orchestrator.redis_server.files import CONF, OWNER, socket_path_for
from orchestrator.redis_server.server import EmbeddedRedis


def embedded_server(url: str) -> EmbeddedRedis | None:
    """The embedded server behind ``url`` when it is the socket of a crosshedge Redis directory, else None.

    Usage: ``server = embedded_server(os.environ["CROSSHEDGE_REDIS_URL"])``
    """
    parts = urlsplit(url)
    if parts.scheme not in ("unix", "redis+socket"):
        return None
    sock = Path(parts.path)
    candidates = [sock.parent]
    with contextlib.suppress(OSError):
        candidates.append(Path((sock.parent / OWNER).read_text().strip()))
    for directory in candidates:
        if (directory / CONF).is_file() and socket_path_for(directory.resolve()) == sock:
            return EmbeddedRedis(directory)
    return None


def embedded_identity(url: str) -> Callable[[], str | None] | None:
    """For an embedded URL, a callable returning the directory's recorded run_id (read afresh on every call, so
    a legitimate restart is followed); None for an external Redis.

    Usage: ``Ledger(redis_client(url), prefix=p, expected_server=embedded_identity(url))``
    """
    server = embedded_server(url)
    return None if server is None else server.identity


def owned_server(redis_dir: Path) -> EmbeddedRedis | None:
    """The embedded server the workers use for ``redis_dir``; None when CROSSHEDGE_REDIS_URL names an external one.

    Usage: ``server = owned_server(config.redis_dir)``
    """
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        return embedded_server(celery_url(external))
    return EmbeddedRedis(redis_dir)


def resolve_redis_url(redis_dir: Path, start: bool = True) -> str:
    """``CROSSHEDGE_REDIS_URL`` if set, else the embedded server under ``redis_dir`` (started when ``start``).

    Usage: ``url = resolve_redis_url(config.raw.execution.redis_dir)``
    """
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        return celery_url(external)
    server = EmbeddedRedis(redis_dir)
    return server.ensure_running() if start else server.url


__all__ = ["embedded_identity", "embedded_server", "owned_server", "resolve_redis_url"]
