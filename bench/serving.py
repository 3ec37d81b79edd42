"""Serving benchmark: our server vs an untuned KServe server on the same ONNX model.

Both serve V2 REST on 127.0.0.1, one process each, both up for the whole run:

- ``ours``: ``python -m workloads.serving`` (signature-checked, the server's ORT session,
  lean hot path, uvloop/httptools, no per-request log lines);
- ``kserve_untuned``: a plain ``kserve.Model`` around a default ``InferenceSession``
  served by ``kserve.ModelServer`` with its defaults (latency logging on, asyncio loop),
  except that its REST socket is bound to 127.0.0.1 instead of 0.0.0.0 and gRPC is off.

The load generator is a closed loop of keep-alive HTTP/1.1 connections (raw asyncio
streams, so client overhead stays small on the shared cores) sending the same batch-1
V2 request; every response must be 200 with the expected output shape, otherwise it
counts as an error. Concurrency 1 and 16, ``--seconds`` each run; the four runs
(2 servers x 2 concurrencies) are interleaved over ``--rounds`` rounds (``_harness.py``)
and each figure is reported as median and spread; the p99 target holds only when it
holds in every round. Then malformed requests go to our server: each must get a 4xx.

What bounds the tail is in the JSON too, per run of our server: the CPU seconds its
process used per second of load (``server_cpu_per_s``; one event loop near 1.0 is
saturated, well below 1.0 with a long tail means it waited for a core) and, from its
own latency histogram on ``--metrics_port``, the share of requests whose time in the
handler stayed within 0.5/1/5/10 ms (``handler_share_within_per_round``).

``python bench/serving.py [--model-dir DIR] [--seconds S] [--rounds N] [--quick]``.
Last stdout line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
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


# ---------------------------------------------------------------- load generator
def _request_bytes(path: str, payload: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


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
            if status != 200 or b'"shape":[1,2]' not in body:
                errors.append(f"{status}: {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"connection: {exc!r}")
    finally:
        writer.close()


async def _load(
    port: int, path: str, payload: bytes, concurrency: int, seconds: float
) -> dict[str, Any]:
    request = _request_bytes(path, payload)
    warm_lat: list[float] = []
    warm_err: list[str] = []
    await asyncio.gather(
        *[
            _one_connection(port, request, time.perf_counter() + 1.0, warm_lat, warm_err)
            for _ in range(concurrency)
        ]
    )
    latencies: list[float] = []
    errors: list[str] = []
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
        "errors": len(errors) + len(warm_err),
        "error_sample": (errors + warm_err)[:3],
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "rps": len(latencies) / elapsed,
    }


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

    def load(self, payload: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
        """One load run; with the server's own view of it where it can be read.

        ``server_cpu_per_s``: CPU seconds the server process used per second of load (a
        single event loop near 1.0 is saturated; well below 1.0 with a long tail means
        it waited for a core). ``handler_share_within``: share of requests whose time in
        the handler (body parsed to response sent, the server's latency histogram) was
        within each bound.
        """
        path = f"/v2/models/{self.name}/infer"
        cpu0, hist0 = self._cpu_seconds(), self._handler_histogram()
        result = asyncio.run(_load(self.port, path, payload, concurrency, seconds))
        cpu1, hist1 = self._cpu_seconds(), self._handler_histogram()
        if cpu0 is not None and cpu1 is not None:
            result["server_cpu_per_s"] = round((cpu1 - cpu0) / result["seconds"], 3)
        if hist0 and hist1 and hist1.get("+Inf", 0) > hist0.get("+Inf", 0):
            total = hist1["+Inf"] - hist0.get("+Inf", 0)
            result["handler_share_within"] = {
                f"{float(le) * 1e3:g}ms": round((hist1[le] - hist0.get(le, 0)) / total, 5)
                for le in ("0.0005", "0.001", "0.005", "0.01")
                if le in hist1
            }
        return result

    def _cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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
    parser.add_argument("--seconds", type=float, default=3.0, help="per load run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--public-key", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.5 s")
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    name = "churn"
    if args.baseline_server:
        run_baseline_server(args.model_dir, name, args.port)
        return 0
    if args.quick:
        args.seconds, args.rounds = 0.5, 2
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
    }
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
            configs = {
                f"{label}_c{c}": (lambda srv=srv, c=c: srv.load(payload, c, args.seconds))
                for c in (1, 16)
                for label, srv in servers.items()
            }
            raw = harness.interleaved(configs, args.rounds, warmup=False)
            results["malformed_statuses"] = malformed_statuses(ours.port, name, row)
        finally:
            log_lines = {label: srv.stop() for label, srv in servers.items()}
    results["server_log_lines"] = log_lines
    for key, rounds in raw.items():
        results[key] = {
            "requests": sum(r["requests"] for r in rounds),
            "errors": sum(r["errors"] for r in rounds),
            "error_sample": [e for r in rounds for e in r["error_sample"]][:3],
            "rps": harness.summary([r["rps"] for r in rounds]),
            "p50_ms": harness.summary([r["p50_ms"] for r in rounds if r["p50_ms"] is not None]),
            "p99_ms": harness.summary([r["p99_ms"] for r in rounds if r["p99_ms"] is not None]),
            "p99_ms_per_round": [round(r["p99_ms"], 2) for r in rounds if r["p99_ms"]],
        }
        if all("server_cpu_per_s" in r for r in rounds):
            results[key]["server_cpu_per_s"] = harness.summary(
                [r["server_cpu_per_s"] for r in rounds]
            )
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
        "zero_errors": all(results[key]["errors"] == 0 for key in raw),
        "malformed_all_4xx": all(400 <= code < 500 for code in statuses.values()),
    }
    harness.emit(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
