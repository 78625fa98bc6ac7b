"""The ledger's trade intents: recorded with their plan, moved along their state machine, signed write-ahead.

Intents move ``planned -> signed -> sent -> included -> confirmed | failed -> reconciled`` (see
orchestrator.ledger.models), each move one atomic transition that checks the current state and, when given, that
the writer still holds its lane's fenced lease. The signed bytes are stored *before* broadcast (``record_signed``,
``add_attempt``) in a key of their own, never in the records :meth:`IntentBook.intent` returns, so they stay out of
logs.

Usage::

    ledger.add_intents(run_id, [intent, ...])
    ledger.record_signed(intent.id, raw_hex, attempt, tx_fields, lease)     # then broadcast
    ledger.transition(intent.id, IntentState.SENT, lease)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from adapters import Deposit, Fill, PerpFill
from crosshedge import LeaseLostError, LedgerError
from orchestrator.ledger.core import LedgerCore, redis_io
from orchestrator.ledger.models import (
    INTENT_TRANSITIONS,
    Attempt,
    Intent,
    IntentRecord,
    IntentState,
    Lease,
    ReceiptInfo,
    Transition,
    TxFields,
)


class IntentBook(LedgerCore):
    """Intents, their transitions, signed attempts and stored raw transactions."""

    # -- intents ----------------------------------------------------------------------------------------------
    @redis_io
    def add_intents(self, run_id: str, intents: Sequence[Intent]) -> int:
        """Record planned intents, all in one atomic step (an intent id that exists is left as it is).

        Returns how many were new.
        """
        args: list[str] = [self.prefix, run_id, repr(self._clock())]
        for intent in intents:
            if intent.run_id != run_id:
                raise LedgerError(f"ledger: intent {intent.id} belongs to run {intent.run_id}, not {run_id}")
            args += [intent.id, intent.lane, intent.model_dump_json()]
        keys = [self._rkey(run_id, "intents"), self._rkey(run_id, "lanes")]
        return int(self._add_intents(keys=keys, args=args))

    @redis_io
    def intent_ids(self, run_id: str, lane: str | None = None) -> list[str]:
        key = self._rkey(run_id, "lane", lane) if lane else self._rkey(run_id, "intents")
        return list(cast(list[str], self._r.lrange(key, 0, -1)))

    @redis_io
    def lanes(self, run_id: str) -> list[str]:
        return sorted(cast(set[str], self._r.smembers(self._rkey(run_id, "lanes"))))

    @redis_io
    def intent(self, intent_id: str) -> IntentRecord:
        return self._record(intent_id, cast(dict[str, str], self._r.hgetall(self._ikey(intent_id))))

    @staticmethod
    def _record(intent_id: str, raw: dict[str, str]) -> IntentRecord:
        if not raw or "spec" not in raw or "state" not in raw:
            raise LedgerError(f"ledger: no intent {intent_id!r}")
        return IntentRecord(
            spec=Intent.model_validate_json(raw["spec"]),
            state=IntentState(raw["state"]),
            nonce=int(raw["nonce"]) if "nonce" in raw else None,
            tx=TxFields.model_validate_json(raw["tx"]) if "tx" in raw else None,
            attempts=tuple(Attempt.model_validate(a) for a in json.loads(raw.get("attempts", "[]"))),
            receipt=ReceiptInfo.model_validate_json(raw["receipt"]) if "receipt" in raw else None,
            fill=Fill.model_validate_json(raw["fill"]) if "fill" in raw else None,
            deposit=Deposit.model_validate_json(raw["deposit"]) if "deposit" in raw else None,
            perp_fills=tuple(PerpFill.model_validate(f) for f in json.loads(raw.get("perp_fills", "[]"))),
            gas_cost_wei=int(raw.get("gas_cost_wei", "0")),
            error=raw.get("error", ""),
            confirmed_depth=raw.get("confirmed_depth") == "1",
            reorgs=int(raw.get("reorgs", "0")),
        )

    def intents(self, run_id: str, lane: str | None = None) -> list[IntentRecord]:
        return [self.intent(i) for i in self.intent_ids(run_id, lane)]

    @redis_io
    def raw_tx(self, intent_id: str, attempt: int) -> str:
        """The stored (sealed) signed bytes of one attempt, for re-broadcast. Keep them out of logs."""
        raw = self._r.hget(self._ikey(intent_id, "raw"), str(attempt))
        if raw is None:
            raise LedgerError(f"ledger: intent {intent_id} has no stored transaction for attempt {attempt}")
        return str(raw)

    def transition(self, intent_id: str, to: IntentState, lease: Lease | None = None, **fields: str) -> bool:
        """Move an intent along its state machine, setting ``fields`` atomically with the state.

        Returns False when the intent already is in ``to`` (a redelivered task doing the same step again);
        raises :class:`LedgerError` for an illegal transition, an unknown intent, or a ``lease`` that lapsed.
        """
        allowed = [s.value for s, nxt in INTENT_TRANSITIONS.items() if to in nxt]
        return self._apply(self._ikey(intent_id), self._ikey(intent_id, "history"), self._ikey(intent_id, "raw"),
                           f"intent {intent_id}", to.value, allowed, fields, None, lease)

    def transition_all(self, intent_ids: Sequence[str], to: IntentState) -> list[bool]:
        """:meth:`transition` (unfenced, no fields) of several intents in ONE round trip; each move is atomic on its
        own, as if made one by one."""
        if not intent_ids:
            return []
        allowed = [s.value for s, nxt in INTENT_TRANSITIONS.items() if to in nxt]
        moves = [(self._ikey(i), self._ikey(i, "history"), f"intent {i}") for i in intent_ids]
        return self._apply_each(moves, to.value, allowed)

    def advance(self, intent_id: str, to: IntentState, lease: Lease | None = None, **fields: str) -> IntentRecord:
        """:meth:`transition`, returning the intent as it is afterwards (read in the same round trip; re-read when
        it already was in ``to``)."""
        allowed = [s.value for s, nxt in INTENT_TRANSITIONS.items() if to in nxt]
        after = self._apply_read(self._ikey(intent_id), self._ikey(intent_id, "history"),
                                 self._ikey(intent_id, "raw"), f"intent {intent_id}", to.value, allowed, fields, None,
                                 lease)
        return self.intent(intent_id) if after is None else self._record(intent_id, after)

    def record_signed(self, intent_id: str, raw_hex: str, attempt: Attempt, tx: TxFields,
                      lease: Lease | None = None) -> bool:
        """Write-ahead: store the first signed transaction (bytes and hash) *before* it is broadcast.

        False means another delivery already signed this intent: do not broadcast your bytes, use the stored ones.
        """
        fields = {"attempts": json.dumps([attempt.model_dump()]), "tx": tx.model_dump_json(),
                  "tx_hash": attempt.tx_hash}
        return self._apply(self._ikey(intent_id), self._ikey(intent_id, "history"), self._ikey(intent_id, "raw"),
                           f"intent {intent_id}", IntentState.SIGNED.value, [IntentState.PLANNED.value], fields,
                           ("0", raw_hex), lease)

    @redis_io
    def add_attempt(self, intent_id: str, index: int, raw_hex: str, attempt: Attempt,
                    lease: Lease | None = None) -> None:
        """Write-ahead for a replacement (same nonce, higher fees): stored before it is broadcast.

        ``index`` is the number of attempts the caller saw; a concurrent writer makes this raise LedgerError.
        """
        record = self.intent(intent_id)
        attempts = [a.model_dump() for a in record.attempts] + [attempt.model_dump()]
        result = self._add_attempt(
            keys=[self._ikey(intent_id), self._ikey(intent_id, "raw"), self._fence_key(lease)],
            args=[IntentState.SENT.value, str(index), json.dumps(attempts), raw_hex, repr(self._clock()),
                  lease.token if lease else ""],
        )
        status, detail = result[0], result[1]
        if status == "fenced":
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed")
        if status != "ok":
            raise LedgerError(f"ledger: cannot add attempt {index} to intent {intent_id} ({status}: {detail})")

    @redis_io
    def revert_inclusion(self, intent_id: str, reason: str, lease: Lease | None = None) -> None:
        """An included transaction left the canonical chain: back to 'sent', receipt and fill dropped, counted."""
        result = self._revert_inclusion(
            keys=[self._ikey(intent_id), self._ikey(intent_id, "history"), self._fence_key(lease)],
            args=[repr(self._clock()), reason, lease.token if lease else ""])
        if result[0] == "fenced":
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed")
        if result[0] != "ok":
            raise LedgerError(f"ledger: intent {intent_id} cannot be un-included from {result[1]!r}")

    @redis_io
    def history(self, intent_id: str) -> list[Transition]:
        items = self._r.lrange(self._ikey(intent_id, "history"), 0, -1)
        return [Transition(source=a, to=b, at=float(t)) for a, b, t in (json.loads(x) for x in items)]


__all__ = ["IntentBook"]
