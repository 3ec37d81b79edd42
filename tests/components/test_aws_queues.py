"""SQS integration: redrive, TLS-only queue policies, and least privilege for the automation."""

from __future__ import annotations

import json

import pytest

from components._util import wildcard_findings
from components.aws import queues

KEY = "arn:aws:kms:me-central-1:123456789012:key/1f0e2d3c-aaaa-bbbb-cccc-0123456789ab"
ARNS = [
    "arn:aws:sqs:me-central-1:123456789012:acme-retraining",
    "arn:aws:sqs:me-central-1:123456789012:acme-retraining-dlq",
    "arn:aws:sqs:me-central-1:123456789012:acme-prediction-log",
]


def test_automation_policy_is_exactly_its_queues_and_key() -> None:
    doc = queues.automation_policy(ARNS, KEY, "me-central-1")
    assert wildcard_findings(doc) == []
    sqs, kms = doc["Statement"]
    assert sqs["Resource"] == sorted(ARNS)
    assert set(sqs["Action"]) == {
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    assert kms["Resource"] == [KEY]
    assert kms["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert kms["Condition"] == {
        "StringEquals": {"kms:ViaService": "sqs.me-central-1.amazonaws.com"}
    }


@pytest.mark.parametrize(
    "bad",
    ["arn:aws:sqs:me-central-1:123456789012:*", "acme-retraining", "arn:aws:sqs:*:1:q"],
)
def test_automation_policy_refuses_wildcards_and_non_arns(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a concrete ARN"):
        queues.automation_policy([*ARNS, bad], KEY, "me-central-1")
    with pytest.raises(ValueError, match="at least one queue ARN"):
        queues.automation_policy([], KEY, "me-central-1")


def test_queue_policy_denies_plain_http() -> None:
    (statement,) = queues.tls_only_queue_policy(ARNS[0])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == ARNS[0]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_redrive_policies_pair_each_queue_with_its_dlq() -> None:
    assert json.loads(queues.redrive_policy(ARNS[1], 5)) == {
        "deadLetterTargetArn": ARNS[1],
        "maxReceiveCount": 5,
    }
    assert json.loads(queues.redrive_allow_policy(ARNS[0])) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [ARNS[0]],
    }
    with pytest.raises(ValueError, match=r"max_receive_count must be 1\.\.1000, got 0"):
        queues.redrive_policy(ARNS[1], 0)
