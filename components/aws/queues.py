"""Integration queues per tenant: retraining triggers and prediction-log events on SQS.

Each queue is encrypted with the tenant's customer-managed key, has a dead-letter queue
(itself encrypted, accepting redrives only from its source), and a queue policy that
denies any request not made over TLS. The automation's workload identity receives an
IAM policy naming exactly this tenant's queue ARNs (no wildcard) and the tenant key,
usable only through SQS in this region.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.tags import data_tags
from contracts.names import DEFAULT_REGION

QUEUE_PURPOSES = ("retraining", "prediction-log")
"""The two queues every tenant gets (keys of :attr:`TenantQueues.queue_urls`)."""

AUTOMATION_QUEUE_ACTIONS = [
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
]
"""What the automation does with its queues: produce, consume, inspect. No admin."""


def redrive_policy(dlq_arn: str, max_receive_count: int) -> str:
    """Source queue's redrive policy: move a message to the DLQ after N failed receives."""
    if not 1 <= max_receive_count <= 1000:
        raise ValueError(f"max_receive_count must be 1..1000, got {max_receive_count}")
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})


def redrive_allow_policy(source_arn: str) -> str:
    """DLQ's redrive-allow policy: only its own source queue may send dead letters."""
    return json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [source_arn]})


def tls_only_queue_policy(queue_arn: str) -> dict[str, Any]:
    """Deny every SQS action on the queue when the request is not over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def automation_policy(queue_arns: Sequence[str], kms_key_arn: str, region: str) -> dict[str, Any]:
    """The automation role's permissions: these queues and this key via SQS, nothing else."""
    arns = sorted(set(queue_arns))
    if not arns:
        raise ValueError("automation policy needs at least one queue ARN")
    for arn in [*arns, kms_key_arn]:
        if "*" in arn or not arn.startswith("arn:"):
            raise ValueError(f"automation policy: {arn!r} is not a concrete ARN")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantQueues",
                "Effect": "Allow",
                "Action": list(AUTOMATION_QUEUE_ACTIONS),
                "Resource": arns,
            },
            {
                # SSE-KMS queues: producers need GenerateDataKey, consumers Decrypt.
                "Sid": "TenantKeyThroughSqs",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": [kms_key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
        ],
    }


class TenantQueuesArgs(TypedDict):
    """Inputs of :class:`TenantQueues`."""

    tenant: str
    """Tenant name (queue name prefix)."""
    kms_key_arn: pulumi.Input[str]
    """Tenant CMK."""
    automation_role_name: NotRequired[pulumi.Input[str] | None]
    """IAM role of the tenant's automation (IRSA); gets the queue policy attached."""
    region: NotRequired[str]
    """Region (for the ``kms:ViaService`` condition; default ``me-central-1``)."""
    max_receive_count: NotRequired[int]
    """Failed receives before a message goes to the DLQ (default 5)."""
    message_retention_seconds: NotRequired[int]
    """Source queue retention (default 4 days)."""
    dead_letter_retention_seconds: NotRequired[int]
    """DLQ retention (default 14 days, the SQS maximum)."""
    tags: NotRequired[Mapping[str, str]]
    """Extra tags."""
    data_classification: NotRequired[str]
    """Data classification tag (``public|internal|confidential|restricted``; default ``confidential``)."""


