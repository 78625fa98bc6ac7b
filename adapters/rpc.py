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
from collections.abc import Generator, Sequence
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
    if not types:
        return Call(target, selector, gas)
    fast = _encode_static(types, args)
    return Call(target, selector + (fast if fast is not None else abi_encode(list(types), list(args))), gas)


@functools.lru_cache(maxsize=256)
def _static_spec(types: tuple[str, ...]) -> tuple[tuple[int, int] | None, ...] | None:
    """Per argument: the integer range, or None for an address; None overall if any type needs eth_abi."""
    spec: list[tuple[int, int] | None] = []
    for t in types:
        m = _STATIC.fullmatch(t)
        if m is None or t == "bool":
            return None
        if t == "address":
            spec.append(None)
            continue
        bits = int(m.group(2) or 256)
        spec.append((-(1 << (bits - 1)), 1 << (bits - 1)) if m.group(1) == "int" else (0, 1 << bits))
    return tuple(spec)


def _encode_static(types: tuple[str, ...], args: Sequence[Any]) -> bytes | None:
    """Fast path for in-range integer / address arguments (tick and word reads); None defers to eth_abi,
    which then validates and raises as usual."""
    spec = _static_spec(types)
    if spec is None or len(spec) != len(args):
        return None
    words: list[bytes] = []
    for bounds, v in zip(spec, args, strict=True):
        if bounds is None:
            if not (isinstance(v, str) and len(v) == 42):
                return None
            try:
                words.append(_address_word(v))
            except ValueError:
                return None
        elif type(v) is int and bounds[0] <= v < bounds[1]:
            words.append((v % (1 << 256)).to_bytes(32, "big"))
        else:
            return None
    return b"".join(words)


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


@functools.lru_cache(maxsize=4096)
def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:] if address[:2] in ("0x", "0X") else address)


def encode_multicall(calls: Sequence[Call]) -> bytes:
    """Calldata of ``multicall((address,uint256,bytes)[])``, hand-encoded (eth_abi's generic encoder dominated
    the read path's CPU time: it validates every value of every nested tuple)."""
    n = len(calls)
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * n
    for c in calls:
        heads.append(offset.to_bytes(32, "big"))
        pad = -len(c.data) % 32
        tail = b"".join((
            _address_word(c.target), c.gas.to_bytes(32, "big"), (96).to_bytes(32, "big"),
            len(c.data).to_bytes(32, "big"), c.data, bytes(pad),
        ))
        tails.append(tail)
        offset += len(tail)
    selector, _ = _selector_and_types(MULTICALL_SIGNATURE)
    return b"".join((selector, (32).to_bytes(32, "big"), n.to_bytes(32, "big"), *heads, *tails))


def _word(raw: bytes, at: int) -> int:
    if at < 0 or at + 32 > len(raw):
        raise ValueError(f"offset {at} is outside the {len(raw)}-byte return data")
    return int.from_bytes(raw[at : at + 32], "big")


def decode_multicall(raw: bytes) -> tuple[int, list[CallResult]]:
    """(block number, results) from a ``multicall`` return value; ValueError on malformed data (bounds-checked)."""
    block_number = _word(raw, 0)
    base = _word(raw, 32)
    n = _word(raw, base)
    if n > len(raw) // 32:
        raise ValueError(f"array length {n} exceeds the return data")
    heads = base + 32
    out: list[CallResult] = []
    for i in range(n):
        item = heads + _word(raw, heads + 32 * i)
        ok = _word(raw, item)
        start = item + _word(raw, item + 64)
        length = _word(raw, start)
        if start + 32 + length > len(raw):
            raise ValueError(f"result {i} runs past the end of the return data")
        out.append(CallResult(ok == 1, raw[start + 32 : start + 32 + length]))
    return block_number, out


def _block_param(block: BlockIdentifier) -> str:
    return hex(block) if isinstance(block, int) else str(block)


