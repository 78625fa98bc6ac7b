"""The ledger's leases: who may write a lane, for how long, with a fencing token a lapsed holder cannot forge.

A lease is taken (re-entrant for its owner), renewed by its TTL and released in Lua scripts; every fenced write
(orchestrator.ledger.core) compares the writer's token with the current one, so a writer whose lease lapsed and
was taken over cannot write, even if it does not know yet that it lost it.

Usage::

    lease = ledger.acquire("lane:base.desk", owner=worker_id, ttl_s=30.0)    # None when another holds it
    ledger.renew(lease); ledger.release(lease.name, lease.owner)
"""

from __future__ import annotations

from typing import cast

from orchestrator.ledger.core import LedgerCore, redis_io
from orchestrator.ledger.models import Lease


class LeaseBook(LedgerCore):
    """Fenced leases: acquire, renew, release, and who holds one."""

    @redis_io
    def acquire(self, name: str, owner: str, ttl_s: float) -> Lease | None:
        """Take the lease ``name`` for ``owner`` (re-entrant for the same owner), or None when another holds it."""
        ttl_ms = max(1, int(ttl_s * 1000))
        got = self._acquire_lease(keys=[self._lease_key(name), self._lease_key(name) + ":fence"],
                                  args=[owner, str(ttl_ms)])
        if not got:
            return None
        return Lease(name=name, owner=owner, token=str(got[0]), ttl_ms=ttl_ms)

    @redis_io
    def renew(self, lease: Lease) -> bool:
        """Extend ``lease`` by its TTL; False when it is no longer held (it lapsed or was taken over)."""
        return bool(self._renew_lease(keys=[self._lease_key(lease.name)],
                                      args=[lease.owner, lease.token, str(lease.ttl_ms)]))

    @redis_io
    def release(self, name: str, owner: str) -> bool:
        """Release ``owner``'s lease ``name`` (another owner's lease is left alone); True when it was released."""
        return bool(self._release_lease(keys=[self._lease_key(name)], args=[owner]))

    @redis_io
    def lease_owner(self, name: str) -> str | None:
        owner = self._r.hget(self._lease_key(name), "owner")
        return None if owner is None else str(owner)

    @redis_io
    def held(self, lease: Lease) -> bool:
        """True while ``lease`` is still the current holder's (same owner and token)."""
        current = cast(dict[str, str], self._r.hgetall(self._lease_key(lease.name)))
        return current.get("owner") == lease.owner and current.get("token") == lease.token


__all__ = ["LeaseBook"]
