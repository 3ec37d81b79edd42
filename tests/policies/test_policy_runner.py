"""The runner end to end: real pack processes, the Analyzer protocol, errors, config."""

from __future__ import annotations

import json
import os
import pathlib
import textwrap

import pytest
from policy_helpers import PACKS, REPO, P, plan, resource, secure_bucket

from mlplatform.policy import runner


def test_discover_finds_both_packs() -> None:
    assert [p.name for p in PACKS] == ["uae-residency", "zero-trust"]
    assert runner.discover_packs(REPO / "policies") == PACKS


def test_compliant_plan_passes_both_packs() -> None:
    report = runner.run_packs(plan(*secure_bucket("acme-data")), PACKS)
    assert report.violations == []
    assert report.exit_code == 0
    assert report.resources_analyzed == 7
    assert {p.name: p.version for p in report.packs} == {
        "uae-residency": "0.1.0",
        "zero-trust": "0.1.0",
    }
    assert sum(len(p.policies) for p in report.packs) >= 45


def test_bucket_in_eu_west_1_and_world_ssh_fail_with_resources_named() -> None:
    ssh = resource(
        "aws:ec2/securityGroup:SecurityGroup",
        "bastion",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
            ]
        },
    )
    report = runner.run_packs(plan(*secure_bucket("eu-data", region="eu-west-1"), ssh), PACKS)
    assert report.exit_code == 1
    by_policy = {v.policy: v for v in report.violations}
    region = by_policy["aws-resource-region-allowed"]
    assert region.urn == f"{P}aws:s3/bucket:Bucket::eu-data"
    assert region.resource_type == "aws:s3/bucket:Bucket" and region.resource_name == "eu-data"
    assert region.enforcement_level == "mandatory" and region.severity == "critical"
    assert region.pack == "uae-residency" and region.pack_version == "0.1.0"
    assert "eu-west-1" in region.message and region.remediation
    assert any(f.startswith("UAE PDPL") for f in region.frameworks)
    world = by_policy["aws-security-group-no-world-ingress"]
    assert world.urn.endswith("::bastion") and "port 22" in world.message


def test_stack_policy_violations_carry_the_resource_urn() -> None:
    report = runner.run_packs(
        plan(
            resource(
                "aws:s3/bucket:Bucket",
                "bare",
                {"bucket": "bare", "tags": {"tenant": "a", "data-classification": "internal"}},
            )
        ),
        PACKS,
    )
    stack_hits = {v.policy: v.urn for v in report.violations}
    assert stack_hits["aws-s3-bucket-public-access-block-configured"].endswith("::bare")
    assert stack_hits["aws-s3-bucket-tls-only"].endswith("::bare")


def test_property_dependencies_recovered_from_ids() -> None:
    # An autonamed bucket: children reference its (mock) id, not a name input.
    bucket = resource(
        "aws:s3/bucket:Bucket", "auto", {"tags": {"tenant": "a", "data-classification": "internal"}}
    )
    children = secure_bucket("x")[1:]
    for child in children:
        child["inputs"]["bucket"] = "auto-id"
    report = runner.run_packs(plan(bucket, *children), PACKS)
    assert report.violations == [], [(v.policy, v.message) for v in report.violations]


def test_config_changes_regions_and_levels() -> None:
    doc = plan(*secure_bucket("eu-data", region="eu-west-1"))
    relaxed = {"aws-resource-region-allowed": {"allowedRegions": ["me-central-1", "eu-west-1"]}}
    assert runner.run_packs(doc, PACKS, relaxed).violations == []
    advisory = runner.run_packs(doc, PACKS, {"aws-resource-region-allowed": "advisory"})
    assert [v.enforcement_level for v in advisory.violations] == ["advisory"]
    assert advisory.exit_code == 0
    assert runner.run_packs(doc, PACKS, {"all": "disabled"}).violations == []


