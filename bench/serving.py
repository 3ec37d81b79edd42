"""Serving benchmark: our server vs an untuned KServe server on the same ONNX model.

Both serve V2 REST on 127.0.0.1, one process each, started one after the other:

- ``ours``: ``python -m workloads.serving`` (signature-checked, tuned ORT session,
  lean hot path, uvloop/httptools, no per-request log lines);
- ``kserve_untuned``: a plain ``kserve.Model`` around a default ``InferenceSession``
  served by ``kserve.ModelServer`` with its defaults (latency logging on, asyncio loop),
  except that its REST socket is bound to 127.0.0.1 instead of 0.0.0.0 and gRPC is off.

The load generator is a closed loop of keep-alive HTTP/1.1 connections (raw asyncio
streams, so client overhead stays small on the shared cores) sending the same batch-1
V2 request; every response must be 200 with the expected output shape, otherwise it
counts as an error. Concurrency 1 and 16, ``--seconds`` each (default 20).

``python bench/serving.py [--model-dir DIR] [--seconds S]``. Last stdout line: JSON.
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


def measure(
    cmd: list[str], port: int, name: str, payload: bytes, seconds: float, log: Path
) -> dict[str, Any]:
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    try:
        _wait_ready(port, name, proc)
        path = f"/v2/models/{name}/infer"
        results: dict[str, Any] = {}
        for concurrency in (1, 16):
            results[f"c{concurrency}"] = asyncio.run(
                _load(port, path, payload, concurrency, seconds)
            )
    finally:
        _stop(proc)
    log_lines = sum(1 for _ in log.open("rb"))
    results["server_log_lines"] = log_lines
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--public-key", type=Path, default=None)
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    name = "churn"
    if args.baseline_server:
        run_baseline_server(args.model_dir, name, args.port)
        return 0
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
        "cpus": os.cpu_count(),
        "seconds_per_run": args.seconds,
        "request": "V2 REST, batch 1",
    }
    port = _free_port()
    results["ours"] = measure(
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
        ],
        port,
        name,
        payload,
        args.seconds,
        logs / "ours.log",
    )
    port = _free_port()
    results["kserve_untuned"] = measure(
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
        payload,
        args.seconds,
        logs / "kserve.log",
    )
    ours, base = results["ours"], results["kserve_untuned"]
    results["rps_ratio_c16"] = ours["c16"]["rps"] / base["c16"]["rps"]
    results["rps_ratio_c1"] = ours["c1"]["rps"] / base["c1"]["rps"]
    results["targets"] = {
        "rps_ratio_c16_ge_2": results["rps_ratio_c16"] >= 2.0,
        "ours_p99_c16_le_10ms": ours["c16"]["p99_ms"] <= 10.0,
        "ours_p99_c1_le_2ms": ours["c1"]["p99_ms"] <= 2.0,
        "zero_errors": ours["c1"]["errors"]
        + ours["c16"]["errors"]
        + base["c1"]["errors"]
        + base["c16"]["errors"]
        == 0,
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
