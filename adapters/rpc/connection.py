"""Connecting to a chain: a Web3 over HTTP with timeouts, read retries, a local chain-id guard and a round-trip counter.

Cross-cutting RPC concerns live here, in the provider and middleware, not in adapters: transient HTTP failures of
read methods are retried with exponential backoff by web3's provider retry configuration, every request has a
timeout, eth_chainId is cached, and :class:`RoundTripCounter` (at the HTTP session) counts round trips so tests and
benchmarks can assert bounds.

Usage::

    counter = RoundTripCounter()
    w3 = connect("ethereum", config.chains["ethereum"], timeout=10, counter=counter)
"""
from __future__ import annotations

import json as jsonlib
import re
import threading
from collections import Counter
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.middleware import Web3Middleware
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import RPCEndpoint

from crosshedge import ChainMismatchError, RpcError

#: Methods safe to retry on a transient transport error: reads only (sending is the executor's business).
READ_METHODS = (
    "eth_chainId", "eth_blockNumber", "eth_call", "eth_getBalance", "eth_getCode", "eth_getBlockByNumber",
    "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_getTransactionReceipt", "eth_getTransactionCount",
    "eth_getLogs", "eth_feeHistory", "eth_estimateGas",
)

MULTICALL_SIGNATURE = "multicall((address,uint256,bytes)[])"
MULTICALL_RETURNS = ("uint256", "(bool,uint256,bytes)[]")


class RoundTripCounter:
    """Counts RPC round trips: HTTP requests actually sent (a JSON-RPC batch counts once, a retry counts again).

    It counts at the HTTP session, below web3's middleware and request cache, so what it reports is what the
    network saw. Thread-safe.

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


def make_web3(
    url: str, timeout: float, counter: RoundTripCounter | None = None, retries: int = 3, chain_id: int | None = None
) -> Web3:
    """A Web3 over HTTP with a request timeout and backoff retries of read methods on transient errors.

    With ``chain_id`` (from the config), transactions are checked against it locally instead of by an RPC.
    """
    retry = ExceptionRetryConfiguration(
        errors=(requests.ConnectionError, requests.Timeout, requests.HTTPError),
        retries=retries,
        backoff_factor=0.1,
        method_allowlist=list(READ_METHODS),
    )
    # eth_chainId is cached: web3's validation middleware asks for it before every eth_call, and it cannot change
    # under a live connection (connect() checks it once against the config).
    session = counter.session() if counter is not None else requests.Session()
    # requests re-reads the proxy environment and ~/.netrc on every request (a measurable share of a local read's
    # CPU time); resolve this URL's proxies once instead.
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False
    provider = Web3.HTTPProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry, session=session,
        cache_allowed_requests=True, cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    w3 = Web3(provider)
    if chain_id is not None:
        # web3's validation middleware fetches eth_chainId before every eth_call (once per thread, even cached);
        # with the chain id known from the config, a local check does the same job without a round trip.
        w3.middleware_onion.remove("validation")
        w3.middleware_onion.add(_chain_id_guard(chain_id), name="chain_id_guard")
    return w3


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
    """The ChainSettings fields connect() needs (keeps adapters free of orchestrator imports)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def rpc_url(self) -> str: ...


def connect(
    name: str, settings: ChainEndpoint, timeout: float = 10.0, counter: RoundTripCounter | None = None, retries: int = 3
) -> Web3:
    """Connect to chain ``name`` (a ChainSettings) and check its eth_chainId against the config.

    Raises :class:`RpcError` naming the chain and the (redacted) URL when the endpoint is down, and
    :class:`ChainMismatchError` naming the chain, the expected and the served chain id on a mismatch.
    """
    w3 = make_web3(settings.rpc_url, timeout, counter, retries, chain_id=settings.chain_id)
    try:
        got = int(w3.eth.chain_id)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(
            f"chain {name}: RPC {redact_url(settings.rpc_url)} is unreachable ({type(exc).__name__})"
        ) from exc
    if got != settings.chain_id:
        raise ChainMismatchError(
            f"chain {name}: RPC {redact_url(settings.rpc_url)} serves chain id {got}, expected {settings.chain_id}"
        )
    return w3

