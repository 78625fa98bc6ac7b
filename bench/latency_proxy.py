"""A JSON-RPC forwarding proxy that adds a fixed round-trip delay, so a benchmark on the local devnet can also be
measured at the latency of a hosted RPC (anvil on localhost answers in well under a millisecond; a hosted endpoint
seen from a datacenter takes 5–50 ms). Every request, whatever its method, waits the same ``rtt_ms`` before it is
forwarded, so the floor (``eth_blockNumber``) and the reads pay it alike, once per round trip.

The proxy runs in a process of its own, as the network and the provider's edge are not in the client's
interpreter: in the benchmark's process its request parsing and forwarding would take the client's GIL, and a
read (large bodies) would pay for it more than the floor (tiny ones).

Usage::

    with LatencyProxy("http://127.0.0.1:18545", rtt_ms=20) as proxy:
        connect(chain, settings.model_copy(update={"rpc_url": proxy.url}), timeout=30)

    python bench/latency_proxy.py UPSTREAM RTT_MS      # serves until killed; prints its URL on stdout first
"""

from __future__ import annotations

import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


def serve(upstream: str, rtt_ms: float) -> None:
    """Forward every POST to ``upstream`` after sleeping ``rtt_ms`` milliseconds; prints the URL, then serves."""
    delay_s = rtt_ms / 1000
    session = requests.Session()  # one keep-alive connection pool to the node, as a provider's edge keeps

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive from the client too: no TCP handshake per request
        # The headers and the body go out in two writes: with Nagle on, the body waits for the client's
        # delayed ACK (40 ms on Linux), which would be the proxy's delay, not the network's.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay_s)
            answer = session.post(upstream, data=body, headers={"Content-Type": "application/json"},
                                  timeout=60).content
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class LatencyProxy:
    """:func:`serve` in a child process for the ``with`` block; ``url`` is where it listens."""

    def __init__(self, upstream: str, rtt_ms: float) -> None:
        self.upstream, self.rtt_ms = upstream, rtt_ms
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LatencyProxy:
        self._process = subprocess.Popen([sys.executable, __file__, self.upstream, f"{self.rtt_ms:g}"],
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self._process.kill()
            raise RuntimeError(f"latency proxy for {self.upstream} did not start (exit {self._process.wait()})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]))
