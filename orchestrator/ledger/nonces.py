"""The ledger's nonces: allocated per sending account's sequence and recorded, so they stay contiguous.

An intent's nonce is recorded with it the first time it is asked for (a redelivery gets the same one), never below
the chain's pending count; a gap filler is given exactly the nonce it fills; an unsigned intent's nonce is given
back when it was the sequence's last. Allocation is fenced by the lane's lease like every other write.

Usage::

    nonce = ledger.allocate_nonce(intent.id, intent.nonce_sequence, chain_pending_nonce, lease)
    ledger.lane_nonces(intent.nonce_sequence)       # {nonce: intent id}
"""

from __future__ import annotations

from typing import cast

from crosshedge import LeaseLostError, LedgerError
from orchestrator.ledger.core import LedgerCore, redis_io
from orchestrator.ledger.models import Lease


class NonceBook(LedgerCore):
    """Nonce allocation, assignment and release per sending sequence."""

    @redis_io
    def allocate_nonce(self, intent_id: str, sequence: str, chain_pending_nonce: int,
                       lease: Lease | None = None, renew: bool = False) -> int:
        """The intent's nonce: the one already recorded, else the sequence's next (never below the chain's count).

        ``renew`` first extends ``lease`` by its TTL in the same round trip (LeaseLostError when it is no longer
        held: then the allocation, fenced by the same token, did not happen either)."""
        keys = [self._ikey(intent_id), self.key("lane", sequence), self._fence_key(lease)]
        args = [str(chain_pending_nonce), intent_id, lease.token if lease else ""]
        if renew and lease is not None:
            pipe = self._r.pipeline(transaction=False)
            self._renew_lease(keys=[self._lease_key(lease.name)], args=[lease.owner, lease.token, str(lease.ttl_ms)],
                              client=pipe)
            self._allocate(keys=keys, args=args, client=pipe)
            renewed, allocated = pipe.execute()
            if not renewed:
                raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name} lapsed; refusing to "
                                     "allocate a nonce")
            nonce = int(allocated)
        else:
            nonce = int(self._allocate(keys=keys, args=args))
        if nonce < 0:
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed; "
                              "refusing to allocate a nonce")
        return nonce

    @redis_io
    def assign_nonce(self, intent_id: str, sequence: str, nonce: int, lease: Lease | None = None) -> int:
        """Give ``intent_id`` exactly ``nonce`` (a gap filler); LedgerError when another intent holds it."""
        got = int(self._assign(keys=[self._ikey(intent_id), self.key("lane", sequence), self._fence_key(lease)],
                               args=[str(nonce), intent_id, lease.token if lease else ""]))
        if got == -1:
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed")
        if got == -2:
            raise LedgerError(f"ledger: nonce {nonce} of {sequence} is held by another intent")
        return got

    @redis_io
    def release_nonce(self, intent_id: str, sequence: str) -> bool:
        """Give back an unsigned intent's nonce when it was the sequence's last one (keeps nonces contiguous)."""
        return bool(self._release(keys=[self._ikey(intent_id), self.key("lane", sequence)], args=[intent_id]))

    @redis_io
    def lane_nonces(self, sequence: str) -> dict[int, str]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("lane", sequence)))
        return {int(k[2:]): v for k, v in raw.items() if k.startswith("n:")}


__all__ = ["NonceBook"]
