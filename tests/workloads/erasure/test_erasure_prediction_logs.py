"""End to end: a served model logs entity ids per row, the log is shipped to the tenant
bucket (moto) and copied into a drift window; erasing one customer removes exactly that
customer's rows from both, and every other record keeps its rows (and, where untouched,
its bytes)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

REGION = "me-central-1"
BUCKET = "mlp-dev-acme-erasure-123456789012"  # moto state is per process: own names
PREFIX = "predictions/"
ROW = [35, 24, 0, 1, 5200.0, -3.5, 22, 9, 1, 0, 2]
VICTIM = 100004


@pytest.fixture(scope="module")
def aws(object_store: str) -> dict[str, Any]:
    """The session's moto server (127.0.0.1) holding the tenant's bucket and key."""
    import boto3

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": object_store,
    }
    kw = {"region_name": REGION, "endpoint_url": env["AWS_ENDPOINT_URL"],
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
    s3 = boto3.client("s3", **kw)
    key = boto3.client("kms", **kw).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return {"env": env, "s3": s3, "key": key}


def _v2(rows: int, ids: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {"name": "features", "datatype": "FP32", "shape": [rows, 11], "data": ROW * rows}
        ]
    }
    if ids is not None:
        body["parameters"] = {"entity_ids": ids}
    return body


def _bucket(aws: dict[str, Any]) -> dict[str, bytes]:
    s3 = aws["s3"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def _folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.jsonl"))}


def _without_victim(line: bytes) -> bytes | dict[str, Any] | None:
    """What a logged line must become: the same bytes, the record less the victim's rows,
    or None (every row was the victim's)."""
    record = json.loads(line)
    ids = record.get("entity_ids")
    if not ids or str(VICTIM) not in ids:
        return line
    keep = [i for i, value in enumerate(ids) if value != str(VICTIM)]
    if not keep:
        return None
    for name in ("entity_ids", "inputs", "outputs"):
        record[name] = [record[name][i] for i in keep]
    return record


def _assert_exactly_the_victim_removed(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    for name, data in before.items():
        expected = [e for e in map(_without_victim, data.splitlines()) if e is not None]
        if not expected:
            assert name not in after, name
            continue
        lines = after[name].splitlines()
        assert len(lines) == len(expected), name
        for got, want in zip(lines, expected, strict=True):
            if isinstance(want, bytes):
                assert got == want  # untouched records keep their exact bytes
            else:
                assert json.loads(got) == want  # other rows of a touched record, unchanged
        if all(isinstance(e, bytes) for e in expected):
            assert after[name] == data, name  # objects without the victim: not rewritten
    assert set(after) <= set(before)
    for data in after.values():
        assert f'"{VICTIM}"'.encode() not in data
        for line in data.splitlines():
            assert str(VICTIM) not in json.loads(line).get("entity_ids", [])


def test_served_predictions_of_one_customer_are_erased_and_nothing_else(
    trained_model,
    start_server,
    aws: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from workloads.common.objectstore import open_store
    from workloads.erasure.__main__ import main
    from workloads.monitoring.remote import fetch_window
    from workloads.monitoring.window import read_window

    for name, value in aws["env"].items():
        monkeypatch.setenv(name, value)
    spool = tmp_path / "spool"
    start = time.time()
    with start_server(
        trained_model.out,
        trained_model.keys.public,
        "--prediction_log_dir", str(spool),
        "--prediction_log_uri", f"s3://{BUCKET}/{PREFIX}",
        "--prediction_log_kms_key", aws["key"],
        "--prediction_log_segment_seconds", "1",
    ) as srv:  # fmt: skip
        for path, body in [
            ("/v2/models/churn/infer", _v2(3, ["100001", str(VICTIM), "100002"])),
            ("/v2/models/churn/infer", _v2(1, [str(VICTIM)])),
            ("/v1/models/churn:predict", {"instances": [ROW, ROW], "entity_ids": ["100003", "100001"]}),
            ("/v1/models/churn:predict", {"instances": [ROW]}),  # no ids: unattributed
        ]:  # fmt: skip
            status, answer = srv.post_json(path, body)
            assert status == 200, answer
        # Malformed ids are 400 with one line, and the server stays up.
        for path, body in [
            ("/v2/models/churn/infer", _v2(2, ["100001"])),
            ("/v2/models/churn/infer", {**_v2(1, None), "parameters": {"entity_ids": [100001]}}),
            ("/v2/models/churn/infer", {**_v2(1, None), "parameters": "entity_ids"}),
            ("/v1/models/churn:predict", {"instances": [ROW], "entity_ids": ["x" * 129]}),
        ]:
            status, answer = srv.post_json(path, body)
            assert status == 400 and "\n" not in answer["error"], answer
        time.sleep(1.5)  # the next records land in another segment
        for ids in (["100002", "100003"], ["100001"]):
            status, answer = srv.post_json("/v2/models/churn/infer", _v2(len(ids), ids))
            assert status == 200, answer
    end = time.time() + 1
    assert not list(spool.glob("*.jsonl"))  # everything shipped on shutdown
    shipped = _bucket(aws)
    assert len(shipped) >= 2
    records = [json.loads(line) for data in shipped.values() for line in data.splitlines()]
    assert [r.get("entity_ids") for r in records] == [
        ["100001", str(VICTIM), "100002"],
        [str(VICTIM)],
        ["100003", "100001"],
        None,
        ["100002", "100003"],
        ["100001"],
    ]
    assert all(
        len(r["inputs"]) == len(r["outputs"]) == len(r.get("entity_ids") or [0]) for r in records
    )

    # The drift monitor's window, downloaded from the bucket.
    holding = sum(f'"{VICTIM}"'.encode() in data for data in shipped.values())
    windows = tmp_path / "windows"
    store = open_store(f"s3://{BUCKET}/{PREFIX}", aws["key"])
    assert fetch_window(store, "churn", start, end, windows).segments == len(shipped)
    assert read_window(windows, model="churn").n_rows == 10
    window_before = _folder(windows)

    repo = tmp_path / "repo"
    shutil.copytree(trained_model.repo, repo)
    code = main(
        [
            "--tenant", "acme", "--entity_key", str(VICTIM), "--repo", str(repo),
            "--prediction_logs_uri", f"s3://{BUCKET}/{PREFIX}", "--drift_windows_uri", str(windows),
            "--kms_key", aws["key"], "--audit_log", str(tmp_path / "audit" / "erasure.jsonl"),
            "--who", "dpo@acme.example", "--reason", "PDPL request 7",
        ]
    )  # fmt: skip
    receipt = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, receipt
    assert receipt["remaining_after"] == 0
    stores = {s["store"]: s for s in receipt["stores"]}
    for label in ("prediction-logs", "drift-windows"):
        assert stores[label]["found"] == stores[label]["removed"] == 2, stores[label]
        assert stores[label]["unattributed_records"] == 1
        # Only the segments holding the victim were rewritten.
        assert len(stores[label]["objects"]) == holding, stores[label]["objects"]

    _assert_exactly_the_victim_removed(shipped, _bucket(aws))
    _assert_exactly_the_victim_removed(window_before, _folder(windows))
    assert read_window(windows, model="churn").n_rows == 8
    for key in _bucket(aws):  # a rewritten segment stays encrypted with the tenant key
        head = aws["s3"].head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws["key"]
