"""Prediction log: records in the agreed format, and drops (never blocks) when full."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY

from workloads.serving.predlog import PredictionLogger


def _dropped(model: str) -> float:
    value = REGISTRY.get_sample_value("mlplatform_prediction_log_dropped_total", {"model": model})
    return value or 0.0


def test_records_follow_the_contract(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, "m-format", "v7", ["a", "b"])
    logger.start()
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    y = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    assert logger.submit(x, y)
    logger.close()
    (path,) = tmp_path.glob("predictions-*.jsonl")
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(record) == {"ts", "model", "model_version", "features", "inputs", "outputs"}
    assert record["model"] == "m-format"
    assert record["model_version"] == "v7"
    assert record["features"] == ["a", "b"]
    assert record["inputs"] == [[1.0, 2.0], [3.0, 4.0]]
    np.testing.assert_allclose(record["outputs"], y)


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    logger = PredictionLogger(tmp_path, "m-full", "v1", ["a"], queue_size=3)
    # Writer not started: nothing drains the queue, as with a stuck disk.
    x = np.zeros((1, 1), dtype=np.float32)
    before = _dropped("m-full")
    start = time.perf_counter()
    accepted = [logger.submit(x, x) for _ in range(10)]
    elapsed = time.perf_counter() - start
    assert accepted == [True] * 3 + [False] * 7
    assert _dropped("m-full") - before == 7
    assert elapsed < 0.05


def test_closed_segments_are_shipped_and_the_spool_emptied(tmp_path: Path) -> None:
    from workloads.common.objectstore import FileStore
    from workloads.serving.shipping import SegmentShipper

    store = FileStore(tmp_path / "bucket")
    shipper = SegmentShipper(store, "m-ship")
    logger = PredictionLogger(
        tmp_path / "spool", "m-ship", "v1", ["a"], shipper=shipper, segment_seconds=0.01
    )
    logger.start()
    x = np.zeros((2, 1), dtype=np.float32)
    for _ in range(3):
        assert logger.submit(x, x)
        time.sleep(0.05)
    logger.close()
    keys = store.list("m-ship/")
    assert keys and all(key.startswith("m-ship/20") for key in keys)  # <model>/<UTC hour>/
    records = [json.loads(line) for key in keys for line in (store.get(key) or b"").splitlines()]
    assert len(records) == 3 and {r["model"] for r in records} == {"m-ship"}
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # nothing left in the spool
    assert shipper.uploaded == len(keys) and shipper.dropped_segments == 0
