"""Ingestion benchmark: events/s from the queue into both stores vs a direct Feast push.

On a local Feast repo (SQLite online store) and moto's SQS server on 127.0.0.1, for
``--events`` events (default 100,000) over ``--customers`` customers:

- ``queue``: the events are sent to a fresh SQS queue as batch messages of
  ``--per-message`` events (``SendMessageBatch`` of ten messages; producer time reported
  separately), then the ingestion worker drains it: validation, the
  partitioned parquet offline store, the online store, acknowledgement. Timed from the
  first receive to the last acknowledgement; the counts must balance (received =
  accepted + rejected) and every event must be in the offline store exactly once;
- ``direct``: the same rows pushed straight to the online store with
  ``FeatureStore.push`` to each view's push source (what the worker calls for its online
  write), one call per feature view: no queue, no validation, no offline copy, no
  idempotency, no newest-wins read.

The two run interleaved for ``--rounds`` rounds (``_harness.py``): median and spread of
events/s for each, and the per-round ratio queue/direct. ``python bench/ingestion.py
[--events N] [--rounds N] [--batch N]``; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _harness as harness


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-message", type=int, default=100, help="events per message")
    parser.add_argument("--batch", type=int, default=10, help="messages per worker batch")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines
    # moto accepts any credentials; never a real endpoint (loopback only).
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    import boto3
    import pandas as pd
    from feast import FeatureStore
    from feast.data_source import PushMode
    from moto.server import ThreadedMotoServer

    from contracts.feature_store import FEATURE_VIEWS
    from contracts.ingestion import push_source_name
    from workloads.common.objectstore import FileStore
    from workloads.features.datagen import GeneratorConfig
    from workloads.features.repo import create_local_repo, view_path
    from workloads.ingestion.events import valid_events
    from workloads.ingestion.offline import PartitionedOfflineStore, partition_keys, read_view
    from workloads.ingestion.queues import IngestSqsQueue
    from workloads.ingestion.schema import schemas_from_store, validate_event
    from workloads.ingestion.worker import Counts, FeastOnlineWriter, IngestionWorker

    result: dict[str, Any] = {
        "bench": "ingestion",
        "events": args.events,
        "customers": args.customers,
        "events_per_message": args.per_message,
        "messages_per_batch": args.batch,
    }
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, harness.recorded(result):
            host, port = server.get_host_and_port()
            sqs = boto3.client(
                "sqs", region_name="me-central-1", endpoint_url=f"http://{host}:{port}"
            )
            repo = create_local_repo(
                Path(tmp) / "repo",
                GeneratorConfig(n_customers=args.customers, n_snapshots=2, seed=5),
                materialize=False,
            )
            store = FeatureStore(repo_path=str(repo.path))
            schemas = schemas_from_store(store, FEATURE_VIEWS)
            ids = pd.read_parquet(view_path(repo.path, "customer_profile"))["customer_id"]
            events = valid_events(
                schemas, [int(i) for i in ids], args.events, start=datetime(2026, 3, 1, tzinfo=UTC)
            )
            now = datetime.now(UTC)
            typed = [validate_event(e, schemas, now=now) for e in events]
            by_view: dict[str, list[Any]] = {v: [] for v in FEATURE_VIEWS}
            for event in typed:
                by_view[event.view].append(event)  # type: ignore[union-attr]
            direct_rows = {v: len(rows) for v, rows in by_view.items()}
            # Direct push: every row, one frame per view, as a producer with Feast access
            # would write them.
            all_rows = {}
            for view, rows in by_view.items():
                spec = schemas[view]
                data: dict[str, Any] = {
                    spec.entity_key: [r.entity for r in rows],
                    spec.timestamp_field: pd.to_datetime([r.timestamp for r in rows], utc=True),
                    spec.created_field: pd.to_datetime([now] * len(rows), utc=True),
                }
                for field in spec.fields:
                    dtype = "int64" if field.kind == "int64" else "float32"
                    data[field.name] = pd.Series(
                        [r.features[field.name] for r in rows], dtype=dtype
                    )
                all_rows[view] = pd.DataFrame(data)
            rounds_done = {"queue": 0, "direct": 0}
            balance: list[dict[str, Any]] = []
            producer_s: list[float] = []

            def queue_round() -> float:
                rounds_done["queue"] += 1
                name = f"bench-{rounds_done['queue']}-{time.time_ns()}"
                url = sqs.create_queue(QueueName=name)["QueueUrl"]
                dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
                queue, dlq = IngestSqsQueue(sqs, url), IngestSqsQueue(sqs, dlq_url)
                started = time.perf_counter()
                step = args.per_message
                queue.send_many(
                    [{"events": events[i : i + step]} for i in range(0, len(events), step)]
                )
                producer_s.append(time.perf_counter() - started)
                offline = PartitionedOfflineStore(FileStore(Path(tmp) / f"offline-{name}"))
                worker = IngestionWorker(schemas, offline, FeastOnlineWriter(store), dlq)
                started = time.perf_counter()
                counts: Counts = worker.drain(queue, batch_size=args.batch, visibility_timeout=300)
                elapsed = time.perf_counter() - started
                stored = sum(len(read_view(offline.store, v)) for v in FEATURE_VIEWS)
                balance.append(
                    {
                        **counts.as_dict(),
                        "offline_rows": stored,
                        "offline_objects": len(partition_keys(offline.store)),
                        "left_in_queue": queue.depth(),
                    }
                )
                if not counts.balanced or stored != args.events or counts.received != args.events:
                    raise SystemExit(f"ingestion lost or duplicated events: {balance[-1]}")
                return args.events / elapsed

            def direct_round() -> float:
                rounds_done["direct"] += 1
                started = time.perf_counter()
                for view, frame in all_rows.items():
                    store.push(push_source_name(view), frame, to=PushMode.ONLINE)
                return args.events / (time.perf_counter() - started)

            rates = harness.interleaved(
                {"queue": queue_round, "direct": direct_round}, args.rounds, warmup=False
            )
            result["rows_per_view"] = direct_rows
            result["events_per_s"] = {k: harness.summary(v) for k, v in rates.items()}
            result["queue_vs_direct"] = harness.compare(
                rates["queue"], rates["direct"], higher_is_better=True
            )
            result["producer_events_per_s"] = harness.summary([args.events / s for s in producer_s])
            result["balance"] = balance
            result["balanced"] = all(b["balanced"] for b in balance)
    finally:
        server.stop()
    harness.emit(result)
    return 0 if result.get("balanced") else 1


if __name__ == "__main__":
    sys.exit(main())
