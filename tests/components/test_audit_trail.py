"""The alert receiver's audit trail as the prod stack plans it: every tenant with a
receiver has an object-locked audit bucket (COMPLIANCE, retention from the tier), a KMS
HMAC key whose only grant is the receiver's role, and a receiver told to use both."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.k8s.automation import AUDIT_PREFIX

Plan = dict[str, Any]


@pytest.fixture(scope="module")
def prod(stack_plan: Callable[[str], Plan]) -> Plan:
    return stack_plan("prod")


def _of(plan: Plan, type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def _receivers(plan: Plan) -> dict[str, dict[str, str]]:
    """namespace -> the receiver's ``--flag=value`` arguments."""
    out = {}
    for r in _of(plan, "kubernetes:apps/v1:Deployment"):
        meta = r["inputs"]["metadata"]
        if meta["name"].endswith("-alert-receiver"):
            args = r["inputs"]["spec"]["template"]["spec"]["containers"][0]["args"]
            out[meta["namespace"]] = dict(a.removeprefix("--").split("=", 1) for a in args)
    return out


def test_every_receiver_ships_to_a_compliance_locked_bucket_with_the_tier_retention(
    prod: Plan,
) -> None:
    from tests.components.test_platform import load

    settings = load("prod")
    tiers = {t.namespace: t.audit_retention_days for t in settings.tenants}
    locks = {
        r["inputs"]["bucket"]: r["inputs"]["rule"]["defaultRetention"]
        for r in _of(prod, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    }
    receivers = _receivers(prod)
    assert len(receivers) == len(settings.tenants)
    assert {t.tier.value for t in settings.tenants} == {"smb", "enterprise"}
    for namespace, args in receivers.items():
        bucket = args["audit_bucket"].removeprefix("s3://").split("/")[0]
        assert args["audit_bucket"] == f"s3://{bucket}/{AUDIT_PREFIX}/"
        assert locks[bucket] == {"mode": "COMPLIANCE", "days": tiers[namespace]}
        assert args["audit_lock_mode"] == "COMPLIANCE"
        assert int(args["audit_retention_days"]) == tiers[namespace]
        assert args["audit_key"].startswith("kms:arn:aws:kms:me-central-1:")


def test_only_the_receivers_role_may_use_the_audit_key(prod: Plan) -> None:
    keys = [r for r in _of(prod, "aws:kms/key:Key") if r["name"].endswith("-audit-mac")]
    assert keys
    for key in keys:
        assert key["inputs"]["keyUsage"] == "GENERATE_VERIFY_MAC"
        assert key["inputs"]["customerMasterKeySpec"] == "HMAC_256"
        statements = json.loads(key["inputs"]["policy"])["Statement"]
        # The key policy delegates to IAM only: no service, no other account, no '*'.
        assert [s["Principal"] for s in statements] == [{"AWS": "arn:aws:iam::123456789012:root"}]
    documents = [
        (r["name"], json.loads(r["inputs"]["policy"]))
        for r in prod["resources"]
        if r["type"] in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
        and isinstance(r["inputs"].get("policy"), str)
    ]
    for args in _receivers(prod).values():
        arn = args["audit_key"].removeprefix("kms:")
        bucket_arn = "arn:aws:s3:::" + args["audit_bucket"].removeprefix("s3://").split("/")[0]
        naming_key = [name for name, doc in documents if arn in json.dumps(doc)]
        assert len(naming_key) == 1 and naming_key[0].endswith("-automation-audit"), naming_key
        [doc] = [doc for name, doc in documents if name == naming_key[0]]
        key_actions = [s["Action"] for s in doc["Statement"] if arn in json.dumps(s["Resource"])]
        assert key_actions == [["kms:GenerateMac", "kms:VerifyMac"]]
        # Nothing may delete or shorten what was shipped.
        actions = {a for s in doc["Statement"] for a in s["Action"]}
        assert not {a for a in actions if "Delete" in a or "Bypass" in a or a.endswith("*")}
        # Only the receiver's policy may write to the audit bucket; anyone else who names
        # it (the in-country DR copy) only reads; the tenant's workload role not at all.
        for name, other in documents:
            if name in naming_key:
                continue
            for statement in other["Statement"]:
                if bucket_arn in json.dumps(statement.get("Resource")):
                    verbs = statement["Action"]
                    verbs = [verbs] if isinstance(verbs, str) else verbs
                    assert all(v.startswith(("s3:Get", "s3:List")) for v in verbs), (name, verbs)
