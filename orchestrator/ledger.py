"""The ledger: every run and trade intent, its state machine and its signed transactions, in Redis.

Intents move ``planned -> signed -> sent -> confirmed | failed -> reconciled`` (and ``planned -> skipped`` when the
kill switch, a circuit breaker or a dead chain stops a trade before it is signed; ``planned -> failed`` when a
trade is refused before signing). Every transition is one atomic Lua script that checks the current state, so
two deliveries of the same Celery message cannot both sign: the second sees ``signed`` and re-uses the stored
bytes. Write-ahead: the signed raw transaction and its hash are stored *before* broadcast (``record_signed`` /
``add_attempt``), so after any crash the intent is resolved by re-broadcasting those bytes or by nonce and hash.
Raw transactions are kept in a separate key, never in the records :meth:`Ledger.intent` returns, so they do not
end up in logs or CLI output by accident.

Nonces are allocated per lane (chain, wallet) by the ledger and recorded, so they stay contiguous.

Usage::

    ledger = Ledger(redis_client(url), prefix="ch")
    ledger.create_run("r-20250101T000000", kind="manual")
    ledger.add_intents(run_id, [intent, ...])
    nonce = ledger.allocate_nonce(intent.id, chain_pending_nonce)
    ledger.record_signed(intent.id, nonce, raw_hex, attempt, tx_fields)   # then broadcast
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal, cast

import redis
from pydantic import BaseModel, ConfigDict

from adapters.base import Fill, Side
from crosshedge.errors import LedgerError


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntentState(StrEnum):
    PLANNED = "planned"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    SKIPPED = "skipped"
    RECONCILED = "reconciled"


class RunState(StrEnum):
    CREATED = "created"
    SNAPSHOTTED = "snapshotted"
    PLANNED = "planned"
    EXECUTING = "executing"
    CONFIRMED = "confirmed"
    RECONCILED = "reconciled"
    NOOP = "noop"  # the policy decided not to trade
    FAILED = "failed"


INTENT_TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    IntentState.PLANNED: frozenset({IntentState.SIGNED, IntentState.SKIPPED, IntentState.FAILED}),
    IntentState.SIGNED: frozenset({IntentState.SENT}),
    IntentState.SENT: frozenset({IntentState.CONFIRMED, IntentState.FAILED}),
    IntentState.CONFIRMED: frozenset({IntentState.RECONCILED}),
    IntentState.FAILED: frozenset({IntentState.RECONCILED}),
    IntentState.SKIPPED: frozenset(),
    IntentState.RECONCILED: frozenset(),
}
TERMINAL_INTENT_STATES = frozenset({IntentState.RECONCILED, IntentState.SKIPPED})

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.CREATED: frozenset({RunState.SNAPSHOTTED, RunState.FAILED}),
    RunState.SNAPSHOTTED: frozenset({RunState.PLANNED, RunState.NOOP, RunState.FAILED}),
    RunState.PLANNED: frozenset({RunState.EXECUTING, RunState.FAILED}),
    RunState.EXECUTING: frozenset({RunState.CONFIRMED}),
    RunState.CONFIRMED: frozenset({RunState.RECONCILED}),
    RunState.RECONCILED: frozenset(),
    RunState.NOOP: frozenset(),
    RunState.FAILED: frozenset(),
}
TERMINAL_RUN_STATES = frozenset({RunState.RECONCILED, RunState.NOOP, RunState.FAILED})


class IntentKind(StrEnum):
    APPROVE = "approve"
    SWAP = "swap"


class Intent(Frozen):
    """One transaction crosshedge means to send: an exact ERC20 approval or an exact-in swap."""

    id: str
    run_id: str
    seq: int  # order within its lane
    kind: IntentKind
    chain: str
    wallet: str  # wallet name in chains.yaml
    sender: str  # the wallet's address
    target: str  # the contract called: a token (approve) or a router (swap)
    token_in: str
    amount_in_raw: int
    venue: str | None = None
    adapter: str | None = None
    underlying: str | None = None
    side: Side | None = None
    token_out: str | None = None
    spender: str | None = None  # approve only: the router
    min_amount_out_raw: int = 0
    expected_amount_out_raw: int = 0
    base_amount: float = 0.0
    quote_amount: float = 0.0
    notional_usd: float = 0.0
    predicted_cost_usd: float = 0.0  # fee + impact + gas, as the optimizer predicted
    predicted_gas_usd: float = 0.0

    @property
    def lane(self) -> str:
        return lane_name(self.chain, self.wallet)

    @property
    def nonce_sequence(self) -> str:
        """Nonces are the sending account's, not the wallet name's: a rotated key (or a fresh devnet's operator)
        under the same name starts its own sequence instead of inheriting a gap from the old one."""
        return f"{self.lane}:{self.sender.lower()}"


class Attempt(Frozen):
    """One signed transaction for an intent (the first, or a fee-bumped replacement at the same nonce)."""

    tx_hash: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    signed_at: float


class TxFields(Frozen):
    """The transaction body every attempt of an intent shares; only the fee fields change on replacement."""

    chain_id: int
    nonce: int
    to: str
    data: str
    value: int
    gas: int
    deadline: int | None = None


class ReceiptInfo(Frozen):
    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price_wei: int


class IntentRecord(Frozen):
    """An intent as the ledger knows it now (without raw transaction bytes)."""

    spec: Intent
    state: IntentState
    nonce: int | None = None
    tx: TxFields | None = None
    attempts: tuple[Attempt, ...] = ()
    receipt: ReceiptInfo | None = None
    fill: Fill | None = None
    gas_cost_wei: int = 0
    error: str = ""
    confirmed_depth: bool = False

    @property
    def tx_hash(self) -> str | None:
        """The hash that landed (from the receipt), else the latest attempt's."""
        if self.receipt is not None:
            return self.receipt.tx_hash
        return self.attempts[-1].tx_hash if self.attempts else None


class RunRecord(Frozen):
    id: str
    state: RunState
    kind: str
    created_at: float
    updated_at: float
    parent: str | None = None
    followup: int = 0
    partial: bool = False
    halted: str = ""
    error: str = ""


def lane_name(chain: str, wallet: str) -> str:
    """The execution lane of a signer on a chain; one nonce sequence, one Celery queue."""
    return f"{chain}.{wallet}"


_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {'missing', ''} end
local allowed = cjson.decode(ARGV[2])
local ok = false
for _, s in ipairs(allowed) do if s == cur then ok = true end end
if not ok then return {'illegal', cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[3])
local n = tonumber(ARGV[4])
for i = 5, 4 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local r = 5 + 2 * n
if ARGV[r] ~= nil and ARGV[r] ~= '' then redis.call('HSET', KEYS[3], ARGV[r], ARGV[r + 1]) end
redis.call('RPUSH', KEYS[2], cjson.encode({cur, ARGV[1], ARGV[3]}))
return {'ok', cur}
"""

_ADD_ATTEMPT = """
local cur = redis.call('HGET', KEYS[1], 'state')
if cur ~= ARGV[1] then return {'illegal', cur or ''} end
local attempts = cjson.decode(redis.call('HGET', KEYS[1], 'attempts') or '[]')
if #attempts ~= tonumber(ARGV[2]) then return {'stale', tostring(#attempts)} end
redis.call('HSET', KEYS[1], 'attempts', ARGV[3], 'updated_at', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return {'ok', cur}
"""

_ALLOCATE_NONCE = """
local have = redis.call('HGET', KEYS[1], 'nonce')
if have then return tonumber(have) end
local nxt = tonumber(redis.call('HGET', KEYS[2], 'next') or '-1')
local chain = tonumber(ARGV[1])
if chain > nxt then nxt = chain end
redis.call('HSET', KEYS[1], 'nonce', nxt)
redis.call('HSET', KEYS[2], 'next', nxt + 1, 'n:' .. nxt, ARGV[2])
return nxt
"""

_RELEASE_NONCE = """
local have = redis.call('HGET', KEYS[1], 'nonce')
if not have then return 0 end
local nxt = tonumber(redis.call('HGET', KEYS[2], 'next') or '-1')
if nxt == tonumber(have) + 1 and redis.call('HGET', KEYS[2], 'n:' .. have) == ARGV[1] then
  redis.call('HSET', KEYS[2], 'next', tonumber(have))
  redis.call('HDEL', KEYS[2], 'n:' .. have)
  redis.call('HDEL', KEYS[1], 'nonce')
  return 1
end
return 0
"""


class Ledger:
    """Runs, intents, nonces and stage bookkeeping in one Redis database.

    Usage: ``ledger = Ledger(redis_client(url)); ledger.intent(intent_id).state``
    """

    def __init__(self, client: redis.Redis, prefix: str = "ch", clock: Any = time.time) -> None:
        self.r = client
        self.p = prefix
        self._clock = clock
        self._transition = client.register_script(_TRANSITION)
        self._add_attempt = client.register_script(_ADD_ATTEMPT)
        self._allocate = client.register_script(_ALLOCATE_NONCE)
        self._release = client.register_script(_RELEASE_NONCE)

    # -- keys -------------------------------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    def _ikey(self, intent_id: str, *suffix: str) -> str:
        return self.key("intent", intent_id, *suffix)

    def _rkey(self, run_id: str, *suffix: str) -> str:
        return self.key("run", run_id, *suffix)

    # -- runs -------------------------------------------------------------------------------------------------
    def create_run(self, run_id: str, kind: str, parent: str | None = None, followup: int = 0) -> bool:
        """Create a run record; False (and nothing changes) if a run with this id exists (idempotent trigger)."""
        now = self._clock()
        fields = {"id": run_id, "state": RunState.CREATED.value, "kind": kind, "created_at": repr(now),
                  "updated_at": repr(now), "parent": parent or "", "followup": str(followup)}
        created = bool(self.r.hsetnx(self._rkey(run_id), "id", run_id))
        if not created:
            return False
        self.r.hset(self._rkey(run_id), mapping=cast(Any, fields))  # redis-py's Mapping key type is invariant
        self.r.zadd(self.key("runs"), {run_id: now})
        return True

    def run(self, run_id: str) -> RunRecord:
        raw: dict[str, str] = self.r.hgetall(self._rkey(run_id))  # type: ignore[assignment]
        if not raw or "state" not in raw:
            raise LedgerError(f"ledger: no run {run_id!r}")
        return RunRecord(
            id=raw["id"], state=RunState(raw["state"]), kind=raw.get("kind", ""),
            created_at=float(raw["created_at"]), updated_at=float(raw["updated_at"]),
            parent=raw.get("parent") or None, followup=int(raw.get("followup", "0")),
            partial=raw.get("partial") == "1", halted=raw.get("halted", ""), error=raw.get("error", ""),
        )

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """Most recent runs first."""
        ids: list[str] = self.r.zrevrange(self.key("runs"), 0, limit - 1)  # type: ignore[assignment]
        return [self.run(i) for i in ids]

    def set_run_state(self, run_id: str, to: RunState, **fields: str) -> bool:
        """Move a run along its state machine; False if it already is in ``to``; LedgerError if illegal."""
        allowed = [s.value for s, nxt in RUN_TRANSITIONS.items() if to in nxt]
        return self._apply(self._rkey(run_id), self._rkey(run_id, "history"), "", f"run {run_id}", to.value,
                           allowed, fields, None)

    def mark_run(self, run_id: str, **fields: str) -> None:
        """Set flags on a run (partial, halted, error); not a state change."""
        self.r.hset(self._rkey(run_id), mapping=cast(Any, fields))

    def put_blob(self, run_id: str, name: str, value: BaseModel | dict[str, Any] | list[Any]) -> None:
        """Store a stage's output (snapshot, decision, plan, report) as JSON under the run."""
        text = value.model_dump_json() if isinstance(value, BaseModel) else json.dumps(value)
        self.r.hset(self._rkey(run_id, "blobs"), name, text)

    def blob(self, run_id: str, name: str) -> Any | None:
        text = self.r.hget(self._rkey(run_id, "blobs"), name)
        return None if text is None else json.loads(text)

    def add_event(self, run_id: str, kind: str, message: str, **extra: Any) -> None:
        """Append a note to the run's event log (breaker trips, down chains, refusals)."""
        event = {"at": self._clock(), "kind": kind, "message": message, **extra}
        self.r.rpush(self._rkey(run_id, "events"), json.dumps(event))

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(self._rkey(run_id, "events"), 0, -1)]

    def mark_done(self, run_id: str, stage: str, member: str) -> int:
        """Record that ``member`` (a chain, a lane) finished ``stage``; returns how many have finished."""
        self.r.sadd(self._rkey(run_id, "done", stage), member)
        return int(self.r.scard(self._rkey(run_id, "done", stage)))

    def done(self, run_id: str, stage: str) -> set[str]:
        return set(self.r.smembers(self._rkey(run_id, "done", stage)))  # type: ignore[arg-type]

    def claim(self, run_id: str, step: str) -> bool:
        """True exactly once per (run, step): fan-in without chords, so only one task enqueues the next stage."""
        return bool(self.r.set(self._rkey(run_id, "claim", step), "1", nx=True))

    # -- intents ----------------------------------------------------------------------------------------------
    def add_intents(self, run_id: str, intents: Sequence[Intent]) -> None:
        """Record planned intents (idempotent: an intent id that exists is left as it is)."""
        for intent in intents:
            if intent.run_id != run_id:
                raise LedgerError(f"ledger: intent {intent.id} belongs to run {intent.run_id}, not {run_id}")
            if not self.r.hsetnx(self._ikey(intent.id), "spec", intent.model_dump_json()):
                continue
            planned = {"state": IntentState.PLANNED.value, "updated_at": repr(self._clock())}
            self.r.hset(self._ikey(intent.id), mapping=cast(Any, planned))
            self.r.rpush(self._rkey(run_id, "intents"), intent.id)
            self.r.rpush(self._rkey(run_id, "lane", intent.lane), intent.id)
            self.r.sadd(self._rkey(run_id, "lanes"), intent.lane)

    def intent_ids(self, run_id: str, lane: str | None = None) -> list[str]:
        key = self._rkey(run_id, "lane", lane) if lane else self._rkey(run_id, "intents")
        return list(self.r.lrange(key, 0, -1))  # type: ignore[arg-type]

    def lanes(self, run_id: str) -> list[str]:
        return sorted(self.r.smembers(self._rkey(run_id, "lanes")))  # type: ignore[arg-type]

    def intent(self, intent_id: str) -> IntentRecord:
        raw: dict[str, str] = self.r.hgetall(self._ikey(intent_id))  # type: ignore[assignment]
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
            gas_cost_wei=int(raw.get("gas_cost_wei", "0")),
            error=raw.get("error", ""),
            confirmed_depth=raw.get("confirmed_depth") == "1",
        )

    def intents(self, run_id: str, lane: str | None = None) -> list[IntentRecord]:
        return [self.intent(i) for i in self.intent_ids(run_id, lane)]

    def raw_tx(self, intent_id: str, attempt: int) -> str:
        """The stored signed bytes of one attempt (hex), for re-broadcast. Not a secret, but keep it out of logs."""
        raw = self.r.hget(self._ikey(intent_id, "raw"), str(attempt))
        if raw is None:
            raise LedgerError(f"ledger: intent {intent_id} has no stored transaction for attempt {attempt}")
        return str(raw)

    def transition(self, intent_id: str, to: IntentState, **fields: str) -> bool:
        """Move an intent along its state machine, setting ``fields`` atomically with the state.

        Returns False when the intent already is in ``to`` (a redelivered task doing the same step again);
        raises :class:`LedgerError` for an illegal transition or an unknown intent.
        """
        allowed = [s.value for s, nxt in INTENT_TRANSITIONS.items() if to in nxt]
        return self._apply(self._ikey(intent_id), self._ikey(intent_id, "history"), self._ikey(intent_id, "raw"),
                           f"intent {intent_id}", to.value, allowed, fields, None)

    def record_signed(self, intent_id: str, raw_hex: str, attempt: Attempt, tx: TxFields) -> bool:
        """Write-ahead: store the first signed transaction (bytes and hash) *before* it is broadcast.

        False means another delivery already signed this intent: do not broadcast your bytes, use the stored ones.
        """
        fields = {"attempts": json.dumps([attempt.model_dump()]), "tx": tx.model_dump_json(),
                  "tx_hash": attempt.tx_hash}
        allowed = [IntentState.PLANNED.value]
        return self._apply(self._ikey(intent_id), self._ikey(intent_id, "history"), self._ikey(intent_id, "raw"),
                           f"intent {intent_id}", IntentState.SIGNED.value, allowed, fields, ("0", raw_hex))

    def add_attempt(self, intent_id: str, index: int, raw_hex: str, attempt: Attempt) -> None:
        """Write-ahead for a replacement (same nonce, higher fees): stored before it is broadcast.

        ``index`` is the number of attempts the caller saw; a concurrent writer makes this raise LedgerError.
        """
        record = self.intent(intent_id)
        attempts = [a.model_dump() for a in record.attempts] + [attempt.model_dump()]
        result = self._add_attempt(
            keys=[self._ikey(intent_id), self._ikey(intent_id, "raw")],
            args=[IntentState.SENT.value, str(index), json.dumps(attempts), raw_hex, repr(self._clock())],
        )
        status, detail = result[0], result[1]
        if status != "ok":
            raise LedgerError(f"ledger: cannot add attempt {index} to intent {intent_id} ({status}: {detail})")

    def _apply(self, key: str, history: str, raw_key: str, what: str, to: str, allowed: list[str],
               fields: dict[str, str], raw: tuple[str, str] | None) -> bool:
        args: list[str] = [to, json.dumps(allowed), repr(self._clock()), str(len(fields))]
        for k, v in fields.items():
            args += [k, v]
        args += list(raw) if raw else ["", ""]
        result = self._transition(keys=[key, history, raw_key or key + ":raw"], args=args)
        status, current = result[0], result[1]
        if status == "ok":
            return True
        if status == "missing":
            raise LedgerError(f"ledger: no {what}")
        if current == to:
            return False
        raise LedgerError(f"ledger: {what} cannot move from {current!r} to {to!r}")

    def history(self, intent_id: str) -> list[tuple[str, str, float]]:
        items = self.r.lrange(self._ikey(intent_id, "history"), 0, -1)
        return [(a, b, float(t)) for a, b, t in (json.loads(x) for x in items)]

    # -- nonces -----------------------------------------------------------------------------------------------
    def allocate_nonce(self, intent_id: str, lane: str, chain_pending_nonce: int) -> int:
        """The intent's nonce: the one already recorded, else the lane's next (never below the chain's count)."""
        return int(self._allocate(keys=[self._ikey(intent_id), self.key("lane", lane)],
                                  args=[str(chain_pending_nonce), intent_id]))

    def release_nonce(self, intent_id: str, lane: str) -> bool:
        """Give back an unsigned intent's nonce when it was the lane's last one (keeps nonces contiguous)."""
        return bool(self._release(keys=[self._ikey(intent_id), self.key("lane", lane)], args=[intent_id]))

    def lane_nonces(self, lane: str) -> dict[int, str]:
        raw: dict[str, str] = self.r.hgetall(self.key("lane", lane))  # type: ignore[assignment]
        return {int(k[2:]): v for k, v in raw.items() if k.startswith("n:")}

    # -- locks, notional --------------------------------------------------------------------------------------
    def acquire(self, name: str, owner: str, ttl_s: int) -> bool:
        """A named lock with an owner and a TTL (re-entrant for the same owner)."""
        key = self.key("lock", name)
        if self.r.set(key, owner, nx=True, ex=ttl_s):
            return True
        if self.r.get(key) == owner:
            self.r.expire(key, ttl_s)
            return True
        return False

    def release(self, name: str, owner: str) -> None:
        key = self.key("lock", name)
        if self.r.get(key) == owner:
            self.r.delete(key)

    def lock_owner(self, name: str) -> str | None:
        owner = self.r.get(self.key("lock", name))
        return None if owner is None else str(owner)

    def add_notional(self, day: str, usd: float) -> float:
        """Add to the day's traded notional; returns the new total."""
        return float(self.r.incrbyfloat(self.key("notional", day), usd))

    def notional(self, day: str) -> float:
        value = self.r.get(self.key("notional", day))
        return float(value) if value is not None else 0.0


def dumps_fields(**values: BaseModel | int | str | bool) -> dict[str, str]:
    """Ledger fields as strings: models as JSON, ints/bools as text."""
    out: dict[str, str] = {}
    for k, v in values.items():
        if isinstance(v, BaseModel):
            out[k] = v.model_dump_json()
        elif isinstance(v, bool):
            out[k] = "1" if v else "0"
        else:
            out[k] = str(v)
    return out


def all_terminal(records: Iterable[IntentRecord]) -> bool:
    return all(r.state in TERMINAL_INTENT_STATES for r in records)


IntentStateName = Literal["planned", "signed", "sent", "confirmed", "failed", "skipped", "reconciled"]
