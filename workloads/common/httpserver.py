"""A ``ThreadingHTTPServer`` served from a daemon thread, with start/stop plumbing.

Shared by the in-process servers of the workloads (the alert webhook, the local
Kubernetes API used by the rollout tests and demo): each subclass builds its own request
handler (usually on :class:`JSONRequestHandler`) in ``start`` and hands it to
:meth:`BackgroundHTTPServer._serve`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JSONRequestHandler(BaseHTTPRequestHandler):
    """A request handler that answers in JSON and keeps request logs off stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        # Servers record what matters themselves (audit log, recorded calls); the
        # default per-request line on stderr would only be noise in tests and demos.
        return

    def _reply(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``body`` as JSON with ``status`` and any extra ``headers``."""
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class BackgroundHTTPServer:
    """Owns one ``ThreadingHTTPServer`` and the daemon thread that serves it."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and serve in a daemon thread (subclasses build their handler here)."""
        raise NotImplementedError

    def _serve(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> int:
        """Bind ``address``, serve it from a daemon thread and return the bound port."""
        self._server = ThreadingHTTPServer(address, handler)
        # A daemon thread cannot keep the process alive if a caller forgets stop().
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (safe to call twice)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
