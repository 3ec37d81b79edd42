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


class BodyError(ValueError):
    """A request body that is refused before it is read: ``status`` is the 4xx to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def content_length(headers: Any, max_bytes: int) -> int:
    """The request's ``Content-Length``, checked before a byte of the body is read.

    Refused (:class:`BodyError`): chunked or any other ``Transfer-Encoding`` (411: the
    size must be known up front), a missing length (411), several differing lengths, a
    value that is not a plain decimal (``-1``, ``+5``, ``1e3``, ``abc``: 400), and a
    body over ``max_bytes`` (413).
    """
    if headers.get("Transfer-Encoding") is not None:
        raise BodyError(411, "Transfer-Encoding is not accepted: send Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        raise BodyError(411, "Content-Length is required")
    if len({v.strip() for v in values}) > 1:
        raise BodyError(400, "conflicting Content-Length headers")
    value = values[0].strip()
    # isdecimal() refuses signs, spaces, exponents and non-ASCII digits int() would take.
    if not value.isascii() or not value.isdecimal() or len(value) > 18:
        raise BodyError(400, f"Content-Length must be a non-negative integer, got {value[:32]!r}")
    length = int(value)
    if length > max_bytes:
        raise BodyError(413, f"body over {max_bytes} bytes")
    return length


class JSONRequestHandler(BaseHTTPRequestHandler):
    """A request handler that answers in JSON and keeps request logs off stderr."""

    # A client that stops sending mid-request must not hold a thread forever.
    timeout = 30

    def _read_body(self, max_bytes: int) -> bytes:
        """Exactly ``Content-Length`` bytes, after :func:`content_length` accepted it.

        A refused body is never read, so the connection is closed after the answer.
        """
        try:
            length = content_length(self.headers, max_bytes)
        except BodyError:
            self.close_connection = True
            raise
        data = self.rfile.read(length)
        if len(data) != length:
            self.close_connection = True
            raise BodyError(400, f"body ended after {len(data)} of {length} bytes")
        return data

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
