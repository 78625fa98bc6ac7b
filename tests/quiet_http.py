"""The HTTP servers tests stand up (fault proxies, fake RPC nodes) answer some requests late on purpose; by then
the client may have hung up. socketserver prints a traceback for that to the process's stderr, where it lands in
whichever test is running and capturing stderr at that moment. A client that hung up is not an error here.

Usage::

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
"""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset: the client left
            return
        super().handle_error(request, client_address)


__all__ = ["QuietHTTPServer"]
