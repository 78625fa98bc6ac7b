"""The ledger's transfers: a bridge deposit's life after its origin transaction, as a state machine of its own.

A transfer is created once its deposit is on the origin chain (the deposit is an intent of the origin's lane, so
it is signed and sent exactly once like any transaction) and moves

    deposited -> filled                      the relayer paid the wallet on the destination
    deposited -> expired -> refunded         nobody filled by the deadline; the origin paid the input back
    deposited | expired -> stuck             neither happened within the bound: an alert, still resolvable
    stuck -> filled | refunded

Each move is one atomic transition (the ledger's TRANSITION script), so two trackers (or a redelivered task)
cannot both book a fill. Until it is filled or refunded a transfer's funds are *arriving*: counted for the
destination (or, once expired, for the origin) and for nobody else, so nothing is counted twice or lost in flight.

Usage::

    ledger.add_transfer(record)                       # idempotent: an id that exists is left as it is
    ledger.move_transfer(record.id, TransferState.FILLED, fill=fill.model_dump_json())
    [t for t in ledger.transfers() if t.open]
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import cast

from adapters import Deposit, Refund, RelayFill
from crosshedge import Frozen, LedgerError
from orchestrator.ledger.core import LedgerCore, redis_io


class TransferState(StrEnum):
    DEPOSITED = "deposited"
    FILLED = "filled"
    EXPIRED = "expired"  # past its fill deadline unfilled; the refund is due on the origin
    REFUNDED = "refunded"
    STUCK = "stuck"  # no fill and no refund within the bound: alerted, and still watched


TRANSFER_TRANSITIONS: dict[TransferState, frozenset[TransferState]] = {
    TransferState.DEPOSITED: frozenset({TransferState.FILLED, TransferState.EXPIRED, TransferState.STUCK}),
    TransferState.EXPIRED: frozenset({TransferState.REFUNDED, TransferState.STUCK}),
    TransferState.STUCK: frozenset({TransferState.FILLED, TransferState.REFUNDED}),
    TransferState.FILLED: frozenset(),
    TransferState.REFUNDED: frozenset(),
}
#: States whose funds are still in flight (not yet back in any wallet).
OPEN_TRANSFER_STATES = frozenset({TransferState.DEPOSITED, TransferState.EXPIRED, TransferState.STUCK})


class TransferRecord(Frozen):
    """A transfer as the ledger knows it: its route, the deposit, and how it ended (or not yet)."""

    id: str  # the deposit intent's id
    run_id: str
    adapter: str
    route: str  # "ethereum->base/USDC"
    origin: str
    destination: str
    symbol: str
    deposit: Deposit
    # The destination's head when the deposit was booked: its fill cannot be in an earlier block, so log searches
    # start here.
    destination_from_block: int
    state: TransferState = TransferState.DEPOSITED
    fill: RelayFill | None = None
    refund: Refund | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    note: str = ""  # the last thing the tracker could not do (a destination that did not answer), or the alert

    @property
    def open(self) -> bool:
        return self.state in OPEN_TRANSFER_STATES

    @property
    def latency_s(self) -> float | None:
        """Seconds from the deposit's quote time to the fill's block (None unless filled)."""
        if self.fill is None:
            return None
        return float(self.fill.block_timestamp - self.deposit.quote_timestamp)

    @property
    def seen_latency_s(self) -> float | None:
        """Seconds from the ledger booking the deposit to booking its fill, on the workers' clock (None unless
        filled). latency_s compares two chains' clocks, which a devnet (the demo's block clock runs every chain
        ahead of the host by its own block count) or a lagging sequencer can set seconds apart."""
        if self.state is not TransferState.FILLED or self.updated_at < self.created_at:
            return None
        return self.updated_at - self.created_at


_JSON_FIELDS = ("deposit", "fill", "refund")
#: KEYS: record, index. ARGV: score, id, then field/value pairs. One step, so a crash never leaves half a record.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


class TransferBook(LedgerCore):
    """Transfers, their transitions and the index of those still open."""

    def _tkey(self, transfer_id: str, *suffix: str) -> str:
        return self.key("transfer", transfer_id, *suffix)

    @redis_io
    def add_transfer(self, record: TransferRecord) -> bool:
        """Record a new transfer, whole or not at all; False when one with this id already exists (left as it is)."""
        fields = {k: (json.dumps(v) if isinstance(v, dict) else str(v))
                  for k, v in record.model_dump(mode="json", exclude_none=True).items()}
        fields["created_at"] = fields["updated_at"] = repr(self._clock())
        args: list[str] = [str(record.deposit.block_number), record.id]
        for k, v in fields.items():
            args += [k, v]
        create = self._r.register_script(_CREATE)
        return bool(create(keys=[self._tkey(record.id), self.key("transfers")], args=args))

    @redis_io
    def transfer(self, transfer_id: str) -> TransferRecord:
        raw = cast(dict[str, str], self._r.hgetall(self._tkey(transfer_id)))
        if not raw or "deposit" not in raw:
            raise LedgerError(f"ledger: no transfer {transfer_id}")
        return self._transfer_record(raw)

    @staticmethod
    def _transfer_record(raw: dict[str, str]) -> TransferRecord:
        body: dict[str, object] = {k: v for k, v in raw.items() if k not in _JSON_FIELDS}
        for k in _JSON_FIELDS:
            if k in raw:
                body[k] = json.loads(raw[k])
        return TransferRecord.model_validate(body)

    @redis_io
    def transfers(self, run_id: str | None = None) -> list[TransferRecord]:
        """Every transfer (or a run's), oldest deposit first."""
        ids = cast(list[str], self._r.zrange(self.key("transfers"), 0, -1))
        pipe = self._r.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(self._tkey(i))
        out = [self._transfer_record(raw) for raw in pipe.execute() if raw and "deposit" in raw]
        return [t for t in out if run_id is None or t.run_id == run_id]

    def move_transfer(self, transfer_id: str, to: TransferState, **fields: str) -> bool:
        """Move a transfer along its state machine, setting ``fields`` with the state in the same step.

        False when it already is in ``to`` (another tracker booked it); LedgerError for an illegal move.
        """
        allowed = [s.value for s, nxt in TRANSFER_TRANSITIONS.items() if to in nxt]
        keys, args = self._transition_call(self._tkey(transfer_id), self._tkey(transfer_id, "history"), "",
                                           to.value, allowed, fields, None, None)
        result = self._run_transition(keys, args)
        status, current = result[0], result[1]
        if status == "ok":
            return True
        if status == "missing":
            raise LedgerError(f"ledger: no transfer {transfer_id}")
        if current == to.value:
            return False
        raise LedgerError(f"ledger: transfer {transfer_id} cannot move from {current!r} to {to.value!r}")

    @redis_io
    def _run_transition(self, keys: list[str], args: list[str]) -> list[str]:
        return cast(list[str], self._transition(keys=keys, args=args))

    @redis_io
    def note_transfer(self, transfer_id: str, note: str) -> None:
        """Record what the tracker could not do this time (kept until the next note)."""
        self._r.hset(self._tkey(transfer_id), mapping={"note": note, "updated_at": repr(self._clock())})


__all__ = ["OPEN_TRANSFER_STATES", "TRANSFER_TRANSITIONS", "TransferBook", "TransferRecord", "TransferState"]
