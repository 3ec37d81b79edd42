"""The offline engine on small, self-contained Pulumi programs (not only ours)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlplatform.cli import main
from mlplatform.engine import PlanError, UsageError, plan_program


def make_program(
    root: Path, body: str, config: str = "aws:region: me-central-1", name: str = "demo"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime:\n  name: python\n")
    (root / "Pulumi.test.yaml").write_text("config:\n" + textwrap.indent(config, "  ") + "\n")
    (root / "__main__.py").write_text(textwrap.dedent(body))
    return root


def by_name(plan: dict, name: str) -> dict:
    matches = [r for r in plan["resources"] if r["name"] == name]
    assert len(matches) == 1, [r["name"] for r in plan["resources"]]
    return matches[0]


def test_default_provider_comes_from_stack_config(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws
        aws.s3.Bucket("data")
        """,
    )
    plan = plan_program(prog, "test")
    assert plan["project"] == "demo" and plan["stack"] == "test"
    assert plan["resources"][0]["type"] == "pulumi:pulumi:Stack"
    bucket = by_name(plan, "data")
    provider_urn = bucket["provider"].rsplit("::", 1)[0]
    provider = next(r for r in plan["resources"] if r["urn"] == provider_urn)
    assert provider["type"] == "pulumi:providers:aws"
    assert provider["name"].startswith("default_7_")
    assert provider["inputs"]["region"] == "me-central-1"
    for key in ("urn", "type", "name", "parent", "provider", "custom", "inputs", "options"):
        assert key in bucket
    assert bucket["parent"] == plan["resources"][0]["urn"]


def test_explicit_provider_and_per_resource_region_are_recorded(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws
        eu = aws.Provider("eu", region="eu-west-1")
        aws.s3.Bucket("via-provider", opts=pulumi.ResourceOptions(provider=eu))
        aws.s3.Bucket("via-input", region="eu-west-2")
        """,
    )
    plan = plan_program(prog, "test")
    via_provider = by_name(plan, "via-provider")
    eu = by_name(plan, "eu")
    assert via_provider["provider"].startswith(eu["urn"] + "::")
    assert eu["inputs"]["region"] == "eu-west-1"
    assert by_name(plan, "via-input")["inputs"]["region"] == "eu-west-2"


def test_secrets_are_marked_and_never_written(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws
        cfg = pulumi.Config()
        s = aws.secretsmanager.Secret("s")
        aws.secretsmanager.SecretVersion("v", secret_id=s.id, secret_string=cfg.require_secret("token"))
        """,
        config="aws:region: me-central-1\ntoken:\n  secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=",
    )
    plan = plan_program(prog, "test")
    version = by_name(plan, "v")
    assert version["inputs"]["secretString"] == "[secret]"
    assert version["secretInputs"] == ["secretString"]
    assert plan["config"]["demo:token"] == "[secret]"
    assert "c2VjcmV0" not in json.dumps(plan)


def test_data_sources_answer_like_the_cloud(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import json, pulumi, pulumi_aws as aws
        zones = aws.get_availability_zones(state="available")
        me = aws.get_caller_identity()
        doc = aws.iam.get_policy_document(statements=[{
            "actions": ["s3:GetObject"],
            "resources": ["arn:aws:s3:::b/*"],
            "principals": [{"type": "AWS", "identifiers": [f"arn:aws:iam::{me.account_id}:root"]}],
            "conditions": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]}],
        }])
        aws.iam.Policy("p", policy=doc.json)
        pulumi.export("zones", zones.zone_ids)
        """,
    )
    plan = plan_program(prog, "test")
    policy = json.loads(by_name(plan, "p")["inputs"]["policy"])
    assert policy["Version"] == "2012-10-17"
    st = policy["Statement"][0]
    assert st == {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }


def test_unanswerable_invoke_names_token_file_and_line(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws

        aws.route53.get_zone(name="example.ae")
        """,
    )
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    msg = str(info.value)
    assert "aws:route53/getZone:getZone" in msg
    assert "__main__.py:4" in msg


