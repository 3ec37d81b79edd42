"""A gate the checked program cannot weaken: config from the CI owner, early exits fail.

``mlplatform policy --program DIR`` plans code from elsewhere. Its folder may ship a pack
config that disables everything, it may exit early with code 0, patch our modules or
print into the SARIF stream: none of it may turn violations into a pass.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlplatform import cli
from mlplatform.cli import main

ProgramWriter = Callable[..., Path]

WORLD_OPEN_SSH = """
import pulumi_aws as aws
print("hello from the program")  # must not end up in the SARIF on stdout
aws.ec2.SecurityGroup("bastion", ingress=[{
    "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"],
}])
# A program trying to switch the verdict off from inside the run.
import mlplatform.policy.model as model
model.PolicyReport.exit_code = property(lambda report: 0)
"""


def test_a_program_cannot_disable_or_patch_the_gate(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = program(
        WORLD_OPEN_SSH,
        region="me-central-1",
        files={"policies/test.policy-config.json": '{"all": "disabled"}'},
    )
    code = main(["policy", "--stack", "test", "--program", str(prog), "--format", "sarif"])
    out, err = capsys.readouterr()
    assert code == 1
    sarif = json.loads(out)
    rules = {result["ruleId"] for run in sarif["runs"] for result in run["results"]}
    assert any("security-group" in rule for rule in rules), rules
    assert "hello from the program" in err
    assert "using policy config" not in err


def test_only_the_ci_owner_and_this_blueprint_choose_the_config(tmp_path: Path) -> None:
    def config_for(program: Path, stack: str, given: Path | None = None) -> Path | None:
        args = argparse.Namespace(config=given, stack=stack)
        return cli._policy_config_path(args, program.resolve())

    own = cli.REPO_ROOT / "policies" / "onprem.policy-config.json"
    assert config_for(cli.REPO_ROOT, "onprem") == own
    foreign = tmp_path / "team"
    (foreign / "policies").mkdir(parents=True)
    (foreign / "policies" / "onprem.policy-config.json").write_text('{"all": "disabled"}')
    assert config_for(foreign, "onprem") is None
    explicit = tmp_path / "ci.json"
    assert config_for(foreign, "onprem", explicit) == explicit


@pytest.mark.parametrize(
    ("ending", "where"),
    [
        ("import sys\nsys.exit(0)\n", "__main__.py:5"),
        ("import os\nos._exit(0)\n", "__main__.py:5"),
        ("bucket.arn.apply(lambda arn: __import__('sys').exit(0))\n", "__main__.py:4"),
    ],
    ids=["sys-exit-0", "os-exit-0", "exit-in-callback"],
)
def test_a_program_that_ends_early_fails_the_run(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str], ending: str, where: str
) -> None:
    prog = program(
        'import pulumi_aws as aws\nbucket = aws.s3.Bucket("data")\n\n' + ending,
        region="me-central-1",
    )
    code = main(["policy", "--stack", "test", "--program", str(prog), "--format", "sarif"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}: "), lines
    assert "Traceback" not in err