def raw_call(w3: Web3, to: str, data: bytes, block: BlockIdentifier) -> bytes:
    """One ``eth_call`` straight through the provider (its retries and timeout apply), returning the raw bytes.

    It skips web3's middleware and ABI formatters, which cost more CPU than the call itself on a local node;
    nothing they do applies to a read-only call without a chainId. Raises ValueError on a JSON-RPC error.
    """
    response = w3.provider.make_request(
        RPCEndpoint("eth_call"), [{"to": to, "data": "0x" + data.hex()}, _block_param(block)]
    )
    if "error" in response:
        error = response["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ValueError(f"eth_call error: {message}")
    result = response.get("result")
    if not isinstance(result, str):
        raise ValueError(f"eth_call returned {result!r}")
    return bytes.fromhex(result[2:])


def _via_multicall(
    w3: Web3, calls: Sequence[Call], block: BlockIdentifier, multicall: str, chain: str
) -> tuple[int, list[CallResult]]:
    try:
        raw = raw_call(w3, multicall, encode_multicall(calls), block)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(f"chain {chain}: multicall at {multicall} failed at block {block!r}: {exc}") from exc
    try:
        return decode_multicall(raw)
    except ValueError as exc:
        raise RpcError(f"chain {chain}: {multicall} is not a UniswapInterfaceMulticall ({exc})") from exc


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


# ---------------------------------------------------------------- staged reads

#: What a staged reader receives after each of its rounds: (block number the round ran in, its results in order).
StageResult = tuple[int, list[CallResult]]
#: A staged reader: yields each round's calls (never an empty list), receives their results, returns its value.
Stages = Generator[list[Call], StageResult, Any]


def run_stages(
    w3: Web3, readers: Sequence[Stages], block: BlockIdentifier, multicall: str | None, chain: str
) -> tuple[int, list[Any]]:
    """Drive staged readers in lockstep: each round merges every reader's pending calls into ONE batch_call.

    So reading several adapters' venues costs the largest reader's round count, not the sum. Identical calls
    (e.g. every adapter's decimals() checks) run once. With a block tag and a multicall, the first round runs at
    the tag and pins every later round to the block it ran in (no separate eth_blockNumber); without a multicall
    the tag is resolved first. Returns (block number, each reader's return value in order).
    """
    at: BlockIdentifier = block
    if not isinstance(at, int) and multicall is None:
        try:
            at = int(w3.eth.block_number)
        except (OSError, Web3Exception, ValueError) as exc:
            raise RpcError(f"chain {chain}: eth_blockNumber failed: {exc}") from exc
    values: list[Any] = [None] * len(readers)
    pending: dict[int, list[Call]] = {}
    for i in range(len(readers)):
        _advance(readers, i, None, pending, values)
    while pending:
        index: dict[tuple[str, bytes], int] = {}
        merged: list[Call] = []
        for calls in pending.values():
            for c in calls:
                if index.setdefault((c.target.lower(), c.data), len(merged)) == len(merged):
                    merged.append(c)
        ran_at, results = batch_call(w3, merged, at, multicall, chain)
        if isinstance(at, int) and ran_at is not None and ran_at != at:
            raise RpcError(f"chain {chain}: reads pinned to block {at} ran at block {ran_at}")
        at = ran_at if ran_at is not None else at
        assert isinstance(at, int)  # resolved above when there is no multicall to report it
        this_round, pending = pending, {}
        for i, calls in this_round.items():
            mine = [results[index[(c.target.lower(), c.data)]] for c in calls]
            _advance(readers, i, (at, mine), pending, values)
    if not isinstance(at, int):  # no reader had anything to read
        at = int(w3.eth.block_number)
    return at, values


def _advance(
    readers: Sequence[Stages], i: int, sent: StageResult | None, pending: dict[int, list[Call]], values: list[Any]
) -> None:
    try:
        calls = next(readers[i]) if sent is None else readers[i].send(sent)
    except StopIteration as stop:
        values[i] = stop.value
        return
    if not calls:
        raise ValueError("a staged reader yielded no calls (it must return instead)")
    pending[i] = calls
