"""The ledger: every run and trade intent, its state machine and its signed transactions, in Redis.

Every transition is one atomic Lua script (orchestrator.ledger.scripts) that checks the current state, so two
deliveries of the same Celery message cannot both sign: the second sees ``signed`` and re-uses the stored bytes.
Write-ahead: the signed raw transaction and its hash are stored *before* broadcast (``record_signed`` /
``add_attempt``), so after any crash the intent is resolved by re-broadcasting those bytes or by nonce and hash.
Raw transactions are kept in a separate key, never in the records :meth:`Ledger.intent` returns, so they do not
end up in logs or CLI output by accident. Nonces are allocated per sending account by the ledger and recorded, so
they stay contiguous. Writers on a lane hold a fenced :class:`Lease`; a writer whose lease lapsed cannot write.

This class is the only code that talks to the Redis client: everything else reads and writes through its methods,
which return pydantic models. A Redis that cannot be reached raises :class:`LedgerUnavailableError` (retryable).

Usage::

    ledger = Ledger(redis_client(url), prefix="ch")
    ledger.create_run("r-20250101T000000", kind="manual")
    ledger.add_intents(run_id, [intent, ...])
    nonce = ledger.allocate_nonce(intent.id, intent.nonce_sequence, chain_pending_nonce)
    ledger.record_signed(intent.id, raw_hex, attempt, tx_fields)   # then broadcast
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import redis
from pydantic import BaseModel

from adapters import Fill
from crosshedge import LeaseLostError, LedgerError, LedgerUnavailableError
from orchestrator.ledger import scripts
from orchestrator.ledger.models import (
    INTENT_TRANSITIONS,
    RUN_PROGRESS,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATES,
    Attempt,
    Intent,
    IntentRecord,
    IntentState,
    Lease,
    ReceiptInfo,
    RunEvent,
    RunRecord,
    RunState,
    TaskLatency,
    Transition,
    TxFields,
)


class LedgerObserver(Protocol):
    """Told of every state change the ledger makes (metrics count them); never asked anything back."""

    def on_event(self, kind: str, chain: str | None) -> None: ...

    def on_run_state(self, state: str) -> None: ...

    def on_intent(self, chain: str, kind: str, state: str) -> None: ...


P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

#: Buckets (seconds) of the task latency histogram kept in the ledger.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


def _io(method: Callable[P, R]) -> Callable[P, R]:
    """Turn a lost Redis connection into LedgerUnavailableError (retryable) and a script error into LedgerError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise LedgerUnavailableError(
                f"ledger: Redis is unavailable ({type(exc).__name__}: {str(exc)[:120]})") from None
        except redis.ResponseError as exc:
            raise LedgerError(f"ledger: Redis refused {method.__name__} ({exc})") from None

    return wrapper


