"""Unknown values reach the packs as the engine hands them over in a preview.

A policy document whose resource ARN is not known before the bucket exists is still a
document: the packs judge what is known in it. An unknown ARN alone is no violation;
``Action: "*"`` beside it is one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlplatform.engine import plan_program
from mlplatform.engine.cloud import UNKNOWN
from mlplatform.policy import runner

ProgramWriter = Callable[..., Path]
REPO = Path(__file__).resolve().parents[2]

DOCUMENTS = """
import pulumi_aws as aws

bucket = aws.s3.Bucket("data")
read = {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [bucket.arn]}
everything = {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": [bucket.arn]}
# The document as a structure (the provider encodes it), its ARN unknown in a preview.
aws.iam.Policy("reader", policy={"Version": "2012-10-17", "Statement": [read]})
aws.iam.Policy("admin", policy={"Version": "2012-10-17", "Statement": [read, everything]})
"""


def test_an_unknown_arn_is_no_violation_but_a_wildcard_action_beside_it_is(
    program: ProgramWriter,
) -> None:
    plan = plan_program(program(DOCUMENTS, region="me-central-1"), "test", preview=True)
    reader = next(entry for entry in plan["resources"] if entry["name"] == "reader")
    assert reader["inputs"]["policy"]["Statement"][0]["Resource"] == [UNKNOWN]
    assert reader["unknownInputs"] == ["policy.Statement.0.Resource.0"]

    report = runner.run_packs(plan, runner.discover_packs(REPO / "policies"))
    mandatory = report.mandatory_violations
    assert [v for v in mandatory if v.resource_name == "reader"] == []
    on_admin = [v for v in mandatory if v.resource_name == "admin"]
    assert on_admin, [v.message for v in report.violations]
    assert all("Everything" in v.message or "'*'" in v.message for v in on_admin), [
        v.message for v in on_admin
    ]