def test_onprem_registry_through_config() -> None:
    deployment = resource(
        "kubernetes:apps/v1:Deployment",
        "app",
        {
            "metadata": {"namespace": "t"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "a", "image": "registry.onprem.example.ae/ml/app:1"}
                        ]
                    }
                }
            },
        },
    )
    policies = [runner.discover_packs(REPO)[0]]
    hits = runner.run_packs(plan(deployment), policies).violations
    assert [v.policy for v in hits] == ["container-image-registry-approved"]
    config = {
        "container-image-registry-approved": {"approvedRegistries": ["registry.onprem.example.ae"]}
    }
    assert runner.run_packs(plan(deployment), policies, config).violations == []


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (
            {"aws-resource-region-allowed": {"allowedRegion": ["x"]}},
            "unknown setting(s) ['allowedRegion']",
        ),
        (
            {"aws-resource-region-allowed": {"allowedRegions": "me-central-1"}},
            "'aws-resource-region-allowed.allowedRegions'",
        ),
        ({"aws-resource-region-allowed": {"enforcementLevel": "strict"}}, "not one of"),
        ({"no-such-policy": "mandatory"}, "unknown policies ['no-such-policy']"),
        ({"all": {"enforcementLevel": "advisory", "x": 1}}, "'all' only takes an enforcementLevel"),
        ({"aws-resource-region-allowed": 3}, "must be an enforcement level"),
    ],
)
def test_bad_config_is_one_clear_line(config, text) -> None:
    with pytest.raises(runner.PackConfigError) as err:
        runner.run_packs(plan(), PACKS, config)
    message = str(err.value)
    assert "\n" not in message
    if text == "not one of":
        assert "'strict'" in message and "advisory" in message
    else:
        assert text in message


def test_load_pack_config(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {"all": "advisory", "aws-resource-region-allowed": {"allowedRegions": ["me-central-1"]}}
        )
    )
    assert runner.load_pack_config(good) == {
        "all": {"enforcementLevel": "advisory"},
        "aws-resource-region-allowed": {"allowedRegions": ["me-central-1"]},
    }
    broken = tmp_path / "broken.json"
    broken.write_text('{"all": ')
    with pytest.raises(runner.PackConfigError, match=r"broken.json:1:9: invalid JSON"):
        runner.load_pack_config(broken)
    with pytest.raises(runner.PackConfigError, match="cannot read policy config"):
        runner.load_pack_config(tmp_path / "missing.json")
    listing = tmp_path / "list.json"
    listing.write_text("[]")
    with pytest.raises(runner.PackConfigError, match="expected a JSON object"):
        runner.load_pack_config(listing)


def make_pack(root: pathlib.Path, body: str, runtime: str = "python") -> pathlib.Path:
    root.mkdir(parents=True)
    (root / "PulumiPolicy.yaml").write_text(f"runtime: {runtime}\nversion: 9.9.9\n")
    (root / "__main__.py").write_text(textwrap.dedent(body))
    return root


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it is gone once reaped, which Popen.wait did.
    return False


def test_pack_that_crashes_at_start_is_an_error_with_its_stderr(tmp_path: pathlib.Path) -> None:
    pack = make_pack(tmp_path / "broken", 'raise RuntimeError("rules failed to import")\n')
    with pytest.raises(runner.PackError) as err:
        runner.run_packs(plan(), [pack], timeout_s=30)
    text = str(err.value)
    assert text.splitlines()[0].startswith("policy pack broken exited with code 1")
    assert "rules failed to import" in text


def test_pack_that_hangs_times_out_and_is_killed(tmp_path: pathlib.Path) -> None:
    pid_file = tmp_path / "pid"
    pack = make_pack(
        tmp_path / "sleepy",
        f"""
        import os, sys, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        print("starting", file=sys.stderr, flush=True)
        time.sleep(60)
        """,
    )
    with pytest.raises(runner.PackError) as err:
        runner.run_packs(plan(), [pack], timeout_s=3)
    assert "did not print its port before the timeout" in str(err.value)
    assert "starting" in str(err.value)
    assert gone(int(pid_file.read_text()))


