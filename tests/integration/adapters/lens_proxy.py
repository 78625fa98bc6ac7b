"""A JSON-RPC proxy in front of a real anvil that behaves like an RPC without state overrides: an ``eth_call``
with a third parameter is answered with an invalid-params error (what such nodes send) or, with ``ignore``, run
without it (what a node that silently drops the parameter does), everything else is forwarded unchanged. The
only stand-in in the lens tests, since anvil itself supports overrides.

Usage::

    with OverrideRefusingProxy(anvil_url) as proxy:
        connect(chain, settings.model_copy(update={"rpc_url": proxy.url}), timeout=30)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class OverrideRefusingProxy:
    """Forwards to ``upstream``; refuses eth_call state overrides and counts the refusals."""

    def __init__(self, upstream: str, ignore: bool = False) -> None:
        self.upstream, self.ignore = upstream, ignore
        self.refused = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = [proxy.answer(r) for r in body] if isinstance(body, list) else proxy.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("method") == "eth_call" and len(request.get("params", [])) > 2:
            with self._lock:
                self.refused += 1
            if self.ignore:  # a node that drops the override and runs the call against the real (empty) account
                return dict(requests.post(self.upstream, json={**request, "params": request["params"][:2]},
                                          timeout=30).json())
            return {"jsonrpc": "2.0", "id": request.get("id"),
                    "error": {"code": -32602, "message": "too many arguments, want at most 2"}}
        return dict(requests.post(self.upstream, json=request, timeout=30).json())

    def __enter__(self) -> OverrideRefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
