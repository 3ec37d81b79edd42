"""Waivers: time-boxed, approved exceptions that fail closed and stay listed.

One small program with a world-open SSH security group (a mandatory violation of the
zero-trust pack) is checked through ``mlplatform policy`` with waivers files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from mlplatform.cli import main
from mlplatform.policy.model import PolicyReport, Violation
from mlplatform.policy.waivers import WaiverError, apply_waivers, load_waivers, parse_waivers

ProgramWriter = Callable[..., Path]
RULE = "aws-security-group-no-world-ingress"
WORLD_OPEN_SSH = """
import pulumi_aws as aws
aws.ec2.SecurityGroup("bastion", ingress=[{
    "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"],
}])
"""


def _waiver(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "rule": RULE,
        "resource": "*::bastion",
        "reason": "Break-glass bastion during the migration; source IPs filtered upstream",
        "approver": "CISO office <ciso@example.ae>",
        "expires": "2099-12-31",
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def _write(tmp_path: Path, *entries: dict[str, object]) -> Path:
    path = tmp_path / "waivers.test.yaml"
    path.write_text(json.dumps({"waivers": list(entries)}))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def bastion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.mlplatform.conftest import write_program

    return write_program(
        tmp_path_factory.mktemp("waivers") / "prog", WORLD_OPEN_SSH, region="me-central-1"
    )


def _policy(bastion: Path, waivers: Path | None, fmt: str = "json") -> list[str]:
    argv = ["policy", "--stack", "test", "--program", str(bastion), "--format", fmt]
    return argv + (["--waivers", str(waivers)] if waivers else [])


def test_without_a_waiver_the_violation_fails_the_gate(
    bastion: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_policy(bastion, None)) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(v["policy"] == RULE and not v["waived"] for v in report["violations"])


def test_a_valid_waiver_passes_the_gate_and_keeps_the_finding_listed(
    bastion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waivers = _write(tmp_path, _waiver())
    assert main(_policy(bastion, waivers)) == 0
    report = json.loads(capsys.readouterr().out)
    waived = [v for v in report["violations"] if v["policy"] == RULE]
    assert waived and all(v["waived"] for v in waived)
    assert waived[0]["waiver"]["approver"] == "CISO office <ciso@example.ae>"
    assert report["waived"] == len(waived)
    assert report["summary"]["mandatory"] == 0

    assert main(_policy(bastion, waivers, "text")) == 0
    text = capsys.readouterr().out
    assert "WAIVED until 2099-12-31, approved by CISO office" in text

    assert main(_policy(bastion, waivers, "sarif")) == 0
    sarif = json.loads(capsys.readouterr().out)
    schema = Path(__file__).parents[1] / "policies" / "data" / "sarif-schema-2.1.0.json"
    jsonschema.Draft7Validator(json.loads(schema.read_text())).validate(sarif)
    results = [r for run in sarif["runs"] for r in run["results"] if r["ruleId"] == RULE]
    assert results, "a waived finding stays in the SARIF log"
    suppression = results[0]["suppressions"][0]
    assert suppression["kind"] == "external" and suppression["state"] == "accepted"
    assert "ciso@example.ae" in suppression["justification"]


def test_the_stacks_own_waivers_file_applies_by_default_and_says_so(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = program(WORLD_OPEN_SSH, region="me-central-1")
    own = prog / "waivers.test.yaml"  # beside Pulumi.test.yaml (stackConfigDir: .)
    own.write_text(json.dumps({"waivers": [_waiver()]}))
    assert main(["policy", "--stack", "test", "--program", str(prog)]) == 0
    out, err = capsys.readouterr()
    assert f"using waivers {own}" in err
    assert "WAIVED until 2099-12-31" in out
    # The CI owner's file wins over the program's own.
    empty = prog / "ci-waivers.yaml"
    empty.write_text("waivers: []\n")
    argv = ["policy", "--stack", "test", "--program", str(prog), "--waivers", str(empty)]
    assert main(argv) == 1


def test_an_expired_waiver_turns_the_finding_back_into_a_violation(
    bastion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waivers = _write(tmp_path, _waiver(expires="2020-01-31"))
    assert main(_policy(bastion, waivers)) == 1
    report = json.loads(capsys.readouterr().out)
    finding = next(v for v in report["violations"] if v["policy"] == RULE)
    assert finding["waived"] is False
    assert finding["waiver"]["expired"] is True
    assert main(_policy(bastion, waivers, "text")) == 1
    assert "waiver EXPIRED on 2020-01-31" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_waiver(approver=None), "waivers[0].approver: missing; required: who approved"),
        (_waiver(approver="  "), "waivers[0].approver: missing"),
        (_waiver(reason=None), "waivers[0].reason: missing"),
        (_waiver(expires="next year"), "waivers[0].expires: 'next year' is not a date"),
        (_waiver(owner="me"), "waivers[0]: unknown key(s) owner"),
        (_waiver(rule="aws-no-such-rule"), "waivers[0].rule: 'aws-no-such-rule' is not a policy"),
    ],
)
def test_a_bad_waiver_is_one_line_and_exit_2(
    bastion: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    entry: dict[str, object],
    expected: str,
) -> None:
    waivers = _write(tmp_path, entry)
    assert main(_policy(bastion, waivers)) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert str(waivers) in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("waivers: [rule: x\n")
    with pytest.raises(WaiverError) as caught:
        load_waivers(path)
    assert str(caught.value).startswith(f"{path}: invalid YAML")
    with pytest.raises(WaiverError, match="expected a mapping with one key 'waivers'"):
        parse_waivers(["rule"], "w.yaml")


def _violation(urn: str, policy: str = RULE) -> Violation:
    return Violation(
        urn=urn,
        resource_type="aws:ec2/securityGroup:SecurityGroup",
        resource_name=urn.rsplit("::", 1)[-1],
        policy=policy,
        pack="zero-trust",
        pack_version="1",
        enforcement_level="mandatory",
        severity="high",
        message="open",
        description="",
        remediation="",
        frameworks=(),
    )


def test_the_resource_pattern_and_the_last_day_are_exact() -> None:
    from mlplatform.policy.model import PackInfo, PolicyInfo

    info = PolicyInfo(RULE, "", "mandatory", "high", "", (), "resource")
    report = PolicyReport(
        project="p",
        stack="s",
        violations=[_violation("urn:a::bastion"), _violation("urn:a::web")],
        packs=[PackInfo("zero-trust", "1", "", [info], 2, 0, 0, 0)],
        resources_analyzed=2,
        seconds=0,
    )
    waivers = parse_waivers({"waivers": [_waiver(expires="2026-06-30")]}, "w.yaml")
    on_the_day = apply_waivers(report, waivers, dt.date(2026, 6, 30))
    assert [v.waived for v in on_the_day.violations] == [True, False]
    assert on_the_day.exit_code == 1  # "web" is not covered
    day_after = apply_waivers(report, waivers, dt.date(2026, 7, 1))
    assert [v.waived for v in day_after.violations] == [False, False]
    assert day_after.violations[0].waiver is not None and day_after.violations[0].waiver.expired
