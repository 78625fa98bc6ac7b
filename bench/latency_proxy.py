"""A JSON-RPC forwarding proxy that adds a fixed round-trip delay, so a benchmark on the local devnet can also be
measured at the latency of a hosted RPC (anvil on localhost answers in well under a millisecond; a hosted endpoint
seen from a datacenter takes 5–50 ms). Every request, whatever its method, waits the same ``rtt_ms`` before it is
forwarded, so the floor (``eth_blockNumber``) and the reads pay it alike, once per round trip.

Usage::

    with LatencyProxy("http://127.0.0.1:18545", rtt_ms=20) as proxy:
        connect(chain, settings.model_copy(update={"rpc_url": proxy.url}), timeout=30)
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class LatencyProxy:
    """Forwards every POST to ``upstream`` after sleeping ``rtt_ms`` milliseconds."""

    def __init__(self, upstream: str, rtt_ms: float) -> None:
        self.upstream, self.delay_s = upstream, rtt_ms / 1000
        session = requests.Session()  # one keep-alive connection pool to the node, as a provider's edge keeps
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive from the client too: no TCP handshake per request
            # The headers and the body go out in two writes: with Nagle on, the body waits for the client's
            # delayed ACK (40 ms on Linux), which would be the proxy's delay, not the network's.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(proxy.delay_s)
                answer = session.post(proxy.upstream, data=body, headers={"Content-Type": "application/json"},
                                      timeout=60).content
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
