"""The pieces of a chain connection: HTTP endpoints with timeouts, a local chain-id guard, a round-trip counter,
URL redaction, the failover policy and status values, and the head freshness check.

Cross-cutting RPC concerns live here and in :mod:`adapters.rpc.failover` (``connect`` and the provider that fails
over between a chain's endpoints), in the provider and middleware, not in adapters: every request has a timeout,
reads are retried with backoff, eth_chainId never costs a round trip once checked, and :class:`RoundTripCounter`
(at each HTTP session) counts round trips so tests and benchmarks can assert bounds. RPC URLs carry API keys:
only :func:`redact_url`'s form of them appears in errors and logs.

Usage::

    counter = RoundTripCounter()
    w3 = connect("ethereum", config.chains["ethereum"], timeout=10, counter=counter)
    head = w3.eth.get_block("latest")
    check_head_fresh("ethereum", head["timestamp"], time.time(), config.chains["ethereum"].head_age_limit_s,
                     block=head["number"], url=rpc_status(w3).preferred)
"""
from __future__ import annotations

import json as jsonlib
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from web3 import HTTPProvider, Web3
from web3.middleware import Web3Middleware
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import RPCEndpoint

from crosshedge import ChainMismatchError, StaleDataError

#: Methods safe to retry and to fail over on a transport error: reads only.
READ_METHODS = (
    "eth_chainId", "eth_blockNumber", "eth_call", "eth_getBalance", "eth_getCode", "eth_getBlockByNumber",
    "eth_getBlockByHash", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_getTransactionReceipt",
    "eth_getTransactionByHash", "eth_getTransactionCount", "eth_getLogs", "eth_feeHistory", "eth_estimateGas",
    "eth_getStorageAt", "eth_createAccessList", "net_version",
)
#: Methods whose resend to another endpoint is always safe (the same signed bytes, the same transaction hash).
SEND_METHODS = frozenset({"eth_sendRawTransaction"})
#: Endpoints may trail the highest head by about this much time's worth of blocks before they are demoted.
LAG_WINDOW_S = 6.0


MULTICALL_SIGNATURE = "multicall((address,uint256,bytes)[])"
MULTICALL_RETURNS = ("uint256", "(bool,uint256,bytes)[]")


class RoundTripCounter:
    """Counts RPC round trips: HTTP requests actually sent (a JSON-RPC batch counts once, a retry counts again).

    It counts at the HTTP session, below web3's middleware and request cache, so what it reports is what the
    network saw (with several endpoints, every endpoint's session records into the same counter). Thread-safe.

    Usage::

        counter = RoundTripCounter(); w3 = connect(..., counter=counter); ...; assert counter.count <= 4
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.methods: Counter[str] = Counter()

    def record(self, method: str) -> None:
        with self._lock:
            self.count += 1
            self.methods[method] += 1

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.methods.clear()

    def session(self) -> requests.Session:
        """A requests session that records every POST (give it to HTTPProvider)."""
        return _CountingSession(self)


class _CountingSession(requests.Session):
    def __init__(self, counter: RoundTripCounter) -> None:
        super().__init__()
        self._counter = counter

    def post(self, url: str | bytes, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        self._counter.record(_method_of(data))
        return super().post(url, data=data, json=json, **kwargs)


def _method_of(body: Any) -> str:
    try:
        payload = jsonlib.loads(body)
    except (TypeError, ValueError):
        return "?"
    if isinstance(payload, list):
        return "batch"
    return str(payload.get("method", "?")) if isinstance(payload, dict) else "?"


def redact_url(url: str) -> str:
    """The URL without credentials, query string or key-like path segments (safe to print in an error)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    # Providers put API keys in the path (/v3/<key>): hide long opaque segments.
    path = "/".join("***" if re.fullmatch(r"[A-Za-z0-9_-]{20,}", seg) else seg for seg in parts.path.split("/"))
    return f"{parts.scheme}://{host}{path}" if parts.scheme else "<rpc url>"


def _session(url: str, counter: RoundTripCounter | None) -> requests.Session:
    session = counter.session() if counter is not None else requests.Session()
    # requests re-reads the proxy environment and ~/.netrc on every request (a measurable share of a local read's
    # CPU time); resolve this URL's proxies once instead.
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False
    return session


