"""The ledger's memory: the latest value of something kept outside any run, e.g. a chain's last-known positions.

A chain that cannot be read at a snapshot is not taken as empty: its last-known positions (orchestrator.coverage)
stand in for it, and they are kept here. Each ``kind`` is a hash of ``key -> model JSON``; the latest write wins.

Usage::

    ledger.remember("positions", "base", known)
    ledger.recall("positions", "base", KnownPositions)     # None when nothing was remembered
"""

from __future__ import annotations

from typing import TypeVar, cast

from pydantic import BaseModel

from orchestrator.ledger.core import LedgerCore, redis_io

M = TypeVar("M", bound=BaseModel)


class MemoryBook(LedgerCore):
    """The latest value per (kind, key), outside any run."""

    @redis_io
    def remember(self, kind: str, key: str, value: BaseModel) -> None:
        """Keep the latest ``value`` of ``kind``/``key`` outside any run (e.g. a chain's last-known positions)."""
        self._r.hset(self.key("memory", kind), key, value.model_dump_json())

    @redis_io
    def recall(self, kind: str, key: str, model: type[M]) -> M | None:
        text = self._r.hget(self.key("memory", kind), key)
        return None if text is None else model.model_validate_json(cast(str, text))


__all__ = ["MemoryBook"]
