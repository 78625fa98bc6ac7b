"""Connecting to a chain, and batched contract reads pinned to one block in one round trip.

Cross-cutting RPC concerns live here, in the provider and middleware, not in adapters: transient HTTP failures of
read methods are retried with exponential backoff by web3's provider retry configuration, every request has a
timeout, eth_chainId is cached, and :class:`RoundTripCounter` (at the HTTP session) counts round trips so tests and
benchmarks can assert bounds.

Batched reads go through the chain's UniswapInterfaceMulticall when one is configured (many calls, ONE ``eth_call``,
every call executed in the same block) and fall back to one JSON-RPC batch of ``eth_call``s otherwise.

Usage::

    counter = RoundTripCounter()
    w3 = connect("ethereum", config.chains["ethereum"], timeout=10, counter=counter)
    results = batch_call(w3, [encode_call(pool, "slot0()")], block=123, multicall=settings.multicall, chain="ethereum")
    sqrt_price, tick, *_ = decode(SLOT0_TYPES, results[0].data)
"""

from __future__ import annotations

import functools
import json as jsonlib
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from pydantic import AfterValidator
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.middleware import Web3Middleware
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import BlockIdentifier, RPCEndpoint

from crosshedge.errors import ChainMismatchError, RpcError

#: Gas each inner multicall call may use; far above any view call we make, far below an eth_call cap.
DEFAULT_CALL_GAS = 2_000_000

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
    provider = Web3.HTTPProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry,
        session=counter.session() if counter is not None else requests.Session(),
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


# ---------------------------------------------------------------- calls


def _split_types(signature: str) -> list[str]:
    """Top-level argument types of ``f(a,(b,c),d[])`` -> ['a', '(b,c)', 'd[]']."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    types, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            types.append(inner[start:i])
            start = i + 1
    if inner:
        types.append(inner[start:])
    return types


@dataclass(frozen=True)
class Call:
    """One contract call: target address and calldata (built by :func:`encode_call`)."""

    target: str
    data: bytes
    gas: int = DEFAULT_CALL_GAS


@dataclass(frozen=True)
class CallResult:
    success: bool
    data: bytes = field(default=b"")


@functools.lru_cache(maxsize=256)
def _selector_and_types(signature: str) -> tuple[bytes, tuple[str, ...]]:
    return function_signature_to_4byte_selector(signature), tuple(_split_types(signature))


def encode_call(target: str, signature: str, *args: Any, gas: int = DEFAULT_CALL_GAS) -> Call:
    """A :class:`Call` of ``signature`` (e.g. ``"ticks(int24)"``) on ``target`` with ``args``."""
    selector, types = _selector_and_types(signature)
    return Call(target, selector + (abi_encode(list(types), list(args)) if types else b""), gas)


def calldata(signature: str, *args: Any) -> str:
    """0x-hex calldata of ``signature`` with ``args`` (for transactions)."""
    return "0x" + encode_call("0x" + "00" * 20, signature, *args).data.hex()


_STATIC = re.compile(r"(u?int)(\d*)|address|bool")


def _decode_static(types: Sequence[str], data: bytes) -> tuple[Any, ...] | None:
    """Fast path for all-static word types (the bulk of pool reads); None when a type needs eth_abi."""
    if len(data) < 32 * len(types):
        return None
    out: list[Any] = []
    for i, t in enumerate(types):
        word = data[32 * i : 32 * i + 32]
        m = _STATIC.fullmatch(t)
        if m is None:
            return None
        if t == "address":
            out.append("0x" + word[12:].hex())
        elif t == "bool":
            out.append(word[-1] == 1)
        elif m.group(1) == "int":
            out.append(int.from_bytes(word, "big", signed=True))
        else:
            out.append(int.from_bytes(word, "big"))
    return tuple(out)


def decode(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """ABI-decode ``data``; raises ValueError on empty or malformed data (e.g. a call to a non-contract).

    Addresses come back lower-case hex (checksum them where they are shown or compared).
    """
    if not data:
        raise ValueError("empty return data")
    fast = _decode_static(types, data)
    if fast is not None:
        return fast
    try:
        return tuple(abi_decode(list(types), data))
    except DecodingError as exc:
        raise ValueError(f"malformed return data: {exc}") from exc


def batch_call(
    w3: Web3, calls: Sequence[Call], block: BlockIdentifier, multicall: str | None, chain: str
) -> tuple[int | None, list[CallResult]]:
    """Run ``calls`` at ``block`` in ONE round trip; returns (block number the calls ran in, results in order).

    With ``multicall`` (a UniswapInterfaceMulticall address) it is one ``eth_call`` whose inner calls all execute in
    one block; the block number comes from the contract. Without, one JSON-RPC batch (block number None when
    ``block`` is a tag). A failing inner call gives ``success=False``; a transport failure raises RpcError.
    """
    if not calls:
        return (block if isinstance(block, int) else None), []
    if multicall is not None:
        return _via_multicall(w3, calls, block, multicall, chain)
    return (block if isinstance(block, int) else None), _via_batch(w3, calls, block, chain)


def _via_multicall(
    w3: Web3, calls: Sequence[Call], block: BlockIdentifier, multicall: str, chain: str
) -> tuple[int, list[CallResult]]:
    payload = encode_call(multicall, MULTICALL_SIGNATURE, [(c.target, c.gas, c.data) for c in calls])
    try:
        raw = w3.eth.call({"to": payload.target, "data": HexBytes(payload.data)}, block_identifier=block)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(f"chain {chain}: multicall at {multicall} failed at block {block!r}: {exc}") from exc
    try:
        block_number, results = decode(MULTICALL_RETURNS, bytes(raw))
    except ValueError as exc:
        raise RpcError(f"chain {chain}: {multicall} is not a UniswapInterfaceMulticall ({exc})") from exc
    return int(block_number), [CallResult(bool(ok), bytes(data)) for ok, _gas, data in results]


def _via_batch(w3: Web3, calls: Sequence[Call], block: BlockIdentifier, chain: str) -> list[CallResult]:
    try:
        with w3.batch_requests() as batch:
            for c in calls:
                batch.add(w3.eth.call({"to": c.target, "data": HexBytes(c.data)}, block_identifier=block))
            responses = batch.execute()
    except (OSError, Web3Exception) as exc:
        raise RpcError(f"chain {chain}: batched eth_call failed at block {block!r}: {exc}") from exc
    out: list[CallResult] = []
    for resp in responses:
        # A reverting call comes back as an error entry of the batch rather than an exception.
        if isinstance(resp, bytes | bytearray):
            out.append(CallResult(True, bytes(resp)))
        else:
            out.append(CallResult(False, b""))
    return out


def _checksum(value: str) -> str:
    if not isinstance(value, str) or not Web3.is_address(value):
        raise ValueError(f"expected a 0x-prefixed 20-byte hex address, got {value!r}")
    return Web3.to_checksum_address(value)


#: A checksummed address field for adapter config models.
Address = Annotated[str, AfterValidator(_checksum)]
