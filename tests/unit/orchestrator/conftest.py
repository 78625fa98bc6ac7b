"""A real Redis for the orchestrator's unit tests: one embedded server per session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from orchestrator import EmbeddedRedis, Ledger, redis_client


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


@pytest.fixture
def memory_ledger() -> Ledger:
    """The same Ledger on an in-memory Redis (fakeredis, which runs the ledger's Lua scripts too): for unit tests
    of stage logic only; integration tests use the real embedded server."""
    import fakeredis  # a dev-only dependency: unit tests of stages are its only users

    return Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="m")
