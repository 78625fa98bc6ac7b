"""Batched contract reads pinned to one block in ONE round trip.

Batched reads go through the chain's UniswapInterfaceMulticall when one is configured (many calls, ONE ``eth_call``,
every call executed in the same block) and fall back to one JSON-RPC batch of ``eth_call``s otherwise.

Usage::

    ran_at, results = batch_call(w3, [encode_call(pool, "slot0()")], block=123, multicall=settings.multicall,
                                 chain="ethereum")
"""
from __future__ import annotations

from collections.abc import Sequence

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockIdentifier, RPCEndpoint

from adapters.rpc.abi import Call, CallResult, _address_word, _selector_and_types
from adapters.rpc.batch import RpcBatch
from crosshedge import RpcError

MULTICALL_SIGNATURE = "multicall((address,uint256,bytes)[])"
MULTICALL_RETURNS = ("uint256", "(bool,uint256,bytes)[]")


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


def batch_call_in(
    batch: RpcBatch, calls: Sequence[Call], block: BlockIdentifier, multicall: str | None, chain: str
) -> tuple[int | None, list[CallResult]]:
    """:func:`batch_call` riding in ``batch``: its calls are added to it and the batch is sent (with whatever else
    it holds), still ONE round trip. Same answers and errors as :func:`batch_call`."""
    if not calls:
        return (block if isinstance(block, int) else None), []
    at = _block_param(block)
    if multicall is not None:
        index = batch.add("eth_call", [{"to": multicall, "data": "0x" + encode_multicall(calls).hex()}, at])
        batch.send()
        response = batch.response(index)
        result = response.get("result")
        if "error" in response or not isinstance(result, str):
            raise RpcError(f"chain {chain}: multicall at {multicall} failed at block {block!r}: "
                           f"{response.get('error')}")
        try:
            return decode_multicall(bytes.fromhex(result.removeprefix("0x")))
        except ValueError as exc:
            raise RpcError(f"chain {chain}: {multicall} is not a UniswapInterfaceMulticall ({exc})") from exc
    first = len(batch)
    for c in calls:
        batch.add("eth_call", [{"to": c.target, "data": "0x" + c.data.hex()}, at])
    batch.send()
    out: list[CallResult] = []
    for i in range(first, first + len(calls)):
        response = batch.response(i)
        result = response.get("result")
        ok = "error" not in response and isinstance(result, str)
        out.append(CallResult(True, bytes.fromhex(str(result).removeprefix("0x"))) if ok else CallResult(False, b""))
    return (block if isinstance(block, int) else None), out


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


