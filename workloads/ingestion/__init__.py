"""Ingestion of tenant feature events: queue (or landing files) -> validation -> both stores.

Tenant systems send one JSON object per event, or a batch ``{"events": [...]}`` of up
to 1,000, through the tenant's queue (SQS in the platform, the NATS JetStream broker
on-prem, a file queue locally) or drop JSON Lines files under the tenant's landing
prefix. The worker (:mod:`workloads.ingestion.worker`) validates every event against
its feature view's schema (:mod:`workloads.ingestion.schema`), writes accepted events to
the partitioned offline store (:mod:`workloads.ingestion.offline`) and pushes them to
the Feast online store, idempotently by event id; a rejected event goes to the
dead-letter queue with the reason. ``received == accepted + rejected`` always holds.
"""
