"""What every part of the ledger shares: the Redis client and its key space, the registered Lua scripts, the
atomic state transition, the check that the server is the ledger's own, and the mapping of Redis failures.

:class:`orchestrator.ledger.store.Ledger` is composed of books (runs, intents, nonces, leases, halts, notional,
memory, latency), each a class over this core in a module of its own; they reach Redis only through what is here,
so the key layout, the fencing of lease holders and the error translation are written once.

Usage (inside a book)::

    class RunBook(LedgerCore):
        @redis_io
        def has_run(self, run_id: str) -> bool:
            return bool(self._r.exists(self._rkey(run_id)))
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import redis

from crosshedge import LeaseLostError, LedgerError, LedgerUnavailableError
from orchestrator.ledger import scripts
from orchestrator.ledger.models import Intent, Lease


class LedgerObserver(Protocol):
    """Told of every state change the ledger makes (metrics count them); never asked anything back."""

    def on_event(self, kind: str, chain: str | None) -> None: ...

    def on_run_state(self, state: str) -> None: ...

    def on_intent(self, chain: str, kind: str, state: str) -> None: ...


P = ParamSpec("P")
R = TypeVar("R")


def redis_io(method: Callable[P, R]) -> Callable[P, R]:
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


class LedgerCore:
    """The client, key space and scripts the ledger's books share (see the module docstring)."""

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

    def _fence_key(self, lease: Lease | None) -> str:
        return self._lease_key(lease.name) if lease else self.key("lease", "-")

    # -- the server -------------------------------------------------------------------------------------------
    @redis_io
    def ping(self) -> bool:
        return bool(self._r.ping())

    @redis_io
    def server_id(self) -> str:
        """The Redis server's run id: it changes when a different server (or a restarted one) answers."""
        info: dict[str, Any] = self._r.info("server")
        return str(info.get("run_id", ""))

    def verify_server(self) -> None:
        """LedgerError when this client talks to a server other than the one that owns the ledger's directory
        (a stale server still answering an old connection): nothing may be signed against it."""
        if self._expected_server is None:
            return
        self.check_server(self.server_id())

    def check_server(self, actual: str) -> None:
        """:meth:`verify_server` for a server run id already asked for (in the same pipeline as the reads)."""
        if self._expected_server is None:
            return
        expected = self._expected_server()
        if expected is None or expected != actual:
            raise LedgerError(f"ledger: this process talks to Redis server {actual[:12] or '?'}, but the ledger's "
                              f"server is {(expected or 'unknown')[:12]}; refusing to act on a stale server")

    # -- the atomic transition (runs and intents) -------------------------------------------------------------
    def _apply(self, key: str, history: str, raw_key: str, what: str, to: str, allowed: list[str],
               fields: dict[str, str], raw: tuple[str, str] | None, lease: Lease | None) -> bool:
        return self._apply_read(key, history, raw_key, what, to, allowed, fields, raw, lease) is not None

    @redis_io
    def _apply_read(self, key: str, history: str, raw_key: str, what: str, to: str, allowed: list[str],
                    fields: dict[str, str], raw: tuple[str, str] | None, lease: Lease | None) -> dict[str, str] | None:
        """The atomic transition; returns the record's fields after it (from the same round trip), None when the
        record already was in ``to``."""
        keys, args = self._transition_call(key, history, raw_key, to, allowed, fields, raw, lease)
        return self._outcome(self._transition(keys=keys, args=args), what, to, lease)

    @redis_io
    def _apply_each(self, moves: list[tuple[str, str, str]], to: str, allowed: list[str]) -> list[bool]:
        """Unfenced transitions of several records to ``to`` in ONE round trip (each one atomic, as by
        :meth:`_apply`): ``moves`` are (key, history key, what); True for each record moved, False for one that
        already was in ``to``."""
        pipe = self._r.pipeline(transaction=False)
        for key, history, _ in moves:
            keys, args = self._transition_call(key, history, "", to, allowed, {}, None, None)
            self._transition(keys=keys, args=args, client=pipe)
        results = pipe.execute()
        return [self._outcome(r, what, to, None) is not None for r, (_, _, what) in zip(results, moves, strict=True)]

    def _transition_call(self, key: str, history: str, raw_key: str, to: str, allowed: list[str],
                         fields: dict[str, str], raw: tuple[str, str] | None,
                         lease: Lease | None) -> tuple[list[str], list[str]]:
        args: list[str] = [to, json.dumps(allowed), repr(self._clock()), str(len(fields))]
        for k, v in fields.items():
            args += [k, v]
        args += list(raw) if raw else ["", ""]
        args.append(lease.token if lease else "")
        return [key, history, raw_key or key + ":raw", self._fence_key(lease)], args

    def _outcome(self, result: list[str], what: str, to: str, lease: Lease | None) -> dict[str, str] | None:
        status, current = result[0], result[1]
        if status == "ok":
            self._observe(to, result[2] if len(result) > 2 else "")
            flat = result[3:]
            return dict(zip(flat[::2], flat[1::2], strict=True))
        if status == "missing":
            raise LedgerError(f"ledger: no {what}")
        if status == "fenced":
            raise LeaseLostError(f"ledger: {what}: the lease {lease.name if lease else ''} lapsed; this writer "
                              "stopped owning it and may not write")
        if current == to:
            return None
        raise LedgerError(f"ledger: {what} cannot move from {current!r} to {to!r}")

    def _observe(self, state: str, spec_json: str) -> None:
        if self._observer is None:
            return
        if not spec_json:
            self._observer.on_run_state(state)
            return
        spec = Intent.model_validate_json(spec_json)
        self._observer.on_intent(spec.chain, spec.kind.value, state)

    # -- housekeeping -----------------------------------------------------------------------------------------
    @redis_io
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


__all__ = ["LedgerCore", "LedgerObserver", "redis_io"]
