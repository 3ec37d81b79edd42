"""``python -m workloads.ingestion``: the tenant's ingestion worker.

    python -m workloads.ingestion --repo DIR --queue sqs:URL --dlq sqs:URL \\
        --offline_uri s3://BUCKET/offline/ingested --kms_key ARN \\
        [--landing_uri s3://BUCKET/landing --landing_done_uri s3://BUCKET/landing-done] \\
        [--once] [--batch_size 100] [--wait_seconds 20] [--metrics_port 9096]

``--repo`` is a Feast repository (its ``feature_store.yaml``: the registry the schemas
come from, and the online store). Queues are ``sqs:<url>``, ``nats:<spec>`` (the on-prem
broker: ``?consumer=NAME`` for the queue, ``?max_age_days=N`` for the dead-letter
stream) or ``file:<dir>`` (local). A message that fails ``--max_deliveries`` times is
dead-lettered with its last error.
Without ``--once`` it long-polls forever, exposing counters on ``/metrics`` (the pod's
probes); with ``--once`` it drains the queue and the landing prefix, prints the counts
as one JSON line and exits.

Exit codes: 0 done (``--once``: counts balance); 1 a store or queue failed; 2 bad
arguments or an unusable repository.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from contracts.feature_store import FEATURE_VIEWS
from contracts.ingestion import (
    DUPLICATES_COUNTER,
    EVENTS_COUNTER,
    INGESTION_METRICS_PORT,
    MAX_DELIVERIES,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workloads.ingestion", allow_abbrev=False)
    parser.add_argument("--repo", type=pathlib.Path, required=True, help="Feast repository")
    parser.add_argument("--queue", required=True, help="sqs:<url>, nats:<spec> or file:<dir>")
    parser.add_argument(
        "--dlq", required=True, help="dead letters: sqs:<url>, nats:<stream spec> or file:<dir>"
    )
    parser.add_argument("--offline_uri", required=True, help="s3://bucket/prefix or a folder")
    parser.add_argument("--kms_key", default=None, help="tenant KMS key for S3 writes")
    parser.add_argument("--landing_uri", default=None, help="where tenants drop .jsonl files")
    parser.add_argument("--landing_done_uri", default=None, help="receipts of landing files")
    parser.add_argument("--once", action="store_true", help="drain once and exit")
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--wait_seconds", type=int, default=20, help="SQS long-poll seconds")
    parser.add_argument("--visibility_timeout", type=float, default=120.0)
    parser.add_argument(
        "--max_deliveries",
        type=int,
        default=MAX_DELIVERIES,
        help="deliveries of a failing message before it is dead-lettered",
    )
    parser.add_argument("--metrics_host", default="127.0.0.1")
    parser.add_argument("--metrics_port", type=int, default=INGESTION_METRICS_PORT)
    parser.add_argument("--landing_every", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--online_ttl_days",
        type=int,
        default=None,
        help="retention of online rows (DynamoDB: expires_at in each put, required there; "
        "Redis: the key TTL)",
    )
    return parser


def _check_nats_roles(queue: str, dlq: str) -> None:
    """A broker ``--queue`` is a work queue (names its consumer); a broker ``--dlq`` is a
    dead-letter stream (no consumer, a maximum age). Swapped, the worker would read
    nothing or file letters where nobody keeps them: a usage error instead."""
    from contracts.messaging import nats_spec_has_consumer

    if queue.startswith("nats:") and not nats_spec_has_consumer(queue.removeprefix("nats:")):
        raise ValueError(f"--queue {queue}: a broker queue needs '?consumer=NAME'")
    if dlq.startswith("nats:") and nats_spec_has_consumer(dlq.removeprefix("nats:")):
        raise ValueError(
            f"--dlq {dlq}: dead letters are a stream without a consumer "
            "('nats:<url>/STREAM/subject?max_age_days=N')"
        )


def build_worker(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """(worker, queue, landing store, landing-done store) from parsed arguments."""
    from feast import FeatureStore

    from workloads.common.objectstore import open_store
    from workloads.features.online_store import writer_config
    from workloads.ingestion.offline import PartitionedOfflineStore
    from workloads.ingestion.queues import open_ingest_queue
    from workloads.ingestion.schema import schemas_from_store
    from workloads.ingestion.worker import FeastOnlineWriter, IngestionWorker

    if not (args.repo / "feature_store.yaml").is_file():
        raise ValueError(f"--repo {args.repo}: no feature_store.yaml there")
    _check_nats_roles(args.queue, args.dlq)
    ttl = args.online_ttl_days * 86400 if args.online_ttl_days else None
    # The online store expires what the worker writes (DynamoDB: expires_at in the put).
    store = FeatureStore(repo_path=str(args.repo), config=writer_config(args.repo, ttl))
    schemas = schemas_from_store(store, FEATURE_VIEWS)
    queue = open_ingest_queue(args.queue, wait_seconds=0 if args.once else args.wait_seconds)
    dlq = open_ingest_queue(args.dlq)
    offline = PartitionedOfflineStore(open_store(args.offline_uri, args.kms_key))
    worker = IngestionWorker(
        schemas, offline, FeastOnlineWriter(store), dlq, max_deliveries=args.max_deliveries
    )
    landing = open_store(args.landing_uri, args.kms_key) if args.landing_uri else None
    done_uri = args.landing_done_uri or (args.landing_uri and args.landing_uri + "-done")
    done = open_store(done_uri, args.kms_key) if done_uri else None
    return worker, queue, landing, done


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker; see the module docstring for exit codes."""
    args = _parser().parse_args(argv)
    if (
        args.batch_size < 1
        or args.wait_seconds < 0
        or args.wait_seconds > 20
        or args.max_deliveries < 1
    ):
        print(
            "error: --batch_size and --max_deliveries must be >= 1, --wait_seconds 0..20",
            file=sys.stderr,
        )
        return 2
    try:
        worker, queue, landing, done = build_worker(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.once:
            total = worker.drain(
                queue, batch_size=args.batch_size, visibility_timeout=args.visibility_timeout
            )
            if landing is not None and done is not None:
                total.add(worker.ingest_landing(landing, done))
            print(json.dumps(total.as_dict(), sort_keys=True), flush=True)
            return 0 if total.balanced else 1
        _serve_forever(args, worker, queue, landing, done)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # one line for the pod log; the batch stays in the queue
        print(f"error: ingestion failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _serve_forever(
    args: argparse.Namespace, worker: Any, queue: Any, landing: Any, done: Any
) -> None:
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    registry = CollectorRegistry()
    events = Counter(
        EVENTS_COUNTER.removesuffix("_total"),
        "Feature events handled",
        ["result"],
        registry=registry,
    )
    duplicates = Counter(
        DUPLICATES_COUNTER.removesuffix("_total"), "Redelivered events", registry=registry
    )

    def on_batch(counts: Any) -> None:
        events.labels(result="accepted").inc(counts.accepted)
        events.labels(result="rejected").inc(counts.rejected)
        duplicates.inc(counts.duplicates)

    worker.on_batch = on_batch
    start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
    next_landing = 0.0
    while True:
        worker.poll(queue, args.batch_size, args.visibility_timeout)
        if landing is not None and done is not None and time.monotonic() >= next_landing:
            worker.ingest_landing(landing, done)
            next_landing = time.monotonic() + args.landing_every


if __name__ == "__main__":
    sys.exit(main())
