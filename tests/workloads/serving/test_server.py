"""The model server as a process on 127.0.0.1: protocols, strict 4xx, metrics, logs, refusal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tests.workloads.conftest import Server, free_port

ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]
pytestmark = pytest.mark.slow


def _v2(
    data: list[object], shape: list[int], datatype: str = "FP32", name: str = "features"
) -> dict[str, object]:
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}


def _metrics(srv: Server, port: int) -> tuple[int, Any]:
    """GET /metrics from the server's metrics port (never served on the inference port)."""
    return Server(srv.proc, f"http://127.0.0.1:{port}", 0, srv.log).request("GET", "/metrics")


def _reference(model_dir: Path, rows: list[list[float]]) -> np.ndarray:
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"features": np.asarray(rows, dtype=np.float32)})[0]


def test_protocols_validation_metrics_and_logging(
    trained_model, start_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    log_dir = tmp_path / "predictions"
    metrics_port = free_port()
    with start_server(
        trained_model.out,
        trained_model.keys.public,
        "--metrics_port",
        str(metrics_port),
        "--prediction_log_dir",
        str(log_dir),
        "--max_batch_rows",
        "16",
        "--max_body_bytes",
        "65536",
    ) as srv:
        status, meta = srv.request("GET", "/v2/models/churn")
        assert status == 200
        assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 11]}]
        assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}]

        want = _reference(trained_model.out, [ROW, ROW])
        status, body = srv.post_json(
            "/v2/models/churn/infer", {"id": "r-1", **_v2(ROW + ROW, [2, 11])}
        )
        assert status == 200, body
        assert body["id"] == "r-1"
        assert body["model_version"] == trained_model.card["model_version"]
        out = body["outputs"][0]
        assert out["shape"] == [2, 2]
        np.testing.assert_allclose(np.reshape(out["data"], (2, 2)), want, rtol=1e-6)
        status, body = srv.post_json("/v1/models/churn:predict", {"instances": [ROW]})
        assert status == 200
        np.testing.assert_allclose(body["predictions"], want[:1], rtol=1e-6)
        status, _ = srv.post_json(
            f"/v2/models/churn/versions/{trained_model.card['model_version']}/infer",
            _v2(ROW, [1, 11]),
        )
        assert status == 200

        bad_cases = [
            (_v2(ROW[:10], [1, 10]), 400, "must be [rows, 11]"),
            (_v2(ROW, [1, 11], datatype="FP64"), 400, "must be FP32"),
            (_v2([*ROW[:10], "NaN"], [1, 11]), 400, "values must be numbers"),
            (_v2([*ROW[:10], 1e39], [1, 11]), 400, "NaN, infinity"),
            (_v2(ROW * 17, [17, 11]), 400, "17 rows exceed the limit of 16"),
            (_v2([1], [1], datatype="INT64", name="customer_id"), 400, "name: must be one of"),
            ({"inputs": "x"}, 400, "exactly one tensor"),
            ([1, 2, 3], 400, "must be a JSON object"),
        ]
        for payload, code, text in bad_cases:
            status, body = srv.post_json("/v2/models/churn/infer", payload)
            assert status == code, (payload, body)
            assert text in body["error"], (payload, body)
        nan_literal = json.dumps(_v2(ROW, [1, 11])).replace("5200.0", "NaN").encode()
        status, body = srv.request("POST", "/v2/models/churn/infer", nan_literal)
        assert status == 400
        assert "not valid JSON" in body["error"]
        status, body = srv.request("POST", "/v2/models/churn/infer", b"{not json")
        assert status == 400
        status, body = srv.post_json("/v2/models/other/infer", _v2(ROW, [1, 11]))
        assert (status, body["error"]) == (404, "Model with name other does not exist.")
        status, body = srv.post_json("/v1/models/other:predict", {"instances": [ROW]})
        assert status == 404
        status, body = srv.post_json("/v2/models/churn/versions/v0/infer", _v2(ROW, [1, 11]))
        assert status == 404
        assert "has no version v0" in body["error"]
        status, body = srv.request("GET", "/v2/models/other")
        assert status == 404
        status, body = srv.post_json("/v1/models/churn:predict", {"instances": [[True] * 11]})
        assert status == 400
        status, body = srv.request("POST", "/v2/models/churn/infer", b" " * 70_000)
        assert status == 413
        assert "exceeds 65536 bytes" in body["error"]

        # Still healthy after all that, and nothing was answered with a 5xx.
        assert srv.request("GET", "/v2/health/ready")[0] == 200
        status, metrics = _metrics(srv, metrics_port)
        assert status == 200
        lines = metrics.splitlines()
        served = [ln for ln in lines if ln.startswith("mlplatform_inference_requests_total{")]
        assert any('status="400"' in ln and not ln.endswith(" 0.0") for ln in served)
        assert not any('status="5' in ln for ln in served)
        assert any(
            ln.startswith('mlplatform_prediction_score_count{model="churn"} 4.0') for ln in lines
        ), [ln for ln in lines if "score" in ln]
        assert any(
            ln.startswith("mlplatform_inference_request_duration_seconds_bucket") for ln in lines
        )

    files = list(log_dir.glob("predictions-*.jsonl"))
    assert len(files) == 1
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(records) == 3  # the three successful requests, nothing from the rejected ones
    first = records[0]
    assert first["model"] == "churn"
    assert first["features"] == [f["name"] for f in trained_model.card["features"]]
    assert first["inputs"] == [ROW, ROW]
    np.testing.assert_allclose(first["outputs"], want, rtol=1e-6)
    assert abs(first["ts"] - time.time()) < 300


