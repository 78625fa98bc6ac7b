"""A real Redis for the orchestrator's unit tests: one embedded server per session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from orchestrator.ledger import Ledger
from orchestrator.redis_server import EmbeddedRedis, redis_client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    server.ensure_running()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    redis_server.ensure_running()
    client = redis_client(redis_server.url)
    client.flushdb()
    return redis_server.url


@pytest.fixture
def rclient(redis_url: str) -> redis.Redis:
    return redis_client(redis_url)


@pytest.fixture
def ledger(rclient: redis.Redis) -> Ledger:
    return Ledger(rclient, prefix="t")
