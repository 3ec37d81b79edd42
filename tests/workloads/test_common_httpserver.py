"""The shared background HTTP server and JSON handler of the workloads."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from workloads.common.httpserver import BackgroundHTTPServer, JSONRequestHandler


class _Echo(BackgroundHTTPServer):
    """Answers every GET with its path, plus one extra header on /teapot."""

    def start(self) -> _Echo:
        class Handler(JSONRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/teapot":
                    self._reply(418, {"path": self.path}, {"X-Brew": "no"})
                else:
                    self._reply(200, {"path": self.path})

        self.port = self._serve(("127.0.0.1", 0), Handler)
        return self


def _get(port: int, path: str) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw)
    finally:
        conn.close()


def test_json_reply_with_status_length_and_extra_headers() -> None:
    with _Echo() as server:
        status, headers, body = _get(server.port, "/hello")
        assert (status, body) == (200, {"path": "/hello"})
        assert headers["Content-Type"] == "application/json"
        assert int(headers["Content-Length"]) == len(json.dumps(body).encode())
        assert "X-Brew" not in headers
        status, headers, body = _get(server.port, "/teapot")
        assert (status, body, headers["X-Brew"]) == (418, {"path": "/teapot"}, "no")


def test_stop_closes_the_port_joins_the_thread_and_can_be_repeated() -> None:
    server = _Echo().start()
    thread = server._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    port = server.port
    server.stop()
    assert not thread.is_alive()
    assert server._server is None and server._thread is None
    with pytest.raises(ConnectionRefusedError):
        _get(port, "/after-stop")
    server.stop()  # a second stop is a no-op, as __exit__ after an explicit stop needs


def test_the_base_class_has_no_handler_of_its_own() -> None:
    with pytest.raises(NotImplementedError):
        BackgroundHTTPServer().start()
