"""The JSON-RPC side of contract verification (orchestrator.verification): one batch straight through the provider,
and the answers as code, call results or a multicall's results, each failure a sentence naming chain and block.

Usage::

    responses = verification_batch(chain, [(RPCEndpoint("eth_getCode"), [address, hex(block)])], block)
    code = code_of(chain, address, responses[0], block)
"""

from __future__ import annotations

from typing import Any

from web3.exceptions import Web3Exception
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint

from adapters import CallResult, ChainContext, decode_multicall
from crosshedge import HeadMovedError, RpcError


def hex_data(data: bytes) -> str:
    return "0x" + data.hex()


def verification_batch(chain: ChainContext, requests: list[tuple[RPCEndpoint, Any]],
                       block: int) -> list[dict[str, Any]]:
    """``requests`` as ONE JSON-RPC batch (one HTTP request) straight through the provider: its timeout applies,
    and web3's middleware and formatters, which add nothing to eth_getCode and plain eth_calls, are skipped."""
    provider = chain.w3.provider
    if not isinstance(provider, JSONBaseProvider):
        raise RpcError(f"chain {chain.name}: its provider {type(provider).__name__} cannot send a JSON-RPC batch")
    try:
        responses = provider.make_batch_request(requests)
    except (OSError, Web3Exception, ValueError) as exc:
        raise RpcError(f"chain {chain.name}: contract verification batch failed at block {block}: {exc}") from exc
    if not isinstance(responses, list) or len(responses) != len(requests):
        raise RpcError(f"chain {chain.name}: contract verification batch at block {block} got {responses!r}")
    return [dict(r) for r in responses]


def code_of(chain: ChainContext, address: str, response: dict[str, Any], block: int) -> bytes:
    result = response.get("result")
    if "error" in response or not isinstance(result, str):
        raise RpcError(f"chain {chain.name}: eth_getCode({address}) at block {block} failed: {response.get('error')}")
    return bytes.fromhex(result.removeprefix("0x"))


def call_result(response: dict[str, Any]) -> CallResult:
    """An eth_call's answer; a revert keeps its revert data (a probe reads the reason from it)."""
    if "error" in response:
        error = response["error"]
        data = error.get("data") if isinstance(error, dict) else None
        return CallResult(False, bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else b"")
    result = response.get("result")
    return CallResult(True, bytes.fromhex(result.removeprefix("0x")) if isinstance(result, str) else b"")


def multicall_results(chain: ChainContext, response: dict[str, Any], block: int, n: int) -> list[CallResult]:
    result = response.get("result")
    if "error" in response or not isinstance(result, str):
        raise RpcError(f"chain {chain.name}: the link-check multicall at block {block} failed: "
                       f"{response.get('error')}")
    try:
        ran_at, results = decode_multicall(bytes.fromhex(result.removeprefix("0x")))
    except ValueError as exc:
        raise RpcError(f"chain {chain.name}: the link-check multicall returned malformed data ({exc})") from exc
    if ran_at != block and len(results) == n:  # a block was mined under the read: the caller reads again
        raise HeadMovedError(f"chain {chain.name}: the link-check multicall pinned to block {block} ran at {ran_at}")
    if ran_at != block or len(results) != n:
        raise RpcError(f"chain {chain.name}: the link-check multicall pinned to block {block} ran at {ran_at} "
                       f"with {len(results)} of {n} results")
    return results


__all__ = ["call_result", "code_of", "hex_data", "multicall_results", "verification_batch"]
