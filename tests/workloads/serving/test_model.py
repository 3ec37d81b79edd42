"""The KServe model object directly: load(), predict(), validation, tampering, pickling."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from workloads.serving._kserve import InferRequest, InvalidInput
from workloads.serving.model import ModelLoadError, OnnxModel, ServingOptions

ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]


@pytest.fixture(scope="module")
def model(trained_model) -> OnnxModel:  # type: ignore[no-untyped-def]
    m = OnnxModel(
        "churn",
        trained_model.out,
        ServingOptions(public_key=trained_model.keys.public, max_batch_rows=8),
    )
    assert m.load() is True
    return m


def _reference(trained_model, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    session = ort.InferenceSession(
        str(trained_model.out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"features": x})[0]


def test_v1_and_v2_predict_match_plain_onnxruntime(model: OnnxModel, trained_model) -> None:  # type: ignore[no-untyped-def]
    want = _reference(trained_model, np.array([ROW, ROW], dtype=np.float32))
    got_v1 = model.predict({"instances": [ROW, ROW]})
    np.testing.assert_allclose(got_v1["predictions"], want, rtol=1e-6)
    named = dict(zip(model.features, ROW, strict=True))
    np.testing.assert_allclose(
        model.predict({"instances": [named]})["predictions"], want[:1], rtol=1e-6
    )
    request = InferRequest.from_inference_request(
        __import__(
            "kserve.protocol.rest.v2_datamodels", fromlist=["InferenceRequest"]
        ).InferenceRequest(
            inputs=[{"name": "features", "datatype": "FP32", "shape": [2, 11], "data": ROW + ROW}]
        ),
        "churn",
    )
    response = model.predict(request)
    assert response.model_version == model.version
    np.testing.assert_allclose(response.outputs[0].as_numpy(), want, rtol=1e-6)


def test_metadata_lists_inputs_and_outputs(model: OnnxModel) -> None:
    assert model.get_input_types() == [{"name": "features", "datatype": "FP32", "shape": [-1, 11]}]
    assert model.get_output_types() == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [{"name": "features", "datatype": "FP32", "shape": [1, 10], "data": ROW[:10]}],
            "shape: must be [rows, 11], got [1, 10]",
        ),
        (
            [{"name": "features", "datatype": "INT64", "shape": [1, 11], "data": ROW}],
            "datatype: must be FP32 for features, got 'INT64'",
        ),
        (
            [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, 11],
                    "data": [*ROW[:10], "NaN"],
                }
            ],
            "values must be numbers",
        ),
        (
            [{"name": "features", "datatype": "FP32", "shape": [1, 11], "data": [*ROW[:10], 1e39]}],
            "NaN, infinity or values beyond float32 range",
        ),
        (
            [{"name": "features", "datatype": "FP32", "shape": [1, 11], "data": [*ROW[:10], True]}],
            "values must be numbers",
        ),
        (
            [{"name": "features", "datatype": "FP32", "shape": [9, 11], "data": ROW * 9}],
            "9 rows exceed the limit of 8 (--max_batch_rows)",
        ),
        (
            [{"name": "features", "datatype": "FP32", "shape": [2, 11], "data": ROW}],
            "11 values do not fill shape [2, 11]",
        ),
        (
            [{"name": "customer_id", "datatype": "INT64", "shape": [1], "data": [1]}],
            "name: must be one of ['features'], got 'customer_id'",
        ),
        (
            [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, 11],
                    "data": [35, 24, 7, 1, 5200.0, -3.5, 22, 9, 1, 0, 2],
                }
            ],
            "feature segment_code (column 2) row 0 is 7; allowed codes [0, 1, 2, 3]",
        ),
        ([], "inputs: must be a list with exactly one tensor object"),
        (
            [{"name": "features", "datatype": "FP32", "shape": [1, -11], "data": ROW}],
            "shape: must be a list of non-negative integers",
        ),
    ],
)
def test_bad_v2_inputs_are_invalid_input(
    model: OnnxModel, inputs: list[object], message: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        model.matrix_from_v2(inputs)
    assert message in str(info.value)


def test_bad_v1_bodies(model: OnnxModel) -> None:
    with pytest.raises(InvalidInput, match="rows must all have the same length"):
        model.predict({"instances": [ROW, ROW[:5]]})
    with pytest.raises(InvalidInput, match=r"must be \{\"instances\""):
        model.predict({"inputs": [ROW]})
    with pytest.raises(InvalidInput, match="missing \\['products_held'\\]"):
        model.predict({"instances": [dict(zip(model.features[:-1], ROW, strict=False))]})


def test_tampered_or_unsigned_models_are_refused(trained_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tampered = tmp_path / "tampered"
    shutil.copytree(trained_model.out, tampered)
    card = (tampered / "model_card.json").read_text().replace('"roc_auc": 0.', '"roc_auc": 1.')
    (tampered / "model_card.json").write_text(card)
    m = OnnxModel("churn", tampered, ServingOptions(public_key=trained_model.keys.public))
    with pytest.raises(ModelLoadError, match=r"model_card\.json: digest does not match"):
        m.load()
    assert not m.ready
    with pytest.raises(ModelLoadError, match="model directory not found"):
        OnnxModel(
            "churn", tmp_path / "nope", ServingOptions(public_key=trained_model.keys.public)
        ).load()
    with pytest.raises(ModelLoadError, match="public key file not found"):
        OnnxModel("churn", trained_model.out, ServingOptions(public_key=tmp_path / "x.pem")).load()


def test_pickle_round_trip_reloads_the_session(model: OnnxModel) -> None:
    clone = pickle.loads(pickle.dumps(model))  # noqa: S301 - our own object
    assert clone.ready
    assert clone is not model
    np.testing.assert_allclose(
        clone.predict({"instances": [ROW]})["predictions"],
        model.predict({"instances": [ROW]})["predictions"],
    )


def test_tuned_session_options(model: OnnxModel) -> None:
    options = model._session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert model.providers[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert model.providers[0] == "CUDAExecutionProvider"