class Ledger:
    """Runs, intents, nonces, leases, limits and the kill switch in one Redis database.

    Usage: ``ledger = Ledger(redis_client(url)); ledger.intent(intent_id).state``
    """

    def __init__(self, client: redis.Redis, prefix: str = "ch", clock: Callable[[], float] = time.time,
                 expected_server: Callable[[], str | None] | None = None,
                 observer: LedgerObserver | None = None) -> None:
        self._r = client
        self.prefix = prefix
        self._clock = clock
        # The run id of the Redis server this ledger must be talking to (the embedded server that owns its
        # directory); None for an external Redis, which its operator owns.
        self._expected_server = expected_server
        self._observer = observer
        self._transition = client.register_script(scripts.TRANSITION)
        self._add_attempt = client.register_script(scripts.ADD_ATTEMPT)
        self._allocate = client.register_script(scripts.ALLOCATE_NONCE)
        self._release = client.register_script(scripts.RELEASE_NONCE)
        self._add_intents = client.register_script(scripts.ADD_INTENTS)
        self._acquire_lease = client.register_script(scripts.ACQUIRE_LEASE)
        self._renew_lease = client.register_script(scripts.RENEW_LEASE)
        self._release_lease = client.register_script(scripts.RELEASE_LEASE)
        self._revert_inclusion = client.register_script(scripts.REVERT_INCLUSION)
        self._assign = client.register_script(scripts.ASSIGN_NONCE)

    # -- keys -------------------------------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _ikey(self, intent_id: str, *suffix: str) -> str:
        return self.key("intent", intent_id, *suffix)

    def _rkey(self, run_id: str, *suffix: str) -> str:
        return self.key("run", run_id, *suffix)

    def _lease_key(self, name: str) -> str:
        return self.key("lease", name)

    # -- the server -------------------------------------------------------------------------------------------
    @_io
    def ping(self) -> bool:
        return bool(self._r.ping())

    @_io
    def server_id(self) -> str:
        """The Redis server's run id: it changes when a different server (or a restarted one) answers."""
        info: dict[str, Any] = self._r.info("server")
        return str(info.get("run_id", ""))

    def verify_server(self) -> None:
        """LedgerError when this client talks to a server other than the one that owns the ledger's directory
        (a stale server still answering an old connection): nothing may be signed against it."""
        if self._expected_server is None:
            return
        expected, actual = self._expected_server(), self.server_id()
        if expected is None or expected != actual:
            raise LedgerError(f"ledger: this process talks to Redis server {actual[:12] or '?'}, but the ledger's "
                              f"server is {(expected or 'unknown')[:12]}; refusing to act on a stale server")

    # -- runs -------------------------------------------------------------------------------------------------
    @_io
    def create_run(self, run_id: str, kind: str, parent: str | None = None, followup: int = 0) -> bool:
        """Create a run record; False (and nothing changes) if a run with this id exists (idempotent trigger)."""
        now = self._clock()
        fields = {"id": run_id, "state": RunState.CREATED.value, "kind": kind, "created_at": repr(now),
                  "updated_at": repr(now), "parent": parent or "", "followup": str(followup)}
        if not self._r.hsetnx(self._rkey(run_id), "id", run_id):
            return False
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._rkey(run_id), mapping=cast(Any, fields))  # redis-py's Mapping key type is invariant
        pipe.zadd(self.key("runs"), {run_id: now})
        pipe.execute()
        if self._observer is not None:
            self._observer.on_run_state(RunState.CREATED.value)
        return True

    @_io
    def run(self, run_id: str) -> RunRecord:
        raw = cast(dict[str, str], self._r.hgetall(self._rkey(run_id)))
        if not raw or "state" not in raw:
            raise LedgerError(f"ledger: no run {run_id!r}")
        return RunRecord(
            id=raw["id"], state=RunState(raw["state"]), kind=raw.get("kind", ""),
            created_at=float(raw["created_at"]), updated_at=float(raw["updated_at"]),
            parent=raw.get("parent") or None, followup=int(raw.get("followup", "0")),
            partial=raw.get("partial") == "1", halted=raw.get("halted", ""), error=raw.get("error", ""),
        )

    @_io
    def has_run(self, run_id: str) -> bool:
        return bool(self._r.exists(self._rkey(run_id)))

    @_io
    def runs(self, limit: int = 50) -> list[RunRecord]:
        """Most recent runs first."""
        ids = cast(list[str], self._r.zrevrange(self.key("runs"), 0, limit - 1))
        return [self.run(i) for i in ids]

    def set_run_state(self, run_id: str, to: RunState, **fields: str) -> bool:
        """Move a run along its state machine; False if it already is in ``to`` or past it (a duplicate delivery
        of a stage another delivery finished); LedgerError for a move its state machine does not allow."""
        allowed = [s.value for s, nxt in RUN_TRANSITIONS.items() if to in nxt]
        try:
            return self._apply(self._rkey(run_id), self._rkey(run_id, "history"), "", f"run {run_id}", to.value,
                               allowed, fields, None, None)
        except LedgerError:
            current = self.run(run_id).state
            if current in TERMINAL_RUN_STATES or RUN_PROGRESS[current] > RUN_PROGRESS[to]:
                return False
            raise

    @_io
    def mark_run(self, run_id: str, *, partial: bool | None = None, halted: str | None = None,
                 error: str | None = None) -> None:
        """Set flags on a run (partial, halted, error); not a state change."""
        fields: dict[str, str] = {}
        if partial is not None:
            fields["partial"] = "1" if partial else "0"
        if halted is not None:
            fields["halted"] = halted
        if error is not None:
            fields["error"] = error
        if fields:
            self._r.hset(self._rkey(run_id), mapping=cast(Any, fields))

    @_io
    def run_history(self, run_id: str) -> list[Transition]:
        return [Transition(source=a, to=b, at=float(t))
                for a, b, t in (json.loads(x) for x in self._r.lrange(self._rkey(run_id, "history"), 0, -1))]

    # -- stage outputs ----------------------------------------------------------------------------------------
    @_io
    def put_blob(self, run_id: str, name: str, value: BaseModel) -> None:
        """Store a stage's output (snapshot, decisions, plan, report) as JSON under the run."""
        self._r.hset(self._rkey(run_id, "blobs"), name, value.model_dump_json())

    @_io
    def put_blob_once(self, run_id: str, name: str, value: BaseModel) -> bool:
        """Store a stage's output unless one is stored already (the first writer wins); True when this one was."""
        return bool(self._r.hsetnx(self._rkey(run_id, "blobs"), name, value.model_dump_json()))

    @_io
    def blob(self, run_id: str, name: str, model: type[M]) -> M | None:
        """A stage's stored output as ``model``, or None when the stage has not stored it."""
        text = self._r.hget(self._rkey(run_id, "blobs"), name)
        return None if text is None else model.model_validate_json(cast(str, text))

    @_io
    def remember(self, kind: str, key: str, value: BaseModel) -> None:
        """Keep the latest ``value`` of ``kind``/``key`` outside any run (e.g. a chain's last-known positions)."""
        self._r.hset(self.key("memory", kind), key, value.model_dump_json())

    @_io
    def recall(self, kind: str, key: str, model: type[M]) -> M | None:
        text = self._r.hget(self.key("memory", kind), key)
        return None if text is None else model.model_validate_json(cast(str, text))

    @_io
    def add_event(self, run_id: str, kind: str, message: str, *, chain: str | None = None,
                  venue: str | None = None, intent: str | None = None) -> None:
        """Append a note to the run's event log (breaker trips, down chains, refusals)."""
        event = RunEvent(at=self._clock(), kind=kind, message=message, chain=chain, venue=venue, intent=intent)
        self._r.rpush(self._rkey(run_id, "events"), event.model_dump_json())
        if self._observer is not None:
            self._observer.on_event(kind, chain)

    @_io
    def events(self, run_id: str) -> list[RunEvent]:
        return [RunEvent.model_validate_json(e) for e in self._r.lrange(self._rkey(run_id, "events"), 0, -1)]

    @_io
    def mark_done(self, run_id: str, stage: str, member: str) -> int:
        """Record that ``member`` (a chain, a lane) finished ``stage``; returns how many have finished."""
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(self._rkey(run_id, "done", stage), member)
        pipe.scard(self._rkey(run_id, "done", stage))
        return int(pipe.execute()[1])

    @_io
    def done(self, run_id: str, stage: str) -> set[str]:
        return set(cast(set[str], self._r.smembers(self._rkey(run_id, "done", stage))))

    @_io
    def claim(self, run_id: str, step: str) -> bool:
        """True exactly once per (run, step): fan-in without chords, so only one task enqueues the next stage."""
        return bool(self._r.set(self._rkey(run_id, "claim", step), "1", nx=True))

    # -- intents ----------------------------------------------------------------------------------------------
    @_io
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

    @_io
    def intent_ids(self, run_id: str, lane: str | None = None) -> list[str]:
        key = self._rkey(run_id, "lane", lane) if lane else self._rkey(run_id, "intents")
        return list(cast(list[str], self._r.lrange(key, 0, -1)))

    @_io
    def lanes(self, run_id: str) -> list[str]:
        return sorted(cast(set[str], self._r.smembers(self._rkey(run_id, "lanes"))))

    @_io
    def intent(self, intent_id: str) -> IntentRecord:
        raw = cast(dict[str, str], self._r.hgetall(self._ikey(intent_id)))
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
            reorgs=int(raw.get("reorgs", "0")),
        )

    def intents(self, run_id: str, lane: str | None = None) -> list[IntentRecord]:
        return [self.intent(i) for i in self.intent_ids(run_id, lane)]

    @_io
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

    @_io
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

    @_io
    def revert_inclusion(self, intent_id: str, reason: str, lease: Lease | None = None) -> None:
        """An included transaction left the canonical chain: back to 'sent', receipt and fill dropped, counted."""
        result = self._revert_inclusion(
            keys=[self._ikey(intent_id), self._ikey(intent_id, "history"), self._fence_key(lease)],
            args=[repr(self._clock()), reason, lease.token if lease else ""])
        if result[0] == "fenced":
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed")
        if result[0] != "ok":
            raise LedgerError(f"ledger: intent {intent_id} cannot be un-included from {result[1]!r}")

    @_io
    def _apply(self, key: str, history: str, raw_key: str, what: str, to: str, allowed: list[str],
               fields: dict[str, str], raw: tuple[str, str] | None, lease: Lease | None) -> bool:
        args: list[str] = [to, json.dumps(allowed), repr(self._clock()), str(len(fields))]
        for k, v in fields.items():
            args += [k, v]
        args += list(raw) if raw else ["", ""]
        args.append(lease.token if lease else "")
        result = self._transition(keys=[key, history, raw_key or key + ":raw", self._fence_key(lease)], args=args)
        status, current = result[0], result[1]
        if status == "ok":
            self._observe(to, result[2] if len(result) > 2 else "")
            return True
        if status == "missing":
            raise LedgerError(f"ledger: no {what}")
        if status == "fenced":
            raise LeaseLostError(f"ledger: {what}: the lease {lease.name if lease else ''} lapsed; this writer "
                              "stopped owning it and may not write")
        if current == to:
            return False
        raise LedgerError(f"ledger: {what} cannot move from {current!r} to {to!r}")

    def _observe(self, state: str, spec_json: str) -> None:
        if self._observer is None:
            return
        if not spec_json:
            self._observer.on_run_state(state)
            return
        spec = Intent.model_validate_json(spec_json)
        self._observer.on_intent(spec.chain, spec.kind.value, state)

    def _fence_key(self, lease: Lease | None) -> str:
        return self._lease_key(lease.name) if lease else self.key("lease", "-")

    @_io
    def history(self, intent_id: str) -> list[Transition]:
        items = self._r.lrange(self._ikey(intent_id, "history"), 0, -1)
        return [Transition(source=a, to=b, at=float(t)) for a, b, t in (json.loads(x) for x in items)]

    # -- nonces -----------------------------------------------------------------------------------------------
    @_io
    def allocate_nonce(self, intent_id: str, sequence: str, chain_pending_nonce: int,
                       lease: Lease | None = None) -> int:
        """The intent's nonce: the one already recorded, else the sequence's next (never below the chain's count)."""
        nonce = int(self._allocate(keys=[self._ikey(intent_id), self.key("lane", sequence), self._fence_key(lease)],
                                   args=[str(chain_pending_nonce), intent_id, lease.token if lease else ""]))
        if nonce < 0:
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed; "
                              "refusing to allocate a nonce")
        return nonce

    @_io
    def assign_nonce(self, intent_id: str, sequence: str, nonce: int, lease: Lease | None = None) -> int:
        """Give ``intent_id`` exactly ``nonce`` (a gap filler); LedgerError when another intent holds it."""
        got = int(self._assign(keys=[self._ikey(intent_id), self.key("lane", sequence), self._fence_key(lease)],
                               args=[str(nonce), intent_id, lease.token if lease else ""]))
        if got == -1:
            raise LeaseLostError(f"ledger: intent {intent_id}: the lease {lease.name if lease else ''} lapsed")
        if got == -2:
            raise LedgerError(f"ledger: nonce {nonce} of {sequence} is held by another intent")
        return got

    @_io
    def release_nonce(self, intent_id: str, sequence: str) -> bool:
        """Give back an unsigned intent's nonce when it was the sequence's last one (keeps nonces contiguous)."""
        return bool(self._release(keys=[self._ikey(intent_id), self.key("lane", sequence)], args=[intent_id]))

    @_io
    def lane_nonces(self, sequence: str) -> dict[int, str]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("lane", sequence)))
        return {int(k[2:]): v for k, v in raw.items() if k.startswith("n:")}

    # -- leases -----------------------------------------------------------------------------------------------
    @_io
    def acquire(self, name: str, owner: str, ttl_s: float) -> Lease | None:
        """Take the lease ``name`` for ``owner`` (re-entrant for the same owner), or None when another holds it."""
        ttl_ms = max(1, int(ttl_s * 1000))
        got = self._acquire_lease(keys=[self._lease_key(name), self._lease_key(name) + ":fence"],
                                  args=[owner, str(ttl_ms)])
        if not got:
            return None
        return Lease(name=name, owner=owner, token=str(got[0]), ttl_ms=ttl_ms)

    @_io
    def renew(self, lease: Lease) -> bool:
        """Extend ``lease`` by its TTL; False when it is no longer held (it lapsed or was taken over)."""
        return bool(self._renew_lease(keys=[self._lease_key(lease.name)],
                                      args=[lease.owner, lease.token, str(lease.ttl_ms)]))

    @_io
    def release(self, name: str, owner: str) -> bool:
        """Release ``owner``'s lease ``name`` (another owner's lease is left alone); True when it was released."""
        return bool(self._release_lease(keys=[self._lease_key(name)], args=[owner]))

    @_io
    def lease_owner(self, name: str) -> str | None:
        owner = self._r.hget(self._lease_key(name), "owner")
        return None if owner is None else str(owner)

    @_io
    def held(self, lease: Lease) -> bool:
        """True while ``lease`` is still the current holder's (same owner and token)."""
        current = cast(dict[str, str], self._r.hgetall(self._lease_key(lease.name)))
        return current.get("owner") == lease.owner and current.get("token") == lease.token

    # -- notional ---------------------------------------------------------------------------------------------
    @_io
    def add_notional(self, item_id: str, usd: float) -> None:
        """Book a signed trade's notional at the current time (idempotent per item); entries older than a week
        are dropped (no window looks further back)."""
        now = self._clock()
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(self.key("notional"), {f"{item_id}|{usd!r}": now}, nx=True)
        pipe.zremrangebyscore(self.key("notional"), "-inf", now - 7 * 86_400)
        pipe.execute()

    @_io
    def notional_since(self, since: float, prefix: str | None = None, exclude: str | None = None) -> float:
        """Notional booked at or after ``since`` (a rolling window, e.g. the last 24 h), optionally only of items
        whose id starts with ``prefix`` (one run's), leaving out ``exclude`` (the one being signed)."""
        members = cast(list[str], self._r.zrangebyscore(self.key("notional"), since, "+inf"))
        total = 0.0
        for m in members:
            item, usd = m.rsplit("|", 1)
            if (prefix is None or item.startswith(prefix)) and item != exclude:
                total += float(usd)
        return total

    # -- the kill switch --------------------------------------------------------------------------------------
    @_io
    def set_halt(self, reason: str) -> None:
        self._r.set(self.key("halt"), json.dumps({"reason": reason, "at": self._clock()}))

    @_io
    def halt_lane(self, lane: str, reason: str) -> None:
        """Stop one lane (its ledger and its chain disagree): nothing is signed on it until `resume`."""
        self._r.hset(self.key("halt", "lanes"), lane, json.dumps({"reason": reason, "at": self._clock()}))

    @_io
    def lane_halt_reason(self, lane: str) -> str | None:
        self.verify_server()
        value = self._r.hget(self.key("halt", "lanes"), lane)
        return None if value is None else str(json.loads(cast(str, value)).get("reason", ""))

    @_io
    def halted_lanes(self) -> dict[str, str]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("halt", "lanes")))
        return {lane: str(json.loads(v).get("reason", "")) for lane, v in raw.items()}

    @_io
    def clear_halt(self) -> bool:
        """Clear the kill switch and every lane halt; True if anything was set."""
        return bool(self._r.delete(self.key("halt"), self.key("halt", "lanes")))

    @_io
    def halt_reason(self) -> str | None:
        """The kill switch's reason, or None when trading is allowed (read from the verified server)."""
        self.verify_server()
        value = self._r.get(self.key("halt"))
        return None if value is None else str(json.loads(cast(str, value)).get("reason", "no reason given"))

    # -- metrics ----------------------------------------------------------------------------------------------
    @_io
    def record_latency(self, task: str, seconds: float) -> None:
        """Add one observation to the task's latency histogram (cumulative buckets)."""
        key = self.key("metrics", "latency")
        pipe = self._r.pipeline()
        pipe.hincrbyfloat(key, f"{task}|sum", seconds)
        pipe.hincrby(key, f"{task}|count", 1)
        for b in LATENCY_BUCKETS:
            if seconds <= b:
                pipe.hincrby(key, f"{task}|le|{b}", 1)
        pipe.execute()

    @_io
    def latencies(self) -> list[TaskLatency]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("metrics", "latency")))
        out = []
        for task in sorted({k.split("|")[0] for k in raw}):
            buckets = {str(b): int(float(raw.get(f"{task}|le|{b}", 0))) for b in LATENCY_BUCKETS}
            out.append(TaskLatency(task=task, buckets=buckets, count=int(float(raw.get(f"{task}|count", 0))),
                                   sum_s=float(raw.get(f"{task}|sum", 0))))
        return out

    # -- housekeeping -----------------------------------------------------------------------------------------
    @_io
    def clear_namespace(self) -> int:
        """Delete every key under this ledger's prefix (a fresh devnet invalidates the old ledger); returns count.

        The kill switch is kept: only `crosshedge resume` clears it.
        """
        keep = {self.key("halt"), self.key("halt", "lanes")}
        keys = [k for k in self._scan(f"{self.prefix}:*") if k not in keep]
        if keys:
            self._r.delete(*keys)
        return len(keys)

    def _scan(self, pattern: str) -> Iterator[str]:
        return cast(Iterator[str], self._r.scan_iter(pattern))


__all__ = ["LATENCY_BUCKETS", "Ledger", "LedgerObserver"]
