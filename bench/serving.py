"""Serving benchmark: our server vs an untuned KServe server on the same ONNX model.

Both serve V2 REST on 127.0.0.1, one process each, both up for the whole run:

- ``ours``: ``python -m workloads.serving`` (signature-checked, the server's ORT session,
  lean hot path, uvloop/httptools, no per-request log lines);
- ``kserve_untuned``: a plain ``kserve.Model`` around a default ``InferenceSession``
  served by ``kserve.ModelServer`` with its defaults (latency logging on, asyncio loop),
  except that its REST socket is bound to 127.0.0.1 instead of 0.0.0.0 and gRPC is off.

The load generator is a closed loop of keep-alive HTTP/1.1 connections sending the same
batch-1 V2 request: Debian's ``wrk`` (C, one thread, ``-c`` connections, the POST set by a
small Lua script, percentiles from wrk's latency histogram) when it is on PATH, else the
Python client (raw asyncio streams; the JSON then says ``"client": "python"`` and why).
The load generator shares the cores with the servers; the Python one costs about 2.5x
wrk's CPU per request (about 45 us against 17 us, ``client_cpu_per_s``), which on a
loaded machine takes core time from the servers and inflates the c=16 tail. wrk checks
only statuses (a socket error or a response that is not 2xx/3xx is an error), so each
server first answers a few pre-flight requests that must be 200 with the expected output
shape (``preflight_problems``); the Python client checks every response. Nothing is
pinned to a core: pinning the client to one core and the servers to the other was
measured slower under outside load (the servers lose the second core). Concurrency 1 and
16, ``--seconds`` (whole seconds) each run, after a 1 s warm-up per server (none with
``--quick``); the four runs (2 servers x 2 concurrencies) are interleaved over
``--rounds`` rounds (``_harness.py``) and each figure is reported as median and spread;
the p99 target holds only when it holds in every round. Then malformed requests go to our server: each must get a 4xx.

What bounds the tail is in the JSON too, per run of each server: the CPU seconds its
process used per second of load (``server_cpu_per_s``; one event loop near 1.0 is
saturated), the seconds per second its event-loop thread was runnable but waiting for a
core (``server_runqueue_wait_per_s``, from ``/proc/PID/schedstat``), the client's own
CPU per second (``client_cpu_per_s``) and, from our server's latency histogram on
``--metrics_port``, the share of requests whose time in the handler stayed within
0.5/1/5/10 ms (``handler_share_within_per_round``).

``python bench/serving.py [--model-dir DIR] [--seconds S] [--rounds N]
[--client auto|wrk|python] [--quick]``.
Last stdout line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as harness  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- baseline server
def run_baseline_server(model_dir: Path, model_name: str, port: int) -> None:
    """An untuned KServe server: default session, default server settings."""
    sys.argv = sys.argv[:1]  # KServe parses sys.argv at import
    import kserve
    import onnxruntime as ort
    import uvicorn
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    original_config = uvicorn.Config

    def loopback_config(*args: Any, **kwargs: Any) -> Any:
        # KServe hard-codes 0.0.0.0; benchmarks never listen beyond loopback.
        kwargs["host"] = "127.0.0.1"
        return original_config(*args, **kwargs)

    import kserve.protocol.rest.server as rest_server

    rest_server.uvicorn.Config = loopback_config

    class PlainOnnx(kserve.Model):
        def load(self) -> bool:
            self.session = ort.InferenceSession(
                str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
            )
            self.ready = True
            return True

        def get_input_types(self) -> list[dict[str, Any]]:
            return [{"name": "features", "datatype": "FP32", "shape": [-1, 11]}]

        def get_output_types(self) -> list[dict[str, Any]]:
            return [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}]

        def predict(self, payload: InferRequest, headers: Any = None) -> InferResponse:
            x = payload.inputs[0].as_numpy()
            y = self.session.run(None, {"features": x})[0]
            out = InferOutput(name="probabilities", shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=False)
            return InferResponse(
                response_id=payload.id or "", model_name=self.name, infer_outputs=[out]
            )

    model = PlainOnnx(model_name)
    model.load()
    kserve.ModelServer(http_port=port, enable_grpc=False).start([model])


# ---------------------------------------------------------------- load generators
WRK_DONE_MARK = "WRK_RESULT "
"""Prefix of the one line the Lua ``done`` hook prints (the run's figures as JSON)."""

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,'
    .. '"max_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\\n',
    MARK, summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_script(directory: Path, payload: bytes) -> Path:
    """The Lua script that makes wrk POST ``payload`` as JSON and report in one line."""
    text = payload.decode()
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    script = directory / "v2_post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [{eq}[{text}]{eq}]\n"
        f'MARK = "{WRK_DONE_MARK}"\n' + _WRK_DONE
    )
    return script


