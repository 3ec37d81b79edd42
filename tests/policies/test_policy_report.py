"""Text, JSON and SARIF renderings; SARIF validated against the official 2.1.0 schema."""

from __future__ import annotations

import json
import pathlib

import jsonschema
import pytest
from policy_helpers import PACKS, plan, resource, secure_bucket

from mlplatform.policy import report as render
from mlplatform.policy import runner

SCHEMA = json.loads(
    (pathlib.Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text()
)


@pytest.fixture(scope="module")
def failing() -> tuple[runner.PolicyReport, dict]:
    ssh = resource(
        "aws:ec2/securityGroup:SecurityGroup",
        "bastion",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
            ]
        },
    )
    doc = plan(*secure_bucket("eu-data", region="eu-west-1"), ssh)
    doc["resources"][-1]["source"] = {"uri": "file:///repo/stacks/__main__.py", "line": 12}
    config = {"aws-data-resource-tagged": "advisory"}
    doc["resources"][3]["inputs"]["tags"] = {}
    return runner.run_packs(doc, PACKS, config), doc


def test_text_groups_violations_by_resource(failing) -> None:
    report, _ = failing
    text = render.render_text(report)
    bucket_urn = "urn:pulumi:test::proj::aws:s3/bucket:Bucket::eu-data"
    assert text.count(f"\n{bucket_urn} (aws:s3/bucket:Bucket)\n") == 1
    block = text.split(f"\n{bucket_urn}")[1].split("\n\n")[0]
    assert "[mandatory] [critical] aws-resource-region-allowed (uae-residency)" in block
    assert "[advisory] [medium] aws-data-resource-tagged (uae-residency)" in block
    assert "Remediation:" in block and "Frameworks: UAE PDPL:Art. 22-23" in block
    assert "::bastion (aws:ec2/securityGroup:SecurityGroup)" in text
    assert text.rstrip().splitlines()[-1].startswith("FAILED: 2 mandatory and 2 advisory")


def test_text_for_a_clean_run_says_passed() -> None:
    report = runner.run_packs(plan(*secure_bucket("ok")), PACKS)
    assert render.render_text(report).rstrip().splitlines()[-1].startswith("PASSED: no violations;")


def test_json_is_complete_and_machine_readable(failing) -> None:
    report, _ = failing
    data = json.loads(render.render_json(report))
    assert data["exitCode"] == 1 and data["stack"] == "test"
    assert data["summary"] == {"mandatory": 2, "advisory": 2, "resources": 2}
    assert {p["name"] for p in data["packs"]} == {"uae-residency", "zero-trust"}
    first = data["violations"][0]
    assert set(first) >= {
        "urn",
        "policy",
        "pack",
        "enforcementLevel",
        "severity",
        "message",
        "remediation",
        "frameworks",
    }


def test_sarif_validates_against_the_official_schema(failing) -> None:
    report, doc = failing
    log = json.loads(render.render_sarif(report, doc))
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == sum(len(p.policies) for p in report.packs)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["aws-resource-region-allowed"] == "error"
    assert levels["aws-data-resource-tagged"] == "warning"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        logical = result["locations"][0]["logicalLocations"][0]
        assert logical["fullyQualifiedName"].startswith("urn:pulumi:test::proj::")
    region_rule = rules[[r["id"] for r in rules].index("aws-resource-region-allowed")]
    assert region_rule["properties"]["security-severity"] == "9.5"
    assert "UAE PDPL:Art. 22-23" in region_rule["properties"]["tags"]


def test_sarif_uses_the_program_source_position_when_known(failing) -> None:
    report, doc = failing
    results = json.loads(render.render_sarif(report, doc))["runs"][0]["results"]
    ssh = next(r for r in results if r["ruleId"] == "aws-security-group-no-world-ingress")
    physical = ssh["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"].endswith("stacks/__main__.py")
    assert physical["region"]["startLine"] == 12


def test_schema_rejects_what_code_scanning_would_reject(failing) -> None:
    report, doc = failing
    log = json.loads(render.render_sarif(report, doc))
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(log)