def test_pack_that_dies_during_analyze_is_an_error(tmp_path: pathlib.Path) -> None:
    pack = make_pack(
        tmp_path / "dies",
        """
        import os, sys
        from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

        def validate(args, report):
            if args.resource_type == "aws:s3/bucket:Bucket":
                print("fatal: cannot continue", file=sys.stderr, flush=True)
                os._exit(3)

        PolicyPack(
            name="dies",
            enforcement_level=EnforcementLevel.MANDATORY,
            policies=[ResourceValidationPolicy(name="dies-on-buckets", description="d", validate=validate)],
        )
        """,
    )
    with pytest.raises(runner.PackError) as err:
        runner.run_packs(plan(*secure_bucket("b")), [pack], timeout_s=30)
    assert "failed during Analyze" in str(err.value)
    assert "fatal: cannot continue" in str(err.value)


def test_pack_folder_checks(tmp_path: pathlib.Path) -> None:
    node = make_pack(tmp_path / "node", "", runtime="nodejs")
    with pytest.raises(runner.PackConfigError, match="runtime is 'nodejs'"):
        runner.run_packs(plan(), [node])
    with pytest.raises(runner.PackConfigError, match=r"no PulumiPolicy\.yaml"):
        runner.run_packs(plan(), [tmp_path])
    with pytest.raises(runner.PackConfigError, match="no policy packs"):
        runner.run_packs(plan(), [])
    with pytest.raises(runner.PackConfigError, match=r"resources\[0\] needs string urn"):
        runner.run_packs({"resources": [{"type": "x"}]}, PACKS)


def test_pack_started_the_way_the_cli_starts_it(tmp_path: pathlib.Path) -> None:
    """The pack reads what the CLI passes: argv (engine address, '.'), cwd and environment."""
    out = tmp_path / "seen.json"
    pack = make_pack(
        tmp_path / "probe",
        f"""
        import json, os, sys
        import pulumi.runtime
        from pulumi_policy import PolicyPack, StackValidationPolicy

        json.dump(
            {{
                "argv": sys.argv,
                "cwd": os.getcwd(),
                "stack": os.environ.get("PULUMI_STACK"),
                "project": os.environ.get("PULUMI_PROJECT"),
                "dry_run": os.environ.get("PULUMI_DRY_RUN"),
                "region": pulumi.runtime.get_config("aws:region"),
            }},
            open({str(out)!r}, "w"),
        )
        PolicyPack(
            name="probe",
            policies=[StackValidationPolicy(name="probe-noop", description="d", validate=lambda a, r: None)],
        )
        """,
    )
    report = runner.run_packs(plan(), [pack], timeout_s=30)
    assert report.packs[0].version == "9.9.9"
    seen = json.loads(out.read_text())
    assert seen["argv"][1].startswith("127.0.0.1:") and seen["argv"][2] == "."
    assert pathlib.Path(seen["cwd"]) == pack
    assert (seen["stack"], seen["project"], seen["dry_run"], seen["region"]) == (
        "test",
        "proj",
        "true",
        "me-central-1",
    )


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_pack_loads_without_the_project_installed(
    pack: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """As under the Pulumi CLI with the pack's own virtualenv: only its requirements.

    ``python -S`` skips site processing, so the project's editable install is invisible;
    the pack must find its rules from its own folder, print its port and serve them.
    """
    import subprocess
    import sys
    import sysconfig

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import policies"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0, "the project must not be importable in this environment"
    process = subprocess.Popen(
        [sys.executable, "-S", "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=pack,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip() or 0)
        assert port > 0, process.stderr.read().decode() if process.stderr else ""
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(
                empty_pb2.Empty(), timeout=30
            )
        assert info.name == pack.name
        assert len(info.policies) >= 10
    finally:
        process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