def parse_wrk(stdout: str) -> dict[str, Any]:
    """One wrk run's figures from its output; raise ``RuntimeError`` when they are missing.

    Socket errors (connect, read, write, timeout) and responses that are not 2xx/3xx
    (wrk's ``Non-2xx or 3xx responses``) are errors.
    """
    for line in stdout.splitlines():
        if line.startswith(WRK_DONE_MARK):
            raw = json.loads(line[len(WRK_DONE_MARK) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result line: {stdout[-500:]!r}")
    seconds = raw["duration_us"] / 1e6
    socket_errors = {k: int(raw[k]) for k in ("connect", "read", "write", "timeout") if raw[k]}
    errors = [f"socket {kind}: {count}" for kind, count in socket_errors.items()]
    if raw["status"]:
        errors.append(f"non-2xx or 3xx responses: {int(raw['status'])}")
    requests = int(raw["requests"])
    return {
        "seconds": round(seconds, 2),
        "requests": requests,
        "errors": sum(socket_errors.values()) + int(raw["status"]),
        "error_sample": errors[:3],
        "p50_ms": raw["p50_us"] / 1e3 if requests else None,
        "p90_ms": raw["p90_us"] / 1e3 if requests else None,
        "p99_ms": raw["p99_us"] / 1e3 if requests else None,
        "max_ms": raw["max_us"] / 1e3 if requests else None,
        "rps": requests / seconds if seconds else 0.0,
    }


def wrk_version(wrk: str) -> str:
    """wrk's own version line (``wrk -v`` exits 1 after printing it)."""
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) else ""


def wrk_load(wrk: str, script: Path, url: str, concurrency: int, seconds: int) -> dict[str, Any]:
    """One closed-loop wrk run: 1 thread, ``concurrency`` keep-alive connections.

    ``client_cpu_per_s``: CPU seconds wrk used per second of load (it shares the cores).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"wrk exited with {out.returncode}: {out.stderr[-500:]}")
    result = {"concurrency": concurrency, **parse_wrk(out.stdout)}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["client_cpu_per_s"] = round(cpu / result["seconds"], 3) if result["seconds"] else None
    return result


def _request_bytes(path: str, payload: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


_EXPECTED_SHAPE = b'"shape":[1,2]'
"""Every benchmark response is the batch-1 output: 200 with this shape."""


async def _one_connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    clock = time.perf_counter
    try:
        while clock() < deadline:
            t0 = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head[9:12])
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(clock() - t0)
            if status != 200 or _EXPECTED_SHAPE not in body:
                errors.append(f"{status}: {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"connection: {exc!r}")
    finally:
        writer.close()


async def _load(
    port: int, path: str, payload: bytes, concurrency: int, seconds: float
) -> dict[str, Any]:
    """The Python client (when wrk is absent): the same closed loop, every body checked."""
    request = _request_bytes(path, payload)
    latencies: list[float] = []
    errors: list[str] = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(
        *[
            _one_connection(port, request, start + seconds, latencies, errors)
            for _ in range(concurrency)
        ]
    )
    elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1e3
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:3],
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p90_ms": float(np.percentile(lat, 90)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "max_ms": float(lat.max()) if len(lat) else None,
        "rps": len(latencies) / elapsed,
        # In-process: the benchmark's own CPU use, the client's share of the cores.
        "client_cpu_per_s": round((time.process_time() - cpu0) / elapsed, 3),
    }


def preflight(port: int, path: str, payload: bytes, requests: int = 5) -> list[str]:
    """A few requests before any load: each must be 200 with the expected output shape.

    wrk counts only statuses, so the response shape is checked here, per server.
    Returns the problems found (empty when all were right).
    """
    problems = []
    for _ in range(requests):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=payload,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (http://127.0.0.1)
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except OSError as exc:
            problems.append(f"preflight: {exc!r}")
            continue
        if status != 200 or _EXPECTED_SHAPE not in body.replace(b" ", b""):
            problems.append(f"preflight {status}: {body[:200]!r}")
    return problems


def _wait_ready(port: int, name: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            url = f"http://127.0.0.1:{port}/v2/models/{name}/ready"
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready in time")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _status_of(port: int, head: bytes, body: bytes) -> int:
    """Send one raw request on a fresh connection; the response status (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0


def malformed_statuses(port: int, name: str, row: list[float]) -> dict[str, int]:
    """What the server answers to malformed requests (each must be a 4xx)."""
    path = f"/v2/models/{name}/infer"

    def v2(data: Any, shape: Any, datatype: str = "FP32") -> bytes:
        tensor = {"name": "features", "datatype": datatype, "shape": shape, "data": data}
        return json.dumps({"inputs": [tensor]}).encode()

    def post(body: bytes, length: str | None = None, extra: str = "") -> tuple[bytes, bytes]:
        declared = str(len(body)) if length is None else length
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n{extra}Connection: close\r\n\r\n"
        ).encode()
        return head, body

    cases = {
        "not_json": post(b"{not json"),
        "empty_body": post(b""),
        "json_array": post(b"[1, 2, 3]"),
        "inputs_not_list": post(b'{"inputs": "x"}'),
        "wrong_width": post(v2(row[:-1], [1, len(row) - 1])),
        "shape_mismatch": post(v2(row, [2, len(row)])),
        "wrong_datatype": post(v2(row, [1, len(row)], "FP64")),
        "string_value": post(v2([*row[:-1], "NaN"], [1, len(row)])),
        "out_of_range": post(v2([*row[:-1], 1e39], [1, len(row)])),
        "bad_content_length": post(v2(row, [1, len(row)]), length="-1"),
        "declared_too_large": post(b"{}", length=str(10**9)),
        "unknown_model": (
            b"POST /v2/models/nope/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n",
            b"{}",
        ),
    }
    return {label: _status_of(port, head, body) for label, (head, body) in cases.items()}


class Client:
    """The load generator: wrk (C, one thread) when installed, else the Python client.

    Both servers get the same client, the same request and the same concurrency.
    """

    def __init__(self, kind: str, payload: bytes, scratch: Path) -> None:
        self.kind, self.payload = kind, payload
        self.wrk = shutil.which("wrk") if kind == "wrk" else None
        self.script = wrk_script(scratch, payload) if self.wrk else None

    def run(self, server: Server, concurrency: int, seconds: int) -> dict[str, Any]:
        if self.wrk and self.script:
            url = f"http://127.0.0.1:{server.port}{server.infer_path}"
            return wrk_load(self.wrk, self.script, url, concurrency, seconds)
        return asyncio.run(
            _load(server.port, server.infer_path, self.payload, concurrency, seconds)
        )


class Server:
    """One server process, kept up across the rounds."""

    def __init__(
        self, cmd: list[str], port: int, name: str, log: Path, metrics_port: int | None = None
    ) -> None:
        self.port, self.name, self.log, self.metrics_port = port, name, log, metrics_port
        with log.open("wb") as handle:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, name, self.proc)
        except BaseException:
            _stop(self.proc)
            raise

    def load(self, client: Client, concurrency: int, seconds: int) -> dict[str, Any]:
        """One load run; with the server's own view of it where it can be read.

        ``server_cpu_per_s``: CPU seconds the server process used per second of load (a
        single event loop near 1.0 is saturated; well below 1.0 with a long tail means
        it waited for a core). ``server_runqueue_wait_per_s``: seconds per second its
        main (event-loop) thread was runnable but not running, waiting for a core
        (``/proc/PID/schedstat``). ``handler_share_within``: share of requests whose
        time in the handler (body parsed to response sent, the server's latency
        histogram) was within each bound.
        """
        cpu0, wait0, hist0 = self._cpu_seconds(), self._wait_seconds(), self._handler_histogram()
        result = client.run(self, concurrency, seconds)
        cpu1, wait1, hist1 = self._cpu_seconds(), self._wait_seconds(), self._handler_histogram()
        elapsed = result["seconds"] or float(seconds)
        if cpu0 is not None and cpu1 is not None:
            result["server_cpu_per_s"] = round((cpu1 - cpu0) / elapsed, 3)
        if wait0 is not None and wait1 is not None:
            result["server_runqueue_wait_per_s"] = round((wait1 - wait0) / elapsed, 3)
        if hist0 and hist1 and hist1.get("+Inf", 0) > hist0.get("+Inf", 0):
            total = hist1["+Inf"] - hist0.get("+Inf", 0)
            result["handler_share_within"] = {
                f"{float(le) * 1e3:g}ms": round((hist1[le] - hist0.get(le, 0)) / total, 5)
                for le in ("0.0005", "0.001", "0.005", "0.01")
                if le in hist1
            }
        return result

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{self.name}/infer"

    def _cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _wait_seconds(self) -> float | None:
        """Run-queue wait of the server's main thread, in seconds (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/schedstat").read_text().split()
        except OSError:
            return None
        return int(fields[1]) / 1e9

    def _handler_histogram(self) -> dict[str, float]:
        """Cumulative V2 request-duration buckets from the server's metrics port."""
        if self.metrics_port is None:
            return {}
        from contracts.telemetry import LATENCY_HISTOGRAM

        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        buckets = {}
        for line in text.splitlines():
            if line.startswith(f"{LATENCY_HISTOGRAM}_bucket{{") and 'protocol="v2"' in line:
                le = line.split('le="', 1)[1].split('"', 1)[0]
                buckets[le] = float(line.rsplit(" ", 1)[1])
        return buckets

    def stop(self) -> int:
        _stop(self.proc)
        return sum(1 for _ in self.log.open("rb"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=int, default=3, help="per load run (whole seconds)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--public-key", type=Path, default=None)
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk when installed, else the Python client)",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 s, no warm-up")
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    name = "churn"
    if args.baseline_server:
        run_baseline_server(args.model_dir, name, args.port)
        return 0
    if args.quick:
        args.seconds, args.rounds = 1, 2
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    kind = args.client
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    elif kind == "wrk" and not shutil.which("wrk"):
        parser.error("--client wrk: wrk is not on PATH (Debian: apt-get install wrk)")
    if args.model_dir is None:
        from workloads.training.local import ensure_local_model

        local = ensure_local_model()
        args.model_dir, args.public_key = local.model_dir, local.public_key
    if args.public_key is None:
        args.public_key = ROOT / ".mlplatform/local/keys/dev_signing_key.pub.pem"
    card = json.loads((args.model_dir / "model_card.json").read_text())
    row = [float(c[0]) if (c := f.get("categories")) else 10.0 for f in card["features"]]
    payload = json.dumps(
        {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, len(row)], "data": row}]}
    ).encode()
    logs = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    results: dict[str, Any] = {
        "bench": "serving",
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "request": "V2 REST, batch 1",
        "client": kind,
    }
    client = Client(kind, payload, logs)
    if client.wrk:
        results["client_version"] = wrk_version(client.wrk)
        results["client_settings"] = "wrk -t1 -cC --latency, POST via Lua, keep-alive"
    else:
        results["client_note"] = (
            ("wrk not found on PATH" if args.client == "auto" else "--client python")
            + ": the Python client (asyncio streams) ran; it shares the cores with the "
            "servers, so its own CPU use caps throughput and inflates the c=16 tail. "
            "Install wrk (Debian: apt-get install wrk) for the figures to compare."
        )
    with harness.recorded(results):
        port, metrics_port = _free_port(), _free_port()
        ours = Server(
            [
                sys.executable,
                "-m",
                "workloads.serving",
                "--model_name",
                name,
                "--model_dir",
                str(args.model_dir),
                "--http_port",
                str(port),
                "--enable_grpc",
                "false",
                "--public_key",
                str(args.public_key),
                "--metrics_port",
                str(metrics_port),
            ],
            port,
            name,
            logs / "ours.log",
            metrics_port,
        )
        servers = {"ours": ours}
        try:
            port = _free_port()
            servers["kserve_untuned"] = Server(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--baseline-server",
                    "--model-dir",
                    str(args.model_dir),
                    "--port",
                    str(port),
                ],
                port,
                name,
                logs / "kserve.log",
            )
            # Pre-flight per server: the response shape wrk does not look at.
            preflight_problems = {
                label: preflight(srv.port, srv.infer_path, payload)
                for label, srv in servers.items()
            }
            if not args.quick:
                for srv in servers.values():  # warm-up, unrecorded
                    client.run(srv, 16, 1)
            configs = {
                f"{label}_c{c}": (lambda srv=srv, c=c: srv.load(client, c, args.seconds))
                for c in (1, 16)
                for label, srv in servers.items()
            }
            raw = harness.interleaved(configs, args.rounds, warmup=False)
            results["malformed_statuses"] = malformed_statuses(ours.port, name, row)
        finally:
            log_lines = {label: srv.stop() for label, srv in servers.items()}
    results["server_log_lines"] = log_lines
    results["preflight_problems"] = preflight_problems
    for key, rounds in raw.items():
        results[key] = {
            "requests": sum(r["requests"] for r in rounds),
            "errors": sum(r["errors"] for r in rounds),
            "error_sample": [e for r in rounds for e in r["error_sample"]][:3],
            "rps": harness.summary([r["rps"] for r in rounds]),
            "p50_ms": harness.summary([r["p50_ms"] for r in rounds if r["p50_ms"] is not None]),
            "p99_ms": harness.summary([r["p99_ms"] for r in rounds if r["p99_ms"] is not None]),
            "p90_ms": harness.summary([r["p90_ms"] for r in rounds if r["p90_ms"] is not None]),
            "p99_ms_per_round": [round(r["p99_ms"], 2) for r in rounds if r["p99_ms"]],
            "max_ms_per_round": [round(r["max_ms"], 2) for r in rounds if r["max_ms"]],
        }
        for figure in ("server_cpu_per_s", "server_runqueue_wait_per_s", "client_cpu_per_s"):
            if all(r.get(figure) is not None for r in rounds):
                results[key][figure] = harness.summary([r[figure] for r in rounds])
        if all(r.get("server_runqueue_wait_per_s") is not None for r in rounds):
            # Next to p99_ms_per_round: a round with a long tail and a long wait for a
            # core is the machine's load, not the server's code.
            results[key]["server_runqueue_wait_per_round"] = [
                r["server_runqueue_wait_per_s"] for r in rounds
            ]
        if all("handler_share_within" in r for r in rounds):
            results[key]["handler_share_within_per_round"] = [
                r["handler_share_within"] for r in rounds
            ]

    def per_round(key: str, figure: str) -> list[float]:
        return [r[figure] for r in raw[key]]

    for c in (1, 16):
        ours_rps, base_rps = (
            per_round(f"ours_c{c}", "rps"),
            per_round(f"kserve_untuned_c{c}", "rps"),
        )
        results[f"rps_ratio_c{c}"] = harness.compare(ours_rps, base_rps, higher_is_better=True)
    statuses = results["malformed_statuses"]
    results["targets"] = {
        "rps_ratio_c16_ge_2": harness.target(
            [
                a / b
                for a, b in zip(
                    per_round("ours_c16", "rps"),
                    per_round("kserve_untuned_c16", "rps"),
                    strict=True,
                )
            ],
            2.0,
            at_least=True,
        ),
        "ours_p99_c16_le_10ms_every_round": harness.target(
            per_round("ours_c16", "p99_ms"), 10.0, at_least=False
        ),
        "ours_p99_c1_le_2ms_every_round": harness.target(
            per_round("ours_c1", "p99_ms"), 2.0, at_least=False
        ),
        "zero_errors": all(results[key]["errors"] == 0 for key in raw)
        and not any(preflight_problems.values()),
        "malformed_all_4xx": all(400 <= code < 500 for code in statuses.values()),
    }
    harness.emit(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