class TenantQueues(pulumi.ComponentResource):
    """KMS-encrypted SQS queues with DLQs, TLS-only policies and a scoped automation policy."""

    queue_urls: pulumi.Output[dict[str, str]]
    """Purpose -> queue URL."""
    queue_arns: pulumi.Output[dict[str, str]]
    """Purpose -> queue ARN (source queues)."""
    dlq_arns: pulumi.Output[dict[str, str]]
    """Purpose -> dead-letter queue ARN."""
    automation_policy_arn: pulumi.Output[str]
    """Managed policy granting the automation access to these queues only."""

    def __init__(
        self, name: str, args: TenantQueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:queues:TenantQueues", name, None, opts)
        tenant = args["tenant"]
        region = args.get("region", DEFAULT_REGION)
        key = args["kms_key_arn"]
        max_receive = args.get("max_receive_count", 5)
        tags = data_tags(tenant, args.get("data_classification", "confidential"), args.get("tags"))
        child = pulumi.ResourceOptions(parent=self)

        urls: dict[str, pulumi.Output[str]] = {}
        arns: dict[str, pulumi.Output[str]] = {}
        dlqs: dict[str, pulumi.Output[str]] = {}
        all_arns: list[pulumi.Output[str]] = []
        for purpose in QUEUE_PURPOSES:
            qname = f"{tenant}-{purpose}"
            queue, dlq = _queue_with_dead_letters(
                f"{name}-{purpose}",
                ("", "-dlq"),
                queue_name=qname,
                dlq_name=f"{qname}-dlq",
                key=key,
                retention_seconds=args.get("message_retention_seconds", 4 * 24 * 3600),
                dlq_retention_seconds=args.get("dead_letter_retention_seconds", 14 * 24 * 3600),
                max_receive=max_receive,
                tags=tags,
                opts=child,
            )
            urls[purpose] = queue.url
            arns[purpose] = queue.arn
            dlqs[purpose] = dlq.arn
            all_arns += [queue.arn, dlq.arn]

        policy = aws.iam.Policy(
            f"{name}-automation",
            name=f"{tenant}-automation-queues",
            description=f"{tenant} automation: its own SQS queues and key, nothing else",
            policy=pulumi.Output.all(pulumi.Output.from_input(key), *all_arns).apply(
                lambda v: json.dumps(automation_policy(v[1:], v[0], region), sort_keys=True)
            ),
            tags=tags,
            opts=child,
        )
        role_name = args.get("automation_role_name")
        if role_name is not None:
            aws.iam.RolePolicyAttachment(
                f"{name}-automation-attach", role=role_name, policy_arn=policy.arn, opts=child
            )

        self.queue_urls = pulumi.Output.all(**urls).apply(dict)
        self.queue_arns = pulumi.Output.all(**arns).apply(dict)
        self.dlq_arns = pulumi.Output.all(**dlqs).apply(dict)
        self.automation_policy_arn = policy.arn
        self.register_outputs(
            {
                "queueUrls": self.queue_urls,
                "queueArns": self.queue_arns,
                "dlqArns": self.dlq_arns,
                "automationPolicyArn": self.automation_policy_arn,
            }
        )


INGESTION_WORKER_ACTIONS = {
    "source": [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ],
    "dlq": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
}
"""The ingestion worker consumes its queue and only sends to its dead-letter queue."""


def ingestion_worker_policy(
    queue_arn: str, dlq_arn: str, kms_key_arn: str, region: str
) -> dict[str, Any]:
    """The worker's grant: consume the ingestion queue, dead-letter, the key via SQS."""
    for arn in (queue_arn, dlq_arn, kms_key_arn):
        if "*" in arn or not arn.startswith("arn:"):
            raise ValueError(f"ingestion worker policy: {arn!r} is not a concrete ARN")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsumeIngestionQueue",
                "Effect": "Allow",
                "Action": list(INGESTION_WORKER_ACTIONS["source"]),
                "Resource": [queue_arn],
            },
            {
                "Sid": "DeadLetterRejectedEvents",
                "Effect": "Allow",
                "Action": list(INGESTION_WORKER_ACTIONS["dlq"]),
                "Resource": [dlq_arn],
            },
            {
                "Sid": "TenantKeyThroughSqs",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": [kms_key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
        ],
    }


def queue_depth_policy(queue_arns: Sequence[str]) -> dict[str, Any]:
    """The autoscaler's grant: read the depth of these queues, nothing else (no messages)."""
    arns = sorted(set(queue_arns))
    if not arns or any("*" in a or not a.startswith("arn:") for a in arns):
        raise ValueError(f"queue depth policy needs concrete queue ARNs, got {arns}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadQueueDepth",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueAttributes"],
                "Resource": arns,
            }
        ],
    }


class IngestionQueuesArgs(TypedDict):
    """Inputs of :class:`IngestionQueues`."""

    tenant: str
    """Tenant name (queue names from :mod:`contracts.ingestion`)."""
    kms_key_arn: pulumi.Input[str]
    """Tenant CMK (both queues)."""
    worker_role_name: NotRequired[pulumi.Input[str] | None]
    """IAM role of the ingestion worker (IRSA); gets :func:`ingestion_worker_policy`."""
    scaler_role_name: NotRequired[pulumi.Input[str] | None]
    """IAM role of the KEDA operator (IRSA); gets :func:`queue_depth_policy` on the queue."""
    region: NotRequired[str]
    max_receive_count: NotRequired[int]
    """Failed receives (a store down) before SQS dead-letters a message (default 5)."""
    message_retention_seconds: NotRequired[int]
    """Ingestion queue retention (the tenant's ``retention.queue_messages_days``)."""
    dead_letter_retention_seconds: NotRequired[int]
    """DLQ retention (the tenant's ``retention.dead_letter_days``)."""
    tags: NotRequired[Mapping[str, str]]
    data_classification: NotRequired[str]