class _RedactingLog(logging.LoggerAdapter[logging.Logger]):
    """web3's HTTPProvider logs its endpoint URI (API key included) at debug level: log the redacted form."""

    def __init__(self, logger: logging.Logger, url: str) -> None:
        super().__init__(logger, {})
        self._url, self._shown = url, redact_url(url)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(level, msg, *(self._shown if a == self._url else a for a in args), **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def _http_provider(
    url: str, timeout: float, counter: RoundTripCounter | None, retry: ExceptionRetryConfiguration | None,
    cache_chain_id: bool,
) -> HTTPProvider:
    provider = HTTPProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry, session=_session(url, counter),
        cache_allowed_requests=cache_chain_id, cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    provider.logger = _RedactingLog(provider.logger, url)  # type: ignore[assignment]
    return provider


def make_web3(
    url: str, timeout: float, counter: RoundTripCounter | None = None, retries: int = 3, chain_id: int | None = None
) -> Web3:
    """A Web3 over one HTTP URL with a request timeout and backoff retries of read methods on transient errors.

    With ``chain_id`` (from the config), transactions are checked against it locally instead of by an RPC. A
    chain's own connection comes from :func:`connect` (failover, head checks); this is for single-purpose
    endpoints such as a private submission relay.
    """
    retry = ExceptionRetryConfiguration(
        errors=(requests.ConnectionError, requests.Timeout, requests.HTTPError),
        retries=retries,
        backoff_factor=0.1,
        method_allowlist=list(READ_METHODS),
    )
    # eth_chainId is cached: web3's validation middleware asks for it before every eth_call, and it cannot change
    # under a live connection.
    w3 = Web3(_http_provider(url, timeout, counter, retry, cache_chain_id=True))
    if chain_id is not None:
        _guard_chain_id(w3, chain_id)
    return w3


def _guard_chain_id(w3: Web3, chain_id: int) -> None:
    # web3's validation middleware fetches eth_chainId before every eth_call (once per thread, even cached); with
    # the chain id known from the config, a local check does the same job without a round trip.
    w3.middleware_onion.remove("validation")
    w3.middleware_onion.add(_chain_id_guard(chain_id), name="chain_id_guard")


_TX_METHODS = frozenset({"eth_call", "eth_estimateGas", "eth_sendTransaction", "eth_createAccessList"})


def _chain_id_guard(chain_id: int) -> type[Web3Middleware]:
    """Middleware refusing a transaction whose chainId differs from ``chain_id`` (checked locally)."""

    class _ChainIdGuard(Web3Middleware):
        def request_processor(self, method: RPCEndpoint, params: Any) -> Any:
            if method in _TX_METHODS and params and isinstance(params[0], dict) and "chainId" in params[0]:
                declared = params[0]["chainId"]
                declared = int(declared, 16) if isinstance(declared, str) else int(declared)
                if declared != chain_id:
                    raise ChainMismatchError(f"transaction declares chain id {declared}, the connection is {chain_id}")
            return method, params

    return _ChainIdGuard


class ChainEndpoint(Protocol):
    """The ChainSettings fields every connect() needs (keeps adapters free of config imports)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def rpc_url(self) -> str: ...


@runtime_checkable
class FailoverEndpoint(ChainEndpoint, Protocol):
    """The ChainSettings fields failover uses: more endpoints of the chain, and what the lag tolerance and the head
    check cadence derive from. Settings that are a bare :class:`ChainEndpoint` are one URL with default limits."""

    @property
    def rpc_urls(self) -> Sequence[str]: ...

    @property
    def block_time_s(self) -> float: ...

    @property
    def head_age_limit_s(self) -> float: ...


def endpoint_urls(settings: ChainEndpoint) -> list[str]:
    """The chain's read endpoints in order, primary first, each once."""
    extra = list(settings.rpc_urls) if isinstance(settings, FailoverEndpoint) else []
    return list(dict.fromkeys([settings.rpc_url, *extra]))


def default_tolerance_blocks(block_time_s: float) -> int:
    """How many blocks an endpoint may trail the highest head: about :data:`LAG_WINDOW_S` of blocks, at least 2
    (nodes polled a moment apart routinely differ by one block)."""
    return max(2, math.ceil(LAG_WINDOW_S / block_time_s))


@dataclass(frozen=True)
class FailoverPolicy:
    """How a :class:`FailoverProvider` judges and routes (all durations in seconds).

    Usage::

        FailoverPolicy.for_chain(block_time_s=0.25, head_age_limit_s=30.0, retries=3)
    """

    tolerance_blocks: int = 2
    #: Head checks inside reads at most this often (None: only at open() and explicit check_heads() calls).
    check_interval_s: float | None = 10.0
    #: While heads disagree, a read re-checks at most this often (otherwise it is refused at once).
    split_recheck_s: float = 1.0
    #: An endpoint that took over after a failure stays preferred this long; then the primary is tried again.
    prefer_for_s: float = 60.0
    #: Rounds over every serving endpoint before a read gives up, with exponential backoff between rounds.
    retries: int = 3
    backoff_s: float = 0.1

    @classmethod
    def for_chain(cls, block_time_s: float, head_age_limit_s: float, retries: int = 3) -> FailoverPolicy:
        """Defaults from the chain: lag tolerance from the block time, and heads checked three times per head age
        limit, so a lagging endpoint is demoted well before its data would count as stale."""
        return cls(tolerance_blocks=default_tolerance_blocks(block_time_s), check_interval_s=head_age_limit_s / 3,
                   split_recheck_s=max(1.0, block_time_s), retries=max(1, retries))


@dataclass(frozen=True)
class Head:
    """An endpoint's latest block as it reported it."""

    number: int
    hash: str
    timestamp: int


EndpointState = Literal["serving", "demoted", "down", "unverified", "refused"]


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint: redacted URL, state, last reported head, blocks behind the highest head, and why (if not
    serving)."""

    url: str
    state: EndpointState
    head: Head | None
    lag_blocks: int | None
    detail: str | None


@dataclass(frozen=True)
class FailoverStatus:
    """A chain's endpoints as the provider sees them (no network: the state of the last check and requests).

    ``preferred`` is the endpoint the next read goes to; ``split`` the sentence refusing reads, if any.
    """

    chain: str
    chain_id: int
    endpoints: tuple[EndpointStatus, ...]
    preferred: str | None
    demoted: tuple[str, ...]
    tolerance_blocks: int
    split: str | None
    checked_age_s: float | None


# ---------------------------------------------------------------- reading an endpoint's answers

# What counts as "this endpoint did not answer": the network, the HTTP status, or a body that is not JSON at all.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (requests.RequestException, jsonlib.JSONDecodeError)
_PROBE: list[tuple[RPCEndpoint, Any]] = [
    (RPCEndpoint("eth_chainId"), []), (RPCEndpoint("eth_getBlockByNumber"), ["latest", False]),
]


class _BadAnswerError(Exception):
    """The endpoint answered, but not with what was asked (a JSON-RPC error, a malformed result)."""


class _LimitedError(_BadAnswerError):
    """The endpoint refused for its request limit (EIP-1474 code -32005, as Infura answers): another may not."""


class _WrongChainError(Exception):
    def __init__(self, got: int) -> None:
        super().__init__(got)
        self.got = got


_UNUSABLE: tuple[type[Exception], ...] = (_BadAnswerError, *_TRANSPORT_ERRORS)
_PROBE_ERRORS: tuple[type[Exception], ...] = (_WrongChainError, *_UNUSABLE)


def _why(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, _BadAnswerError):
        return str(exc)
    if isinstance(exc, jsonlib.JSONDecodeError):
        return "answered something that is not JSON"
    return type(exc).__name__  # never str(exc): requests puts the full URL, API key and all, into its messages


def _result(response: Any) -> Any:
    if not isinstance(response, dict) or "error" in response or "result" not in response:
        error = response.get("error") if isinstance(response, dict) else response
        message = error.get("message", error) if isinstance(error, dict) else error
        raise _BadAnswerError(f"answered an error: {str(message)[:120]}")
    return response["result"]


def _raise_if_limited(answer: Any) -> None:
    for one in answer if isinstance(answer, list) else [answer]:
        error = one.get("error") if isinstance(one, dict) else None
        if isinstance(error, dict) and error.get("code") == -32005:
            raise _LimitedError("answered limit exceeded (-32005)")


def _head(block: Any) -> Head:
    try:
        return Head(number=int(block["number"], 16), hash=str(block["hash"]), timestamp=int(block["timestamp"], 16))
    except (KeyError, TypeError, ValueError):
        raise _BadAnswerError("answered a malformed latest block") from None


def check_head_fresh(
    chain: str, head_timestamp: int, now: float, limit_s: float, *, block: int | None = None, url: str | None = None
) -> None:
    """Raise :class:`StaleDataError` when the head block is older than ``limit_s`` against the wall clock ``now``.

    A head that stopped moving means the endpoint lags or the chain halted: prices and pool states read at it are
    not the market's. ``block`` and ``url`` (redacted here) make the sentence name what was read.

    Usage::

        check_head_fresh("base", head["timestamp"], time.time(), settings.head_age_limit_s, block=head["number"])
    """
    age = now - head_timestamp
    if age <= limit_s:
        return
    what = "head block" if block is None else f"head block {block}"
    via = "" if url is None else f" from RPC {redact_url(url)}"
    raise StaleDataError(f"chain {chain}: {what}{via} is {age:.0f} s old (limit {limit_s:g} s); "
                         "its RPC is lagging or the chain halted")