def test_grpc_infer(trained_model, start_server) -> None:  # type: ignore[no-untyped-def]
    import importlib

    import grpc

    # KServe must be imported through our wrapper (clean sys.argv) before its modules.
    from workloads.serving._kserve import kserve  # noqa: F401

    pb = importlib.import_module("kserve.protocol.grpc.grpc_predict_v2_pb2")
    pb_grpc = importlib.import_module("kserve.protocol.grpc.grpc_predict_v2_pb2_grpc")

    metrics_port = free_port()
    with (
        start_server(
            trained_model.out, trained_model.keys.public, "--metrics_port", str(metrics_port)
        ) as srv,
        grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)

        def features_request(shape: list[int], values: list[float]) -> Any:
            tensor = pb.ModelInferRequest.InferInputTensor(
                name="features",
                datatype="FP32",
                shape=shape,
                contents=pb.InferTensorContents(fp32_contents=values),
            )
            return pb.ModelInferRequest(model_name="churn", inputs=[tensor])

        request = features_request([1, 11], ROW)
        response = stub.ModelInfer(request, timeout=10)
        got = (
            np.frombuffer(response.raw_output_contents[0], dtype=np.float32)
            if response.raw_output_contents
            else np.asarray(response.outputs[0].contents.fp32_contents)
        )
        np.testing.assert_allclose(
            got.reshape(1, 2), _reference(trained_model.out, [ROW]), rtol=1e-6
        )
        bad = features_request([1, 3], ROW[:3])
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(bad, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "must be [rows, 11]" in info.value.details()
        # The error outcome is recorded after the status reached the client: poll briefly.
        want_ok = (
            'mlplatform_inference_requests_total{model="churn",protocol="grpc",status="ok"} 1.0'
        )
        want_err = want_ok.replace('status="ok"', 'status="error"')
        deadline = time.monotonic() + 5
        while True:
            _, metrics = _metrics(srv, metrics_port)
            if (want_ok in metrics and want_err in metrics) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        grpc_lines = [ln for ln in metrics.splitlines() if 'protocol="grpc"' in ln]
        assert want_ok in metrics, grpc_lines
        assert want_err in metrics, grpc_lines


def test_feature_enrichment_from_the_online_store(trained_model, start_server) -> None:  # type: ignore[no-untyped-def]
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(trained_model.repo))
    features = [f["name"] for f in trained_model.card["features"]]
    online = store.get_online_features(
        features=store.get_feature_service("churn_model"), entity_rows=[{"customer_id": 100001}]
    ).to_dict()
    row = [float(online[name][0]) for name in features]
    want = _reference(trained_model.out, [row])
    with start_server(
        trained_model.out, trained_model.keys.public, "--feature_repo", str(trained_model.repo)
    ) as srv:
        status, meta = srv.request("GET", "/v2/models/churn")
        assert {"name": "customer_id", "datatype": "INT64", "shape": [-1]} in meta["inputs"]
        status, body = srv.post_json(
            "/v2/models/churn/infer", _v2([100001], [1], datatype="INT64", name="customer_id")
        )
        assert status == 200, body
        np.testing.assert_allclose(np.reshape(body["outputs"][0]["data"], (1, 2)), want, rtol=1e-5)
        status, body = srv.post_json(
            "/v1/models/churn:predict", {"instances": [{"customer_id": 100001}]}
        )
        assert status == 200
        status, body = srv.post_json(
            "/v2/models/churn/infer", _v2([42], [1], datatype="INT64", name="customer_id")
        )
        assert status == 400
        assert "customer_id [42]: no online features" in body["error"]


def test_tampered_model_exits_with_one_line(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tampered = tmp_path / "tampered"
    shutil.copytree(trained_model.out, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-20] ^= 0xFF
    (tampered / "model.onnx").write_bytes(bytes(data))
    for model_dir in (tampered, tmp_path / "absent"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "workloads.serving",
                "--model_name",
                "churn",
                "--model_dir",
                str(model_dir),
                "--http_port",
                "1",
                "--public_key",
                str(trained_model.keys.public),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: refusing to serve: ")
    assert "model.onnx: digest does not match" in lines[0] or "absent" in lines[0]


def test_two_workers_share_the_port(trained_model, start_server) -> None:  # type: ignore[no-untyped-def]
    with start_server(
        trained_model.out, trained_model.keys.public, "--workers", "2", "--enable_grpc", "false"
    ) as srv:
        for _ in range(20):
            status, body = srv.post_json("/v2/models/churn/infer", _v2(ROW, [1, 11]))
            assert status == 200, body
