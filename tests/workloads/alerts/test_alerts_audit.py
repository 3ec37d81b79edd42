"""The audit log is a hash chain: any edit, deletion or reordering is detected."""

from __future__ import annotations

import itertools
import json
import pathlib

from workloads.alerts.audit import AuditLog, verify_audit_log


def _log(tmp_path: pathlib.Path, n: int = 4) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        log.append(
            who="alertmanager@127.0.0.1",
            what="rollback",
            why=f"reason {i}",
            metrics={"p99_ms": 10.0 + i, "bound": float("inf")},
        )
    return log


def test_records_chain_and_verify(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    records = log.records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev_sha256"] == "0" * 64
    assert all(b["prev_sha256"] == a["sha256"] for a, b in itertools.pairwise(records))
    assert records[0]["metrics"] == {"p99_ms": 10.0, "bound": "inf"}
    result = verify_audit_log(log.path)
    assert result.ok
    assert result.records == 4
    # A new process appending continues the same chain.
    AuditLog(log.path).append(who="x", what="promote", why="y")
    assert verify_audit_log(log.path).records == 5


def _rewrite(path: pathlib.Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_modified_record_is_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[1])
    record["what"] = "promote"
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    _rewrite(log.path, lines)
    result = verify_audit_log(log.path)
    assert not result.ok
    assert result.bad_line == 2
    assert "record was modified" in result.message


def test_deleted_and_reordered_records_are_detected(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    _rewrite(log.path, [lines[0], lines[2], lines[3]])
    deleted = verify_audit_log(log.path)
    assert (deleted.ok, deleted.bad_line) == (False, 2)
    assert "chain broken" in deleted.message
    _rewrite(log.path, [lines[1], lines[0], lines[2], lines[3]])
    assert verify_audit_log(log.path).bad_line == 1


def test_rehashed_edit_still_breaks_the_next_link(tmp_path: pathlib.Path) -> None:
    """Recomputing the edited record's own hash does not help: the next record points back."""
    from workloads.alerts.audit import _digest

    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[1])
    record["why"] = "nothing to see"
    record["sha256"] = _digest(record)
    lines[1] = json.dumps(record)
    _rewrite(log.path, lines)
    assert verify_audit_log(log.path).bad_line == 3