def test_kubernetes_objects_get_generated_names_and_manifests(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_kubernetes as k8s
        ns = k8s.core.v1.Namespace("team")
        k8s.core.v1.ConfigMap("cm", metadata={"namespace": ns.metadata.name}, data={"a": "b"})
        """,
    )
    out = tmp_path / "out"
    assert main(["plan", "--stack", "test", "--program", str(prog), "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    ns_name = by_name(plan, "team")["id"]
    assert ns_name.startswith("team-") and len(ns_name) == len("team-") + 8
    files = sorted(
        p.relative_to(out / "manifests").as_posix() for p in (out / "manifests").rglob("*.yaml")
    )
    assert files == [
        f"_cluster/namespace-{ns_name}.yaml",
        f"{ns_name}/configmap-{by_name(plan, 'cm')['id'].split('/')[-1]}.yaml",
    ]


def test_plans_are_deterministic(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws
        for i in range(20):
            k = aws.kms.Key(f"k{i}", enable_key_rotation=True)
            aws.kms.Alias(f"a{i}", target_key_id=k.key_id, name=f"alias/k{i}")
        """,
    )
    assert plan_program(prog, "test") == plan_program(prog, "test")


@pytest.mark.parametrize(
    ("stack_text", "expected"),
    [
        (
            "config:\n  aws:region: [unclosed\n",
            "Pulumi.test.yaml: malformed YAML at line 3, column 1",
        ),
        ("- just\n- a list\n", "Pulumi.test.yaml: the top level must be a mapping"),
    ],
)
def test_bad_stack_files_are_usage_errors(tmp_path: Path, stack_text: str, expected: str) -> None:
    prog = make_program(tmp_path / "p", "import pulumi\n")
    (prog / "Pulumi.test.yaml").write_text(stack_text)
    with pytest.raises(UsageError) as info:
        plan_program(prog, "test")
    assert expected in str(info.value)


def test_unknown_stack_lists_the_available_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = make_program(tmp_path / "p", "import pulumi\n")
    assert main(["plan", "--stack", "nope", "--program", str(prog)]) == 2
    err = capsys.readouterr().err
    assert "unknown stack 'nope'" in err and "available: test" in err
    assert "Traceback" not in err


def test_program_crash_is_reported_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = make_program(tmp_path / "p", "import pulumi\n\nraise ValueError('boom')\n")
    assert (
        main(["plan", "--stack", "test", "--program", str(prog), "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "__main__.py:3" in err and "ValueError: boom" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "plan.json").exists()


def test_default_vpc_lookups_of_public_examples_are_answered(tmp_path: Path) -> None:
    # The shape of Pulumi's public ECS/Fargate examples: default VPC, its subnets, an ALB.
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws
        vpc = aws.ec2.get_vpc(default=True)
        subnets = aws.ec2.get_subnets(filters=[{"name": "vpc-id", "values": [vpc.id]}])
        sg = aws.ec2.SecurityGroup("web", vpc_id=vpc.id)
        aws.lb.LoadBalancer("lb", security_groups=[sg.id], subnets=subnets.ids, internal=True)
        """,
    )
    plan = plan_program(prog, "test")
    lb = by_name(plan, "lb")
    assert len(lb["inputs"]["subnets"]) == 3
    assert all(s.startswith("subnet-") for s in lb["inputs"]["subnets"])
    assert by_name(plan, "web")["inputs"]["vpcId"].startswith("vpc-")


def test_managed_policy_documents_are_not_invented(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws
        aws.iam.get_policy(arn="arn:aws:iam::aws:policy/AdministratorAccess")
        """,
    )
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    assert "aws:iam/getPolicy:getPolicy" in str(info.value)
    assert "not known offline" in str(info.value)


def test_lean_stack_traces_record_the_same_source_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.runtime import resource as sdk_resource

    import mlplatform.engine as engine

    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws

        class Pair(pulumi.ComponentResource):
            def __init__(self, name, opts=None):
                super().__init__("test:index:Pair", name, None, opts)
                aws.s3.Bucket(f"{name}-a", opts=pulumi.ResourceOptions(parent=self))
                aws.kms.Key(f"{name}-k", opts=pulumi.ResourceOptions(parent=self))
                self.register_outputs({})

        Pair("one")
        aws.sqs.Queue("q")
        """,
    )
    lean = plan_program(prog, "test")
    monkeypatch.setattr(engine, "_lean_stack_trace", sdk_resource._get_stack_trace)
    full = plan_program(prog, "test")
    assert lean == full
    assert by_name(lean, "one-a")["source"]["line"] == 7
    assert by_name(lean, "q")["source"]["line"] == 12


def test_program_folder_without_pulumi_yaml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--stack", "dev", "--program", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {tmp_path}: no Pulumi.yaml here; --program must name a Pulumi project folder"
    ]


def test_pack_folder_that_is_not_a_pack_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "--stack", "dev", "--pack", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: --pack {tmp_path}: no PulumiPolicy.yaml there (not a policy pack folder)"
    ]
