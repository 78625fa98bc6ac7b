"""JSON-RPC plumbing the devnet's stand-in processes share: a client to a chain's node, error codes, replies.

The private relay (devnet.mev.relay) and the sandwich searcher (devnet.mev.sandwich) both talk to anvil over plain
JSON-RPC, batches included, and the relay answers its own clients in the same shapes; this keeps those few pieces
in one place so the two processes speak the same dialect.

Usage::

    client = JsonRpcClient("http://127.0.0.1:18545")
    head = int(client.call("eth_blockNumber"), 16)
    replies = client.batch([("eth_blockNumber", []), ("eth_getTransactionCount", [account, "latest"])])
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import requests

from crosshedge import CrosshedgeError, InputError, RpcError

INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL, REFUSED = -32600, -32601, -32602, -32603, -32000


class RelayRequestError(InputError):
    """A request the relay answers with a JSON-RPC error (malformed, or a transaction the chain would refuse)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class NodeError(CrosshedgeError):
    """The node's own JSON-RPC error for a forwarded read, passed on to the client as it is."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


class JsonRpcClient:
    """A small JSON-RPC client over HTTP (one session per thread); transport failures are RpcError naming the URL.

    Usage: ``JsonRpcClient(url).call("eth_chainId")``, ``client.batch([("eth_blockNumber", []), ...])``
    """

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # a local node: no proxy lookups on every request
            self._local.session = session
        return session

    def post(self, payload: Any, what: str) -> Any:
        try:
            response = self._session().post(self.url, json=payload, timeout=self.timeout_s)
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise RpcError(f"node at {self.url} did not answer {what} ({type(exc).__name__})") from None

    def call(self, method: str, *params: Any) -> Any:
        """The result of one call; RpcError (naming the URL and the node's message) when it answers an error."""
        reply = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, method)
        if not isinstance(reply, dict) or "error" in reply:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise RpcError(f"node at {self.url} refused {method}: {error}")
        return reply.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch; the replies in the order of ``calls`` (each has ``result`` or ``error``)."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = self.post(payload, "a batch of " + ", ".join(sorted({m for m, _ in calls})))
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise RpcError(f"node at {self.url} answered a batch of {len(calls)} with {str(replies)[:200]}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        return [by_id.get(i, {"error": {"code": INTERNAL, "message": "no reply"}}) for i in range(len(calls))]


def error_reply(rid: Any, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error reply to the request ``rid``."""
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def dump(value: Any) -> bytes:
    """``value`` as compact JSON bytes (an HTTP body)."""
    return json.dumps(value, separators=(",", ":")).encode()


__all__ = [
    "INTERNAL",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "REFUSED",
    "JsonRpcClient",
    "NodeError",
    "RelayRequestError",
    "dump",
    "error_reply",
]
