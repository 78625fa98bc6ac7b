"""The private relay's JSON-RPC endpoint: what a sender may ask it, over a small threaded HTTP server.

``eth_sendRawTransaction`` goes to the relay's pool (devnet.mev.relay_pool); the few reads a sender asks its send
endpoint (web3's middlewares, nonce and fee lookups, receipts) are forwarded to the chain's node, with
``eth_getTransactionCount`` at ``pending`` also counting the sender's held transactions; ``eth_chainId`` and
``relay_getTransactionStatus`` are answered here; every other method (``txpool_*``, ``anvil_*``, ``evm_*``,
``eth_sendTransaction``) is refused, so nothing of the public node is reachable through the relay.

Usage::

    relay = Relay(JsonRpcClient("http://127.0.0.1:18545"), block_time_s=12.0)
    relay.start()
    serve(relay, "127.0.0.1", 18645).serve_forever()
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from web3 import Web3

from crosshedge import RpcError
from devnet.mev.jsonrpc import (
    INTERNAL,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NodeError,
    RelayRequestError,
    dump,
    error_reply,
)
from devnet.mev.relay_builder import RelayBuilder

#: Reads a sender may ask its send endpoint (web3's middlewares, nonce and fee lookups, receipts): forwarded.
FORWARDED = frozenset({
    "eth_blockNumber", "eth_call", "eth_estimateGas", "eth_feeHistory", "eth_gasPrice", "eth_getBalance",
    "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getCode", "eth_getTransactionByHash",
    "eth_getTransactionReceipt", "eth_maxPriorityFeePerGas", "net_version", "web3_clientVersion",
})
MAX_BODY_BYTES = 4 * 2**20
MAX_BATCH = 100


class Relay(RelayBuilder):
    """The relay's state and logic (the HTTP server and the builder thread call into it).

    Usage: ``Relay(JsonRpcClient(upstream), block_time_s=12.0).handle(body)`` (the bytes of the reply, or None)
    """

    def handle(self, body: bytes) -> bytes | None:
        """Answer one HTTP body (a request or a batch); None when there is nothing to answer (notifications)."""
        try:
            request = json.loads(body)
        except ValueError:
            return dump(error_reply(None, -32700, "parse error: the request body is not JSON"))
        if isinstance(request, list):
            if not request or len(request) > MAX_BATCH:
                return dump(error_reply(None, INVALID_REQUEST,
                                        f"invalid request: a batch holds 1 to {MAX_BATCH} calls"))
            replies = [r for r in (self._answer(item) for item in request) if r is not None]
            return dump(replies) if replies else None
        reply = self._answer(request)
        return dump(reply) if reply is not None else None

    def _answer(self, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return error_reply(None, INVALID_REQUEST, "invalid request: expected a JSON-RPC object")
        rid = item.get("id")
        method, params = item.get("method"), item.get("params", [])
        if item.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return error_reply(rid, INVALID_REQUEST, "invalid request: needs jsonrpc \"2.0\" and a method name")
        if not isinstance(params, list):
            return error_reply(rid, INVALID_PARAMS, "invalid params: params must be an array")
        try:
            reply = {"jsonrpc": "2.0", "id": rid, "result": self.dispatch(method, params)}
        except RelayRequestError as exc:
            reply = error_reply(rid, exc.code, str(exc))
        except NodeError as exc:
            reply = {"jsonrpc": "2.0", "id": rid, "error": exc.error}
        except RpcError as exc:
            reply = error_reply(rid, INTERNAL, f"relay: {exc}")
        return reply if "id" in item else None

    def dispatch(self, method: str, params: list[Any]) -> Any:
        """The result of one call, or RelayRequestError / an upstream error."""
        if method == "eth_sendRawTransaction":
            if len(params) != 1:
                raise RelayRequestError(INVALID_PARAMS,
                                        "invalid params: eth_sendRawTransaction takes one signed transaction")
            return self.submit(params[0])
        if method == "eth_chainId":
            return hex(self.chain_id or 0)
        if method == "relay_getTransactionStatus":
            if len(params) != 1 or not isinstance(params[0], str):
                raise RelayRequestError(INVALID_PARAMS, "invalid params: relay_getTransactionStatus takes a hash")
            return self.status(params[0])
        if method == "eth_getTransactionCount":
            return self._nonce(params)
        if method not in FORWARDED:
            raise RelayRequestError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available on "
                                                      "this private relay (it sends transactions and answers "
                                                      "basic reads)")
        return self._forward(method, params)

    def _forward(self, method: str, params: list[Any]) -> Any:
        reply = self.upstream.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, method)
        if not isinstance(reply, dict):
            raise RpcError(f"node at {self.upstream.url} answered {method} with {str(reply)[:200]}")
        if "error" in reply:
            raise NodeError(reply["error"])
        return reply.get("result")

    def _nonce(self, params: list[Any]) -> Any:
        """The chain's count, and at ``pending`` also the sender's transactions held here."""
        count = self._forward("eth_getTransactionCount", params)
        if len(params) < 2 or params[1] != "pending" or not isinstance(params[0], str) or not Web3.is_address(
                params[0]):
            return count
        sender = Web3.to_checksum_address(params[0])
        with self._lock:
            held = [h.tx.nonce + 1 for h in self._held.values() if h.tx.sender == sender]
        return hex(max([int(count, 16), *held]))


def serve(relay: Relay, host: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP server answering JSON-RPC POSTs with ``relay`` (call ``serve_forever`` on it)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return  # the relay logs its own events

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self._reply(dump(error_reply(None, INVALID_REQUEST, f"invalid request: body of 1 to "
                                                                    f"{MAX_BODY_BYTES} bytes expected")),
                            413 if length else 400)
                return
            out = relay.handle(self.rfile.read(length))
            if out is None:
                self.send_response(204)
                self.end_headers()
                return
            self._reply(out, 200)

        def do_GET(self) -> None:
            self._reply(dump(error_reply(None, INVALID_REQUEST, "invalid request: POST JSON-RPC")), 405)

        def _reply(self, body: bytes, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)


__all__ = ["FORWARDED", "MAX_BATCH", "MAX_BODY_BYTES", "Relay", "serve"]
