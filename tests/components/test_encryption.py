"""Encryption component: rotation, deletion window, single-region, no `*` principals."""

from __future__ import annotations

import json

import pytest

from components.encryption import (
    Encryption,
    EncryptionArgs,
    KeyService,
    KeySpec,
    key_policy,
    principals_of,
)

ACCOUNT = "123456789012"


@pytest.mark.parametrize("service", list(KeyService))
def test_key_policies_have_no_wildcard_principal(service: KeyService) -> None:
    doc = key_policy(account_id=ACCOUNT, region="me-central-1", partition="aws", service=service)
    principals = principals_of(doc)
    assert "*" not in principals
    assert f"arn:aws:iam::{ACCOUNT}:root" in principals
    for statement in doc["Statement"][1:]:
        assert statement.get("Condition"), f"service statement without condition: {statement}"


def test_logs_key_admits_only_regional_logs_with_encryption_context() -> None:
    doc = key_policy(
        account_id=ACCOUNT, region="me-central-1", partition="aws", service=KeyService.LOGS
    )
    logs = doc["Statement"][1]
    assert logs["Principal"] == {"Service": "logs.me-central-1.amazonaws.com"}
    context = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert context == f"arn:aws:logs:me-central-1:{ACCOUNT}:log-group:*"
    assert logs["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_ebs_key_is_usable_by_autoscaling_only_via_ec2() -> None:
    doc = key_policy(
        account_id=ACCOUNT, region="me-central-1", partition="aws", service=KeyService.EBS
    )
    use = doc["Statement"][1]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "ec2.me-central-1.amazonaws.com"
    grant = doc["Statement"][2]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_keys_and_aliases(run_program) -> None:
    specs = [
        KeySpec("eks-secrets", "EKS secrets"),
        KeySpec("logs", "Logs", KeyService.LOGS),
        KeySpec("tenant-acme", "acme data", tags={"tenant": "acme"}),
    ]
    mocks = run_program(
        lambda: Encryption(
            "keys", EncryptionArgs(account_id=ACCOUNT, region="me-central-1", keys=specs)
        )
    )
    keys = mocks.of_type("aws:kms/key:Key")
    assert len(keys) == 3
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.inputs["multiRegion"] is False
        assert "*" not in principals_of(json.loads(key.inputs["policy"]))
    aliases = {a.inputs["name"] for a in mocks.of_type("aws:kms/alias:Alias")}
    assert aliases == {
        "alias/mlplatform/eks-secrets",
        "alias/mlplatform/logs",
        "alias/mlplatform/tenant-acme",
    }
    acme = mocks.one("aws:kms/key:Key", "keys-tenant-acme")
    assert acme.inputs["tags"]["tenant"] == "acme"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            EncryptionArgs(ACCOUNT, "me-central-1", [KeySpec("Bad Name", "x")]),
            "key name 'Bad Name'",
        ),
        (
            EncryptionArgs(ACCOUNT, "me-central-1", [KeySpec("a", "x"), KeySpec("a", "y")]),
            "must be unique",
        ),
        (EncryptionArgs(ACCOUNT, "me-central-1", [], deletion_window_in_days=3), "allowed 7..30"),
    ],
)
def test_bad_key_sets_are_rejected(run_program, args: EncryptionArgs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_program(lambda: Encryption("keys", args))
