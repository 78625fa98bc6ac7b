"""Contract calls as bytes: encoding calls and decoding results, with fast paths for the all-static word types
that dominate pool reads (eth_abi's generic codec validates every value and cost most of a read's CPU).

Usage::

    call = encode_call(pool, "ticks(int24)", -200_000)
    sqrt_price, tick, *_ = decode(SLOT0_TYPES, result.data)
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils.abi import function_signature_to_4byte_selector
from pydantic import AfterValidator
from web3 import Web3

#: Gas each inner multicall call may use; far above any view call we make, far below an eth_call cap.
DEFAULT_CALL_GAS = 2_000_000

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

    @functools.cached_property  # memoised calls (cached_call) come back every read: the lower() once per call
    def key(self) -> tuple[str, bytes]:
        """What identifies the call in a merged round: (target lower-case, calldata)."""
        return self.target.lower(), self.data


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


@functools.lru_cache(maxsize=1 << 14)  # a warm read asks for the same bitmap words and ticks every time
def cached_call(target: str, signature: str, *args: int | str | bytes) -> Call:
    """:func:`encode_call` memoised, for the hashable arguments pool reads repeat block after block."""
    return encode_call(target, signature, *args)


#: Fast-path kinds of a static argument (see :func:`_static_spec`); an int range is the third kind.
_ADDRESS, _BYTES32 = "address", "bytes32"


@functools.lru_cache(maxsize=256)
def _static_spec(types: tuple[str, ...]) -> tuple[tuple[int, int] | str, ...] | None:
    """Per argument: the integer range, or the address / bytes32 kind; None overall if any type needs eth_abi."""
    spec: list[tuple[int, int] | str] = []
    for t in types:
        if t in (_ADDRESS, _BYTES32):
            spec.append(t)
            continue
        m = _STATIC.fullmatch(t)
        if m is None or t == "bool":
            return None
        bits = int(m.group(2) or 256)
        spec.append((-(1 << (bits - 1)), 1 << (bits - 1)) if m.group(1) == "int" else (0, 1 << bits))
    return tuple(spec)


def _encode_static(types: tuple[str, ...], args: Sequence[Any]) -> bytes | None:
    """Fast path for in-range integer, address and 32-byte arguments (tick, word and V4 StateView reads); None
    defers to eth_abi, which then validates and raises as usual."""
    spec = _static_spec(types)
    if spec is None or len(spec) != len(args):
        return None
    words: list[bytes] = []
    for kind, v in zip(spec, args, strict=True):
        if kind == _ADDRESS:
            if not (isinstance(v, str) and len(v) == 42):
                return None
            try:
                words.append(_address_word(v))
            except ValueError:
                return None
        elif kind == _BYTES32:
            if not (type(v) is bytes and len(v) == 32):
                return None
            words.append(v)
        elif isinstance(kind, tuple) and type(v) is int and kind[0] <= v < kind[1]:
            words.append((v % (1 << 256)).to_bytes(32, "big"))
        else:
            return None
    return b"".join(words)


def calldata(signature: str, *args: Any) -> str:
    """0x-hex calldata of ``signature`` with ``args`` (for transactions)."""
    return "0x" + encode_call("0x" + "00" * 20, signature, *args).data.hex()


_STATIC = re.compile(r"(u?int)(\d*)|address|bool")


@functools.lru_cache(maxsize=256)
def _decode_spec(types: tuple[str, ...]) -> tuple[str, ...] | None:
    """Per word type: "address", "bool", "int" or "uint"; None when a type needs eth_abi."""
    kinds: list[str] = []
    for t in types:
        m = _STATIC.fullmatch(t)
        if m is None:
            return None
        kinds.append(t if t in ("address", "bool") else m.group(1))
    return tuple(kinds)


def _decode_static(types: Sequence[str], data: bytes) -> tuple[Any, ...] | None:
    """Fast path for all-static word types (the bulk of pool reads); None when a type needs eth_abi."""
    kinds = _decode_spec(tuple(types))
    if kinds is None or len(data) < 32 * len(kinds):
        return None
    out: list[Any] = []
    for i, kind in enumerate(kinds):
        word = data[32 * i : 32 * i + 32]
        if kind == "uint":
            out.append(int.from_bytes(word, "big"))
        elif kind == "int":
            out.append(int.from_bytes(word, "big", signed=True))
        elif kind == "address":
            out.append("0x" + word[12:].hex())
        else:
            out.append(word[-1] == 1)
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



@functools.lru_cache(maxsize=4096)
def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:] if address[:2] in ("0x", "0X") else address)



def _checksum(value: str) -> str:
    if not isinstance(value, str) or not Web3.is_address(value):
        raise ValueError(f"expected a 0x-prefixed 20-byte hex address, got {value!r}")
    return Web3.to_checksum_address(value)


@functools.lru_cache(maxsize=4096)
def checksum_address(value: str) -> ChecksumAddress:
    """``Web3.to_checksum_address``, memoised: each costs a keccak, and the same few addresses (the wallet, its
    routers and tokens) come back on every transaction. Raises as it does for what is not an address."""
    return Web3.to_checksum_address(value)


#: A checksummed address field for adapter config models.
Address = Annotated[str, AfterValidator(_checksum)]

