"""The Redis the ledger and the broker live on: one embedded server per directory, or an external URL.

``server`` starts, verifies and stops the embedded redis-server (one per directory, under an OS file lock);
``urls`` decides which Redis a process uses; ``clients`` makes its clients and probes; ``files`` owns the
directory's files (0600 in 0700, the capped log); ``procs`` finds redis-server processes through /proc;
``models`` holds the typed status and errors.

Usage::

    from orchestrator.redis_server import EmbeddedRedis, redis_client
    url = EmbeddedRedis(Path(".crosshedge/redis")).ensure_running()
    client = redis_client(url)
"""

from orchestrator.redis_server.clients import REDIS_URL_ENV, celery_url, external_status, redis_client
from orchestrator.redis_server.files import LOG_CAP_BYTES
from orchestrator.redis_server.models import (
    EmbeddedRedisBusyError,
    EmbeddedRedisError,
    RedisStatus,
    ServerIdentity,
    StopReport,
)
from orchestrator.redis_server.server import EmbeddedRedis
from orchestrator.redis_server.urls import embedded_identity, embedded_server, owned_server, resolve_redis_url

__all__ = [
    "LOG_CAP_BYTES",
    "REDIS_URL_ENV",
    "EmbeddedRedis",
    "EmbeddedRedisBusyError",
    "EmbeddedRedisError",
    "RedisStatus",
    "ServerIdentity",
    "StopReport",
    "celery_url",
    "embedded_identity",
    "embedded_server",
    "external_status",
    "owned_server",
    "redis_client",
    "resolve_redis_url",
]
