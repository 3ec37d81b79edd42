"""The lifecycle's traffic names its customers: attributed prediction logs, erasable.

A real model server on 127.0.0.1 logs what the lifecycle's client sends; every record
carries the customers of its rows, and the erasure command's scan finds and removes one
customer's rows there, leaving the other customers' rows as they were.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.feature_store import FEATURE_VIEWS
from workloads.erasure.erase import Targets, erase_entity, find_entity
from workloads.lifecycle.runtime import V2Client, customer_traffic, send


def _records(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def _rows_by_customer(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for record in records:
        for customer, row, output in zip(
            record["entity_ids"], record["inputs"], record["outputs"], strict=True
        ):
            out.setdefault(customer, []).append((row, output))
    return out


def test_traffic_rows_are_logged_with_their_customers_and_erasable(
    trained_model: Any,
    start_server: Callable[..., Any],
    feature_repo: Path,
    tmp_path: Path,
) -> None:
    logs = tmp_path / "predictions"
    features = [f["name"] for f in trained_model.card["features"]]
    drawn = customer_traffic(features, 40, seed=11, shift=0.0)
    assert len(drawn.entity_ids) == len(drawn.rows) == 40
    assert len(set(drawn.entity_ids.tolist())) == 40  # one row per customer
    with start_server(
        trained_model.out, trained_model.keys.public, "--prediction_log_dir", str(logs)
    ) as server:
        client = V2Client(int(server.base.rsplit(":", 1)[1]), "churn")
        try:
            with pytest.raises(ValueError, match="3 entity ids for 2 rows"):
                client.infer(drawn.rows[:2], [1, 2, 3])
            stats = send(client, drawn.rows, drawn.labels, 8, entity_ids=drawn.entity_ids)
        finally:
            client.close()
        assert (stats.requests, stats.errors, stats.labelled) == (5, 0, 40)
        deadline = time.monotonic() + 20
        while sum(len(r["inputs"]) for r in _records(logs)) < 40:
            assert time.monotonic() < deadline, "the server did not log 40 rows in time"
            time.sleep(0.2)
    records = _records(logs)
    assert len(records) == 5 and all(len(r["entity_ids"]) == len(r["inputs"]) for r in records)
    before = _rows_by_customer(records)
    assert sorted(before) == sorted(str(i) for i in drawn.entity_ids)
    sent = dict(zip(map(str, drawn.entity_ids), drawn.rows.tolist(), strict=True))
    for customer, [(row, _)] in before.items():
        np.testing.assert_allclose(row, sent[customer], rtol=1e-6)

    # The erasure command's scan: found in the prediction logs, nothing unattributed.
    repo = tmp_path / "repo"
    shutil.copytree(feature_repo, repo)
    victim = int(drawn.entity_ids[17])
    targets = Targets(repo=repo, views=FEATURE_VIEWS, prediction_logs_uri=str(logs))
    found = {r.store: r for r in find_entity(targets, victim)}["prediction-logs"]
    assert (found.found, found.unattributed_records) == (1, 0)
    erased = {r.store: r for r in erase_entity(targets, victim)}["prediction-logs"]
    assert (erased.found, erased.removed, erased.unattributed_records) == (1, 1, 0)
    after = _rows_by_customer(_records(logs))
    assert str(victim) not in after
    assert after == {k: v for k, v in before.items() if k != str(victim)}
    assert {r.store: r for r in find_entity(targets, victim)}["prediction-logs"].found == 0
