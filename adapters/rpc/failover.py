"""A chain's connection: several RPC endpoints behind one web3 provider, with failover, head agreement and a status.

:class:`FailoverProvider` is a web3 ``JSONBaseProvider`` over one HTTP provider per endpoint, so everything web3
does on top (middleware, ``batch_requests``, contract calls) works unchanged and :class:`RoundTripCounter` still
counts every POST the network sees. What it adds, and why:

* **Reads fail over.** A read method (:data:`READ_METHODS`, or a JSON-RPC batch of only those) that fails on the
  preferred endpoint for a transport reason (refused, timed out, an HTTP error, a body that is not JSON, a -32005
  "limit exceeded" answer) is sent to the next one; the endpoint that answered stays preferred until it fails, or
  for ``prefer_for_s``, then the configured order (primary first) gets its chance again. An endpoint that failed
  is re-checked (chain id and head, one round trip) before it serves again: a node that restarts may come back on
  another chain, or far behind while it syncs.
* **Sends fail over too.** ``eth_sendRawTransaction`` goes to the preferred endpoint and, on a transport failure,
  to the others (lagging ones last): the same signed bytes are always safe to resend. Other methods (``evm_*``,
  ``eth_sendTransaction``) go to the preferred endpoint only: they are not known to be idempotent.
* **Heads must agree.** :meth:`FailoverProvider.check_heads` asks every endpoint for its chain id and head in one
  round trip each (at connect, then inside a read at most every ``check_interval_s``). An endpoint more than
  ``tolerance_blocks`` behind the highest head is demoted (no reads) until it catches up. Serving endpoints must
  report the same block hash at the lowest serving head; if not, every read raises :class:`StaleDataError` until
  a re-check (at most every ``split_recheck_s``) finds them agreeing: the book must not be priced from a fork.
* ``eth_chainId`` is answered locally: every endpoint that serves was checked against the configured chain id.

Usage::

    w3 = connect("base", config.chains["base"], timeout=10)   # rpc_url, then rpc_urls; all chain-id-checked
    status = check_heads(w3)     # FailoverStatus: endpoints, heads, preferred, demoted, split
    rpc_status(w3)               # the same, as last seen, without a round trip
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from web3 import HTTPProvider, Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from adapters.rpc.connection import (
    _PROBE,
    _PROBE_ERRORS,
    _TRANSPORT_ERRORS,
    _UNUSABLE,
    READ_METHODS,
    SEND_METHODS,
    ChainEndpoint,
    EndpointState,
    EndpointStatus,
    FailoverEndpoint,
    FailoverPolicy,
    FailoverStatus,
    Head,
    RoundTripCounter,
    _BadAnswerError,
    _guard_chain_id,
    _head,
    _http_provider,
    _raise_if_limited,
    _result,
    _why,
    _WrongChainError,
    endpoint_urls,
    redact_url,
)
from crosshedge import ChainMismatchError, RpcError, StaleDataError

log = logging.getLogger(__name__)

_READS = frozenset(READ_METHODS)
T = TypeVar("T")


@dataclass
class _Endpoint:
    index: int
    url: str  # redacted: this is what errors, logs and the status show
    provider: JSONBaseProvider
    verified: bool = False  # chain id checked since it last failed
    refused: str | None = None  # serves another chain: never used again
    demoted: str | None = None  # lagging: no reads until it catches up
    head: Head | None = None
    lag: int | None = None
    error: str | None = None
    failed_at: float | None = None


class FailoverProvider(JSONBaseProvider):
    """A web3 provider over several endpoints of chain ``chain`` (each a ``(redacted URL, provider)`` pair,
    primary first); see the module docstring for the rules. Thread-safe.

    Usage::

        w3 = Web3(FailoverProvider("base", 8453, endpoints, policy)); w3.provider.open()
    """

    def __init__(
        self, chain: str, chain_id: int, endpoints: Sequence[tuple[str, JSONBaseProvider]],
        policy: FailoverPolicy | None = None, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        if not endpoints:
            raise ValueError(f"chain {chain}: no RPC endpoint given")
        self.chain, self.chain_id = chain, chain_id
        self.policy = policy or FailoverPolicy()
        self._clock, self._sleep = clock, sleep
        self._eps = [_Endpoint(i, url, provider) for i, (url, provider) in enumerate(endpoints)]
        self._lock = threading.RLock()  # endpoint state; never held across network I/O
        self._checking = threading.Lock()  # one head check at a time
        self._preferred: int | None = None  # None: the configured order, primary first
        self._preferred_until = 0.0
        self._split: str | None = None
        self._split_pair: tuple[int, int] | None = None  # the two endpoints that disagreed
        self._checked_at: float | None = None

    def __str__(self) -> str:
        return f"RPC failover for chain {self.chain} ({', '.join(ep.url for ep in self._eps)})"

    # ------------------------------------------------------------ web3's provider interface

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_chainId":
            if not any(ep.verified for ep in self._eps):
                self.open()
            # Every endpoint that serves was checked against this id: web3 asks before many calls, so say it here.
            return cast(RPCResponse, {"jsonrpc": "2.0", "id": next(self.request_counter), "result": hex(self.chain_id)})
        if method in _READS:
            return self._read(method, lambda p: p.make_request(method, params))
        if method in SEND_METHODS:
            return self._send(method, lambda p: p.make_request(method, params))
        return self._direct(method, lambda p: p.make_request(method, params))

    def make_batch_request(self, batch: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        if all(method in _READS for method, _ in batch):
            return self._read("a JSON-RPC batch", lambda p: p.make_batch_request(batch))
        return self._direct("a JSON-RPC batch", lambda p: p.make_batch_request(batch))

    # ------------------------------------------------------------ checks and status

    def open(self) -> FailoverStatus:
        """Check every endpoint (chain id, head), retrying rounds while none answers; the connect-time check.

        Raises :class:`ChainMismatchError` naming an endpoint that serves another chain, and :class:`RpcError`
        naming the chain and every (redacted) URL when no endpoint answers.
        """
        for attempt in range(max(1, self.policy.retries)):
            if attempt:
                self._sleep(self.policy.backoff_s * 2 ** (attempt - 1))
            status = self.check_heads()
            if any(e.state in ("serving", "demoted") for e in status.endpoints):
                return status
        if len(status.endpoints) == 1:
            only = status.endpoints[0]
            raise RpcError(f"chain {self.chain}: RPC {only.url} is unreachable ({only.detail})")
        down = "; ".join(f"{e.url}: {e.detail}" for e in status.endpoints)
        raise RpcError(f"chain {self.chain}: every RPC is unreachable ({down})")

    def check_heads(self) -> FailoverStatus:
        """Ask every endpoint for its chain id and head now; demote laggards, detect a split; return the status.

        Raises :class:`ChainMismatchError` when an endpoint is found serving another chain (it is never used again).
        """
        with self._checking:
            self._check()
        return self.status()

    def status(self) -> FailoverStatus:
        """The endpoints as last seen (no network)."""
        with self._lock:
            order = self._read_order()
            endpoints = tuple(
                EndpointStatus(url=ep.url, state=self._state_of(ep), head=ep.head, lag_blocks=ep.lag,
                               detail=ep.refused or ep.demoted or ep.error)
                for ep in self._eps
            )
            age = None if self._checked_at is None else self._clock() - self._checked_at
            return FailoverStatus(
                chain=self.chain, chain_id=self.chain_id, endpoints=endpoints,
                preferred=order[0].url if order else None,
                demoted=tuple(ep.url for ep in self._eps if ep.demoted is not None and ep.refused is None),
                tolerance_blocks=self.policy.tolerance_blocks, split=self._split, checked_age_s=age,
            )

    @staticmethod
    def _state_of(ep: _Endpoint) -> EndpointState:
        if ep.refused is not None:
            return "refused"
        if ep.demoted is not None:
            return "demoted"
        if ep.error is not None:
            return "down"
        return "serving" if ep.verified else "unverified"

    def _check(self) -> None:
        targets = [ep for ep in self._eps if ep.refused is None]
        results = self._each(self._probe, targets)
        wrong: list[str] = []
        answered: list[_Endpoint] = []
        with self._lock:
            for ep, result in zip(targets, results, strict=True):
                if isinstance(result, Head):
                    ep.head, ep.verified, ep.error, ep.failed_at = result, True, None, None
                    answered.append(ep)
                elif isinstance(result, _WrongChainError):
                    wrong.append(self._refuse(ep, result.got))
                else:
                    self._failed(ep, result, [])
            top = max((ep.head.number for ep in answered if ep.head is not None), default=None)
            for ep in answered:
                self._judge_lag(ep, top)
        split = self._compare_hashes([ep for ep in answered if ep.demoted is None])
        with self._lock:
            self._settle_split(split, answered)
            self._checked_at = self._clock()
        if wrong:
            raise ChainMismatchError(wrong[0])

    def _settle_split(self, found: tuple[str, tuple[int, int]] | None, answered: list[_Endpoint]) -> None:
        if found is None and self._split_pair is not None and any(
                self._eps[i] not in answered and self._eps[i].refused is None for i in self._split_pair):
            return  # one side of the split did not answer this check: they have not agreed yet
        sentence, pair = found if found is not None else (None, None)
        if sentence != self._split:
            log.warning("%s", sentence or f"chain {self.chain}: RPC endpoints agree on the chain again")
        self._split, self._split_pair = sentence, pair

    def _check_if_due(self) -> None:
        if len(self._eps) < 2:
            return  # one endpoint: nothing to compare it with
        with self._lock:
            checked, split = self._checked_at, self._split
        now, interval = self._clock(), self.policy.check_interval_s
        due = checked is None or (interval is not None and now - checked >= interval) or (
            split is not None and now - checked >= self.policy.split_recheck_s)
        # A check already running in another thread is as good as ours: do not queue behind it.
        if due and self._checking.acquire(blocking=False):
            try:
                self._check()
            finally:
                self._checking.release()

    def _probe(self, ep: _Endpoint) -> Head:
        """Chain id and latest block in one round trip (two if the endpoint refuses JSON-RPC batches)."""
        raw = ep.provider.make_batch_request(_PROBE)
        if isinstance(raw, list) and len(raw) == len(_PROBE):
            chain_answer, block_answer = raw
        else:
            chain_answer = ep.provider.make_request(*_PROBE[0])
            block_answer = ep.provider.make_request(*_PROBE[1])
        got = _result(chain_answer)
        try:
            got_id = int(got, 16)
        except (TypeError, ValueError):
            raise _BadAnswerError(f"answered chain id {str(got)[:40]!r}") from None
        if got_id != self.chain_id:
            raise _WrongChainError(got_id)
        return _head(_result(block_answer))

    def _compare_hashes(self, serving: list[_Endpoint]) -> tuple[str, tuple[int, int]] | None:
        """(The sentence refusing reads, the two endpoints) when serving endpoints disagree on the block hash at the
        lowest serving head; None when they agree."""
        heads = [ep.head for ep in serving if ep.head is not None]
        if len(heads) < 2:
            return None
        low = min(h.number for h in heads)

        def hash_at_low(ep: _Endpoint) -> str | None:
            assert ep.head is not None
            if ep.head.number == low:
                return ep.head.hash
            block = _result(ep.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [hex(low), False]))
            return None if block is None else str(block["hash"])

        seen: dict[str, _Endpoint] = {}
        for ep, got in zip(serving, self._each(hash_at_low, serving), strict=True):
            if isinstance(got, str):
                seen.setdefault(got.lower(), ep)
            elif isinstance(got, Exception) and not isinstance(got, _BadAnswerError):
                with self._lock:
                    self._failed(ep, got, [])
        if len(seen) < 2:
            return None
        (h1, a), (h2, b) = list(seen.items())[:2]
        return (f"chain {self.chain}: RPC {a.url} and RPC {b.url} disagree on the hash of block {low} "
                f"({h1[:10]}... vs {h2[:10]}...), so reads are refused until they agree"), (a.index, b.index)

    @staticmethod
    def _each(fn: Callable[[_Endpoint], T], eps: list[_Endpoint]) -> list[T | Exception]:
        """``fn`` on every endpoint at once (a hanging endpoint costs one timeout, not one per endpoint)."""

        def run(ep: _Endpoint) -> T | Exception:
            try:
                return fn(ep)
            except _PROBE_ERRORS as exc:
                return exc

        if len(eps) <= 1:
            return [run(ep) for ep in eps]
        with ThreadPoolExecutor(max_workers=len(eps)) as pool:
            return list(pool.map(run, eps))

    # ------------------------------------------------------------ routing

    def _read(self, method: str, call: Callable[[JSONBaseProvider], T]) -> T:
        self._check_if_due()
        failures: list[str] = []
        for attempt in range(max(1, self.policy.retries)):
            if attempt:
                self._sleep(self.policy.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                if self._split is not None:
                    raise StaleDataError(self._split)
                order = self._read_order()
            if not order:
                break
            for ep in order:
                if not ep.verified and (not self._verify_late(ep, failures) or ep.demoted is not None):
                    continue
                try:
                    answer = call(ep.provider)
                    _raise_if_limited(answer)
                except _UNUSABLE as exc:
                    with self._lock:
                        self._failed(ep, exc, failures)
                    continue
                self._answered(ep, order[0], method)
                return answer
        if not failures:
            refused = [ep.refused for ep in self._eps if ep.refused is not None]
            if len(refused) == len(self._eps):
                raise ChainMismatchError(refused[0])  # terminal, like the first time it was found
            raise RpcError(f"chain {self.chain}: no RPC may serve reads ({self._not_serving()})")
        raise RpcError(f"chain {self.chain}: {method} failed on every RPC ({'; '.join(dict.fromkeys(failures))})")

    def _send(self, method: str, call: Callable[[JSONBaseProvider], T]) -> T:
        failures: list[str] = []
        with self._lock:
            # Split or not, resending these exact bytes is safe; a lagging endpoint still relays, so it comes last.
            order = self._read_order()
            order += [ep for ep in self._eps if ep.refused is None and ep not in order]
        for ep in order:
            if not ep.verified and not self._verify_late(ep, failures):
                continue
            try:
                answer = call(ep.provider)
            except _TRANSPORT_ERRORS as exc:
                with self._lock:
                    self._failed(ep, exc, failures)
                continue
            self._answered(ep, order[0], method)
            return answer
        why = "; ".join(dict.fromkeys(failures)) or self._not_serving()
        raise RpcError(f"chain {self.chain}: {method} failed on every RPC ({why})")

    def _direct(self, method: str, call: Callable[[JSONBaseProvider], T]) -> T:
        with self._lock:
            usable = self._read_order() or [e for e in self._eps if e.refused is None]
        if not usable:
            raise RpcError(f"chain {self.chain}: no RPC may serve {method} ({self._not_serving()})")
        ep = usable[0]
        try:
            return call(ep.provider)
        except _TRANSPORT_ERRORS as exc:
            with self._lock:
                self._failed(ep, exc, [])
            raise RpcError(f"chain {self.chain}: {method} failed on RPC {ep.url} ({_why(exc)})") from None

    def _read_order(self) -> list[_Endpoint]:
        """Endpoints that may serve reads, the preferred first, then healthy ones before recently failed ones."""
        now = self._clock()
        if self._preferred is not None and now >= self._preferred_until:
            self._preferred = None  # bounded preference: the primary gets its chance again
        usable = [ep for ep in self._eps if ep.refused is None and ep.demoted is None]

        def key(ep: _Endpoint) -> tuple[bool, bool, int]:
            recent = ep.failed_at is not None and now - ep.failed_at < self.policy.prefer_for_s
            return ep.index != self._preferred, recent, ep.index

        return sorted(usable, key=key)

    def _verify_late(self, ep: _Endpoint, failures: list[str]) -> bool:
        """Check an endpoint that failed (or never answered) before it serves: chain id, then its lag."""
        try:
            head = self._probe(ep)
        except _WrongChainError as exc:
            with self._lock:
                message = self._refuse(ep, exc.got)
            raise ChainMismatchError(message) from None
        except _UNUSABLE as exc:
            with self._lock:
                self._failed(ep, exc, failures)
            return False
        with self._lock:
            ep.head, ep.verified, ep.error = head, True, None
            known = [e.head.number for e in self._eps if e.head is not None and e.refused is None and e.verified]
            self._judge_lag(ep, max(known))
        return True

    def _answered(self, ep: _Endpoint, first: _Endpoint, method: str) -> None:
        with self._lock:
            ep.error = ep.failed_at = None
            if ep is not first and ep.demoted is None:
                log.warning("chain %s: %s failed over from RPC %s to RPC %s", self.chain, method, first.url, ep.url)
                self._preferred, self._preferred_until = ep.index, self._clock() + self.policy.prefer_for_s

    def _failed(self, ep: _Endpoint, exc: BaseException, failures: list[str]) -> None:
        why = _why(exc)
        if ep.error is None:
            log.warning("chain %s: RPC %s failed (%s)", self.chain, ep.url, why)
        ep.error, ep.failed_at, ep.verified = why, self._clock(), False
        failures.append(f"{ep.url}: {why}")
        if self._preferred == ep.index:
            self._preferred = None

    def _refuse(self, ep: _Endpoint, got: int) -> str:
        ep.refused = f"chain {self.chain}: RPC {ep.url} serves chain id {got}, expected {self.chain_id}"
        ep.verified = False
        if self._preferred == ep.index:
            self._preferred = None
        log.error("%s", ep.refused)
        return ep.refused

    def _judge_lag(self, ep: _Endpoint, top: int | None) -> None:
        if ep.head is None or top is None:
            return
        ep.lag = top - ep.head.number
        tolerance = self.policy.tolerance_blocks
        if ep.lag > tolerance:
            if ep.demoted is None:
                log.warning("chain %s: RPC %s is demoted: head %d is %d blocks behind %d (tolerance %d)",
                            self.chain, ep.url, ep.head.number, ep.lag, top, tolerance)
            ep.demoted = f"head {ep.head.number} is {ep.lag} blocks behind {top} (tolerance {tolerance})"
            if self._preferred == ep.index:
                self._preferred = None
        elif ep.demoted is not None:
            log.warning("chain %s: RPC %s caught up (head %d) and serves again", self.chain, ep.url, ep.head.number)
            ep.demoted = None

    def _not_serving(self) -> str:
        with self._lock:
            return "; ".join(f"{ep.url}: {ep.refused or ep.demoted or ep.error or 'unverified'}" for ep in self._eps)


def connect(
    name: str, settings: ChainEndpoint, timeout: float = 10.0, counter: RoundTripCounter | None = None, retries: int = 3
) -> Web3:
    """Connect to chain ``name`` (a ChainSettings) over every configured endpoint, each chain-id-checked.

    Reads and sends fail over between ``rpc_url`` and ``rpc_urls``; heads are compared now and then on a cadence
    (:func:`check_heads`, :func:`rpc_status`). Raises :class:`ChainMismatchError` naming the chain, the (redacted)
    URL, the expected and the served chain id when any endpoint serves another chain, and :class:`RpcError` naming
    the chain and the (redacted) URLs when no endpoint answers.
    """
    if isinstance(settings, FailoverEndpoint):
        policy = FailoverPolicy.for_chain(settings.block_time_s, settings.head_age_limit_s, retries)
    else:
        policy = FailoverPolicy(retries=max(1, retries))
    endpoints: list[tuple[str, HTTPProvider]] = []
    for url in endpoint_urls(settings):
        shown = redact_url(url)
        if any(shown == s for s, _ in endpoints):  # two keys at one provider redact alike: keep them apart
            shown = f"{shown} (#{len(endpoints) + 1})"
        # No per-endpoint retries: the next endpoint is the retry, and the provider backs off between rounds.
        endpoints.append((shown, _http_provider(url, timeout, counter, None, cache_chain_id=False)))
    provider = FailoverProvider(name, settings.chain_id, endpoints, policy)
    provider.open()
    w3 = Web3(provider)
    _guard_chain_id(w3, settings.chain_id)
    return w3


def _provider_of(target: Web3 | FailoverProvider) -> FailoverProvider:
    provider = target if isinstance(target, FailoverProvider) else target.provider
    if not isinstance(provider, FailoverProvider):
        raise TypeError(f"{type(provider).__name__} is not a FailoverProvider (connect with adapters.connect())")
    return provider


def check_heads(target: Web3 | FailoverProvider) -> FailoverStatus:
    """Check every endpoint's chain id and head now (one round trip each, one more for each endpoint not at the
    lowest serving head); returns the status. Reads refuse with StaleDataError while ``status.split`` is set.

    Usage::

        status = check_heads(w3); print(status.preferred, status.demoted, status.split)
    """
    return _provider_of(target).check_heads()


def rpc_status(target: Web3 | FailoverProvider) -> FailoverStatus:
    """The endpoints as last seen, without any network call (for ``crosshedge status``)."""
    return _provider_of(target).status()
