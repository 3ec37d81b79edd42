"""``python -m workloads.erasure``: erase one customer of a tenant everywhere, with a receipt.

    python -m workloads.erasure --tenant T --entity_key K --repo DIR \\
        [--extra_parquet FILE]... [--prediction_logs_uri URI] \\
        [--drift_windows_uri URI] [--kms_key ARN] \\
        --audit_log FILE [--audit_key file:PATH|kms:ARN] --who NAME --reason TEXT

Removes the entity from the online store, the offline store (the feature views'
partitioned sources, seed history and ingested events alike; only the partitions that
hold it are rewritten), prediction logs and drift windows (see
:mod:`workloads.erasure.erase`), scans everything again to prove nothing is left, and
appends the receipt to the tenant's audit log: who asked, when, why, and per store what
was found and removed where (objects with their digests before and after). The
customer is named in the receipt by ``sha256("<tenant>:<key>")``, never by the key.
The receipt is printed as one JSON line.

Exit codes: 0 erased and verified (also when the entity was not found anywhere: the
receipt says so); 1 a store failed or the entity is still found after erasure; 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from contracts.feature_store import FEATURE_VIEWS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workloads.erasure", allow_abbrev=False)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--entity_key", "--entity-key", dest="entity_key", required=True)
    parser.add_argument("--repo", type=pathlib.Path, required=True, help="Feast repository")
    parser.add_argument("--extra_parquet", action="append", default=[], help="e.g. labels")
    parser.add_argument("--prediction_logs_uri", help="folder or s3:// prefix of the logs")
    parser.add_argument("--drift_windows_uri", help="folder or s3:// prefix of drift windows")
    parser.add_argument("--kms_key", help="tenant key for rewritten S3 objects")
    parser.add_argument("--audit_log", type=pathlib.Path, required=True)
    parser.add_argument("--audit_key", help="file:PATH or kms:ARN (default: <log>.key)")
    parser.add_argument("--who", required=True, help="who requested the erasure")
    parser.add_argument("--reason", required=True, help="why (e.g. the request reference)")
    return parser


def receipt(
    tenant: str, entity: int, who: str, reason: str, reports: list[Any], remaining: int
) -> dict[str, Any]:
    """The receipt written to the audit log."""
    from workloads.erasure.erase import subject_digest

    return {
        "request_id": uuid.uuid4().hex,
        "tenant": tenant,
        "subject_sha256": subject_digest(tenant, entity),
        "requested_by": who,
        "reason": reason,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "found": sum(r.found for r in reports),
        "removed": sum(r.removed for r in reports),
        "remaining_after": remaining,
        "stores": [r.as_dict() for r in reports],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Erase, verify, write the receipt; see the module docstring for exit codes."""
    args = _parser().parse_args(argv)
    try:
        entity = int(args.entity_key)
    except ValueError:
        print(
            f"error: --entity_key must be an integer id, got {args.entity_key!r}", file=sys.stderr
        )
        return 2
    if not (args.repo / "feature_store.yaml").is_file():
        print(f"error: --repo {args.repo}: no feature_store.yaml there", file=sys.stderr)
        return 2
    from workloads.alerts.audit import AuditLog, open_key
    from workloads.erasure.erase import ErasureError, Targets, erase_entity, find_entity

    targets = Targets(
        repo=args.repo,
        views=FEATURE_VIEWS,
        extra_parquet=tuple(args.extra_parquet),
        prediction_logs_uri=args.prediction_logs_uri,
        drift_windows_uri=args.drift_windows_uri,
        kms_key=args.kms_key,
    )
    try:
        key = open_key(args.audit_key) if args.audit_key else None
        log = AuditLog(args.audit_log, key)
        reports = erase_entity(targets, entity)
        remaining = sum(r.found for r in find_entity(targets, entity))
    except (ErasureError, OSError, RuntimeError, ValueError) as exc:
        print(f"error: erasure failed: {exc}", file=sys.stderr)
        return 1
    body = receipt(args.tenant, entity, args.who, args.reason, reports, remaining)
    record = log.append(
        who=args.who,
        what="erasure",
        why=args.reason,
        metrics={"found": body["found"], "removed": body["removed"], "remaining": remaining},
        receipt=body,
    )
    print(json.dumps({"audit_seq": record.get("seq"), **body}, sort_keys=True), flush=True)
    if remaining:
        print(f"error: {remaining} row(s) of the entity still found after erasure", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
