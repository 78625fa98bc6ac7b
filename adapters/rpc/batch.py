"""Requests gathered from several callers and sent as ONE JSON-RPC batch (one HTTP request, one round trip).

A caller adds what it needs (the head block, a nonce, a multicall, a simulation) and gets an index back; whoever
sends the batch first sends all of it, and every caller then reads its own answers. The batch goes straight through
the provider (its failover, retries and timeout apply; a batch of read methods fails over like a read), skipping
web3's middleware and formatters: results are the node's raw JSON (hex strings, dicts), decoded by the caller.

Usage::

    batch = RpcBatch(w3, "base")
    head = batch.add("eth_getBlockByNumber", ["latest", False])
    nonce = batch.add("eth_getTransactionCount", [address, "pending"])
    batch.send()                                   # RpcError when the batch itself fails
    number = int(batch.result(head)["number"], 16)  # RpcError when that one request got an error
"""
from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint

from crosshedge import RpcError


class RpcBatch:
    """JSON-RPC requests sent together, once (see the module docstring). Not thread-safe: one caller's batch."""

    def __init__(self, w3: Web3, chain: str) -> None:
        self.w3, self.chain = w3, chain
        self._requests: list[tuple[RPCEndpoint, Any]] = []
        self._responses: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._requests)

    @property
    def sent(self) -> bool:
        return self._responses is not None

    def add(self, method: str, params: list[Any]) -> int:
        """Queue one request; returns its index for :meth:`response` / :meth:`result`."""
        if self._responses is not None:
            raise RuntimeError(f"chain {self.chain}: {method} added to a JSON-RPC batch already sent")
        self._requests.append((RPCEndpoint(method), params))
        return len(self._requests) - 1

    def send(self) -> None:
        """Send every queued request as one batch (nothing when already sent or empty)."""
        if self._responses is not None:
            return
        if not self._requests:
            self._responses = []
            return
        provider = self.w3.provider
        if not isinstance(provider, JSONBaseProvider):
            raise RpcError(f"chain {self.chain}: its provider {type(provider).__name__} cannot send a JSON-RPC batch")
        methods = ", ".join(dict.fromkeys(m for m, _ in self._requests))
        try:
            answers = provider.make_batch_request(self._requests)
        except (OSError, Web3Exception, ValueError) as exc:
            raise RpcError(f"chain {self.chain}: JSON-RPC batch ({methods}) failed: {exc}") from exc
        if not isinstance(answers, list) or len(answers) != len(self._requests):
            raise RpcError(f"chain {self.chain}: JSON-RPC batch ({methods}) got {str(answers)[:200]}")
        self._responses = [dict(a) for a in answers]

    def response(self, index: int) -> dict[str, Any]:
        """The raw response of request ``index`` (``result`` or ``error``); the batch must have been sent."""
        if self._responses is None:
            raise RuntimeError(f"chain {self.chain}: a JSON-RPC batch read before it was sent")
        return self._responses[index]

    def result(self, index: int) -> Any:
        """The result of request ``index``; RpcError naming the method when the node answered an error."""
        response = self.response(index)
        if "error" in response:
            error = response["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcError(f"chain {self.chain}: {self._requests[index][0]} failed: {str(message)[:200]}")
        return response.get("result")


def error_message(response: dict[str, Any]) -> str | None:
    """The node's error message of a raw response (with its revert data, if any), or None when it succeeded."""
    if "error" not in response:
        return None
    error = response["error"]
    if not isinstance(error, dict):
        return str(error)
    data = error.get("data")
    message = str(error.get("message", error))
    return f"{message} ({data})" if isinstance(data, str) and data not in message else message


def hex_int(value: Any, what: str) -> int:
    """An integer from a raw JSON-RPC quantity (``"0x1a"``); ValueError naming ``what`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise ValueError(f"{what} is not a JSON-RPC quantity: {str(value)[:60]!r}")


__all__ = ["RpcBatch", "error_message", "hex_int"]