class IngestionQueues(pulumi.ComponentResource):
    """A tenant's feature-event queue and its dead-letter queue (KMS, redrive, TLS only)."""

    queue_url: pulumi.Output[str]
    """Where tenant systems send events (the worker's ``--queue``)."""
    queue_arn: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    """Rejected events with their reason (the worker's ``--dlq``), and redriven ones."""
    dlq_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: IngestionQueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:queues:IngestionQueues", name, None, opts)
        from contracts.ingestion import ingestion_dlq_name, ingestion_queue_name

        tenant = args["tenant"]
        region = args.get("region", DEFAULT_REGION)
        key = args["kms_key_arn"]
        max_receive = args.get("max_receive_count", 5)
        tags = data_tags(tenant, args.get("data_classification", "confidential"), args.get("tags"))
        child = pulumi.ResourceOptions(parent=self)
        # Visibility 300 s: longer than the worker's lease of a batch (120 s), so a slow
        # batch is not handed to a second worker while the first still stores it.
        queue, dlq = _queue_with_dead_letters(
            name,
            ("-queue", "-dlq"),
            queue_name=ingestion_queue_name(tenant),
            dlq_name=ingestion_dlq_name(tenant),
            key=key,
            retention_seconds=args.get("message_retention_seconds", 4 * 24 * 3600),
            dlq_retention_seconds=args.get("dead_letter_retention_seconds", 14 * 24 * 3600),
            max_receive=max_receive,
            tags=tags,
            opts=child,
            receive_wait_seconds=20,
            queue_resource=f"{name}-queue",
        )
        worker_role = args.get("worker_role_name")
        if worker_role is not None:
            aws.iam.RolePolicy(
                f"{name}-worker",
                role=worker_role,
                policy=pulumi.Output.all(queue.arn, dlq.arn, pulumi.Output.from_input(key)).apply(
                    lambda v: json.dumps(
                        ingestion_worker_policy(v[0], v[1], v[2], region), sort_keys=True
                    )
                ),
                opts=child,
            )
        scaler_role = args.get("scaler_role_name")
        if scaler_role is not None:
            aws.iam.RolePolicy(
                f"{name}-scaler",
                role=scaler_role,
                policy=queue.arn.apply(
                    lambda arn: json.dumps(queue_depth_policy([arn]), sort_keys=True)
                ),
                opts=child,
            )
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.dlq_url = dlq.url
        self.dlq_arn = dlq.arn
        self.register_outputs(
            {
                "queueUrl": self.queue_url,
                "queueArn": self.queue_arn,
                "dlqUrl": self.dlq_url,
                "dlqArn": self.dlq_arn,
            }
        )


KEDA_NAMESPACE = "keda"
"""Namespace of the KEDA operator (``components.k8s.keda``)."""
KEDA_OPERATOR_ACCOUNT = "keda-operator"
"""The chart's operator service account (values ``serviceAccount.operator.name``)."""


def keda_operator_role(
    name: str,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer_host: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """The KEDA operator's IRSA role; each tenant's :class:`IngestionQueues` grants it
    ``sqs:GetQueueAttributes`` on exactly that tenant's ingestion queue."""
    from components._util import irsa_trust_policy, to_json

    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer_host).apply(
        lambda v: to_json(irsa_trust_policy(v[0], v[1], KEDA_NAMESPACE, KEDA_OPERATOR_ACCOUNT))
    )
    return aws.iam.Role(
        f"{name}-keda-operator",
        description="KEDA operator: reads the depth of the tenants' ingestion queues (IRSA)",
        assume_role_policy=trust,
        max_session_duration=3600,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _queue_with_dead_letters(
    prefix: str,
    policy_suffixes: tuple[str, str],
    *,
    queue_name: str,
    dlq_name: str,
    key: pulumi.Input[str],
    retention_seconds: int,
    dlq_retention_seconds: int,
    max_receive: int,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
    receive_wait_seconds: int | None = None,
    queue_resource: str | None = None,
) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
    """A KMS-encrypted queue and its dead-letter queue: redrive after ``max_receive``
    receives, redrive allowed only from that queue, TLS-only policies on both.

    Resource names: ``<prefix>-dlq``, ``queue_resource`` (default ``<prefix>``),
    ``<prefix>-dlq-allow`` and ``<prefix><suffix>-policy`` for the queue and the DLQ."""
    dlq = aws.sqs.Queue(
        f"{prefix}-dlq",
        name=dlq_name,
        kms_master_key_id=key,
        kms_data_key_reuse_period_seconds=300,
        message_retention_seconds=dlq_retention_seconds,
        tags=tags,
        opts=opts,
    )
    queue = aws.sqs.Queue(
        queue_resource or prefix,
        name=queue_name,
        kms_master_key_id=key,
        kms_data_key_reuse_period_seconds=300,
        message_retention_seconds=retention_seconds,
        visibility_timeout_seconds=300,
        receive_wait_time_seconds=receive_wait_seconds,
        redrive_policy=dlq.arn.apply(lambda arn: redrive_policy(arn, max_receive)),
        tags=tags,
        opts=opts,
    )
    aws.sqs.RedriveAllowPolicy(
        f"{prefix}-dlq-allow",
        queue_url=dlq.url,
        redrive_allow_policy=queue.arn.apply(redrive_allow_policy),
        opts=opts,
    )
    for suffix, q in zip(policy_suffixes, (queue, dlq), strict=True):
        aws.sqs.QueuePolicy(
            f"{prefix}{suffix}-policy",
            queue_url=q.url,
            policy=q.arn.apply(lambda arn: json.dumps(tls_only_queue_policy(arn))),
            opts=opts,
        )
    return queue, dlq
