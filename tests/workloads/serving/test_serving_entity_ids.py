"""Row entity ids: validated on every protocol and written per row into the prediction log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workloads.serving._kserve import InferRequest, InvalidInput
from workloads.serving.model import MAX_ENTITY_ID_CHARS, OnnxModel, ServingOptions
from workloads.serving.predlog import PredictionLogger

ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]


class Capture:
    """Stands in for the prediction logger: keeps what the model submits."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray, list[str] | None]] = []

    def submit(
        self, inputs: np.ndarray, outputs: np.ndarray, entity_ids: list[str] | None = None
    ) -> bool:
        self.calls.append((inputs, outputs, entity_ids))
        return True


@pytest.fixture(scope="module")
def captured(trained_model) -> tuple[OnnxModel, Capture]:
    capture = Capture()
    model = OnnxModel(
        "churn",
        trained_model.out,
        ServingOptions(
            public_key=trained_model.keys.public,
            max_batch_rows=8,
            prediction_logger=capture,
            warmup=False,
        ),
    )
    assert model.load() is True
    return model, capture


def _grpc_request(rows: int, parameters: dict[str, str]) -> InferRequest:
    from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest

    message = ModelInferRequest(model_name="churn")
    tensor = message.inputs.add(name="features", datatype="FP32", shape=[rows, len(ROW)])
    tensor.contents.fp32_contents.extend(ROW * rows)
    for key, value in parameters.items():
        message.parameters[key].string_param = value
    return InferRequest.from_grpc(message)


def test_every_protocol_records_the_ids_per_row(captured: tuple[OnnxModel, Capture]) -> None:
    model, capture = captured
    capture.calls.clear()
    assert model.entity_ids_v2({"parameters": {"entity_ids": ["a", "b"]}}, np.zeros((2, 11))) == [
        "a",
        "b",
    ]
    model.predict({"instances": [ROW, ROW], "entity_ids": ["c-1", "c-2"]})
    model.predict(_grpc_request(2, {"entity_ids": json.dumps(["g-1", "g-2"])}))
    model.predict({"instances": [ROW]})  # no ids: logged as before, unattributed
    model.predict(_grpc_request(1, {"other": "x"}))
    assert [ids for _, _, ids in capture.calls] == [["c-1", "c-2"], ["g-1", "g-2"], None, None]
    assert [inputs.shape[0] for inputs, _, _ in capture.calls] == [2, 2, 1, 1]
    # An entity-id lookup names its rows itself.
    assert model.entity_ids(None, [100001, 100002], "x") == ["100001", "100002"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["only-one"], "1 ids for 2 rows"),
        (["a", "b", "c"], "3 ids for 2 rows"),
        ([1, 2], "non-empty strings"),
        (["a", ""], "non-empty strings"),
        (["a", "x" * (MAX_ENTITY_ID_CHARS + 1)], "non-empty strings"),
        ({"a": 1}, "must be a list of strings"),
        ("not json", "JSON array"),
        ('["a"]', "1 ids for 2 rows"),
    ],
)
def test_malformed_ids_are_invalid_input(
    captured: tuple[OnnxModel, Capture], value: Any, message: str
) -> None:
    model, capture = captured
    capture.calls.clear()
    with pytest.raises(InvalidInput, match="entity_ids") as info:
        model.entity_ids_v2({"parameters": {"entity_ids": value}}, np.zeros((2, 11)))
    assert message in str(info.value)
    with pytest.raises(InvalidInput, match=message):
        model.predict({"instances": [ROW, ROW], "entity_ids": value})
    if isinstance(value, str):
        with pytest.raises(InvalidInput, match=message):
            model.predict(_grpc_request(2, {"entity_ids": value}))
    with pytest.raises(InvalidInput, match="parameters: must be a JSON object"):
        model.entity_ids_v2({"parameters": ["entity_ids"]}, np.zeros((2, 11)))
    assert capture.calls == []  # nothing rejected reaches the log


def test_the_log_record_carries_the_ids_only_when_given(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, "m-ids", "v1", ["a"])
    logger.start()
    x = np.zeros((2, 1), dtype=np.float32)
    assert logger.submit(x, x, ["c-1", "c-2"])
    assert logger.submit(x, x)
    logger.close()
    (path,) = tmp_path.glob("predictions-*.jsonl")
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["entity_ids"] == ["c-1", "c-2"] and len(first["inputs"]) == 2
    assert "entity_ids" not in second
