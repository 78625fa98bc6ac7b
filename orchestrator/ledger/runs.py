"""The ledger's runs: their records and state machine, their stage outputs, event log and fan-in bookkeeping.

A run is one rebalance: ``created -> snapshotted -> planned -> executing -> confirmed -> reconciled`` (or ``noop``,
``failed``), each move one atomic transition (orchestrator.ledger.core). Each stage stores its output under the run
(the first writer wins where a redelivery could write twice), notes what happened in the run's event log, and
counts which chains or lanes finished it, so exactly one task enqueues the next stage.

Usage::

    ledger.create_run("r-20250101T000000", kind="manual")
    ledger.set_run_state(run_id, RunState.SNAPSHOTTED)
    ledger.put_blob_once(run_id, "snapshot", snapshot)
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from crosshedge import LedgerError
from orchestrator.ledger.core import LedgerCore, redis_io
from orchestrator.ledger.models import (
    RUN_PROGRESS,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATES,
    RunEvent,
    RunRecord,
    RunState,
    Transition,
)

M = TypeVar("M", bound=BaseModel)


class RunBook(LedgerCore):
    """Runs, their stage outputs, events and fan-in counters."""

    # -- runs -------------------------------------------------------------------------------------------------
    @redis_io
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

    @redis_io
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

    @redis_io
    def has_run(self, run_id: str) -> bool:
        return bool(self._r.exists(self._rkey(run_id)))

    @redis_io
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

    @redis_io
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

    @redis_io
    def run_history(self, run_id: str) -> list[Transition]:
        return [Transition(source=a, to=b, at=float(t))
                for a, b, t in (json.loads(x) for x in self._r.lrange(self._rkey(run_id, "history"), 0, -1))]

    # -- stage outputs ----------------------------------------------------------------------------------------
    @redis_io
    def put_blob(self, run_id: str, name: str, value: BaseModel) -> None:
        """Store a stage's output (snapshot, decisions, plan, report) as JSON under the run."""
        self._r.hset(self._rkey(run_id, "blobs"), name, value.model_dump_json())

    @redis_io
    def put_blob_once(self, run_id: str, name: str, value: BaseModel) -> bool:
        """Store a stage's output unless one is stored already (the first writer wins); True when this one was."""
        return bool(self._r.hsetnx(self._rkey(run_id, "blobs"), name, value.model_dump_json()))

    @redis_io
    def blob(self, run_id: str, name: str, model: type[M]) -> M | None:
        """A stage's stored output as ``model``, or None when the stage has not stored it."""
        text = self._r.hget(self._rkey(run_id, "blobs"), name)
        return None if text is None else model.model_validate_json(cast(str, text))

    @redis_io
    def add_event(self, run_id: str, kind: str, message: str, *, chain: str | None = None,
                  venue: str | None = None, intent: str | None = None) -> None:
        """Append a note to the run's event log (breaker trips, down chains, refusals)."""
        event = RunEvent(at=self._clock(), kind=kind, message=message, chain=chain, venue=venue, intent=intent)
        self._r.rpush(self._rkey(run_id, "events"), event.model_dump_json())
        if self._observer is not None:
            self._observer.on_event(kind, chain)

    @redis_io
    def events(self, run_id: str) -> list[RunEvent]:
        return [RunEvent.model_validate_json(e) for e in self._r.lrange(self._rkey(run_id, "events"), 0, -1)]

    @redis_io
    def mark_done(self, run_id: str, stage: str, member: str) -> int:
        """Record that ``member`` (a chain, a lane) finished ``stage``; returns how many have finished."""
        pipe = self._r.pipeline(transaction=True)
        pipe.sadd(self._rkey(run_id, "done", stage), member)
        pipe.scard(self._rkey(run_id, "done", stage))
        return int(pipe.execute()[1])

    @redis_io
    def done(self, run_id: str, stage: str) -> set[str]:
        return set(cast(set[str], self._r.smembers(self._rkey(run_id, "done", stage))))

    @redis_io
    def claim(self, run_id: str, step: str) -> bool:
        """True exactly once per (run, step): fan-in without chords, so only one task enqueues the next stage."""
        return bool(self._r.set(self._rkey(run_id, "claim", step), "1", nx=True))


__all__ = ["RunBook"]
