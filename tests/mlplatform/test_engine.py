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
    matches = [resource for resource in plan["resources"] if resource["name"] == name]
    assert len(matches) == 1, [resource["name"] for resource in plan["resources"]]
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
    provider = next(resource for resource in plan["resources"] if resource["urn"] == provider_urn)
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
        secret = aws.secretsmanager.Secret("s")
        aws.secretsmanager.SecretVersion("v", secret_id=secret.id, secret_string=cfg.require_secret("token"))
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
    statement = policy["Statement"][0]
    assert statement == {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # No offline answer for this data source at all (a secret's value is not invented).
        (
            'aws.secretsmanager.get_secret_version(secret_id="db")',
            ["aws:secretsmanager/getSecretVersion:getSecretVersion"],
        ),
        # Managed policy documents are not shipped: refused, never invented.
        (
            'aws.iam.get_policy(arn="arn:aws:iam::aws:policy/AdministratorAccess")',
            ["aws:iam/getPolicy:getPolicy", "not known offline"],
        ),
    ],
    ids=["no-answer", "managed-policy"],
)
def test_unanswerable_invoke_names_token_file_and_line(
    tmp_path: Path, call: str, expected: list[str]
) -> None:
    prog = make_program(tmp_path / "p", f"import pulumi_aws as aws\n\n\n{call}\n")
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    message = str(info.value)
    for part in [*expected, "__main__.py:4"]:
        assert part in message


def test_kubernetes_objects_get_generated_names_and_manifests(tmp_path: Path) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_kubernetes as k8s
        team = k8s.core.v1.Namespace("team")
        k8s.core.v1.ConfigMap("cm", metadata={"namespace": team.metadata.name}, data={"a": "b"})
        """,
    )
    out = tmp_path / "out"
    assert main(["plan", "--stack", "test", "--program", str(prog), "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    ns_name = by_name(plan, "team")["id"]
    assert ns_name.startswith("team-") and len(ns_name) == len("team-") + 8
    files = sorted(
        path.relative_to(out / "manifests").as_posix()
        for path in (out / "manifests").rglob("*.yaml")
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
        for index in range(20):
            key = aws.kms.Key(f"k{index}", enable_key_rotation=True)
            aws.kms.Alias(f"a{index}", target_key_id=key.key_id, name=f"alias/k{index}")
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
    assert all(subnet.startswith("subnet-") for subnet in lb["inputs"]["subnets"])
    assert by_name(plan, "web")["inputs"]["vpcId"].startswith("vpc-")


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


def test_the_engines_search_for_unknowns_answers_as_the_sdks() -> None:
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    from mlplatform.engine import _contains_unknowns

    class Mapping(dict):  # a dict subclass is searched through its own item lookup
        def __getitem__(self, key: str) -> object:
            return Unknown() if key == "hidden" else super().__getitem__(key)

    loop: list[object] = [1, "a"]
    loop.append(loop)
    unknown_behind_loop: list[object] = [loop, {"x": [Unknown()]}]
    shared = {"k": [1, 2]}
    values = [
        None,
        3,
        "text",
        Unknown(),
        [],
        {},
        (Unknown(),),  # a tuple is not searched, by either
        {"a": {"b": [1, {"c": Unknown()}]}},
        {"a": {"b": [1, {"c": 2}]}},
        [[[]], [shared, shared], {"z": shared}],
        loop,
        unknown_behind_loop,
        Mapping(hidden=1, shown=2),
        Mapping(shown=2),
    ]
    assert [_contains_unknowns(value) for value in values] == [
        rpc.contains_unknowns(value) for value in values
    ]
    assert [_contains_unknowns(value) for value in values].count(True) == 4


def test_unknowns_in_a_preview_are_found_as_the_sdk_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.runtime import rpc

    import mlplatform.engine as engine

    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws
        key = aws.kms.Key("k")
        policy = key.arn.apply(lambda arn: {"Statement": [{"Resource": [arn, "x"]}]})
        aws.s3.Bucket("b", tags={"key": key.key_id, "fixed": "y"})
        aws.iam.Policy("p", policy=pulumi.Output.json_dumps(policy))
        pulumi.export("nested", {"arn": key.arn, "list": [key.key_id, 1]})
        """,
    )
    ours = plan_program(prog, "test", preview=True)
    monkeypatch.setattr(engine, "_contains_unknowns", rpc.contains_unknowns)
    sdks = plan_program(prog, "test", preview=True)
    assert ours == sdks
    assert by_name(ours, "b").get("unknownInputs")


def test_planning_again_and_again_does_not_grow_and_leaves_the_collector_as_it_was(
    tmp_path: Path,
) -> None:
    import gc

    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws
        for index in range(250):
            key = aws.kms.Key(f"k{index}", enable_key_rotation=True)
            aws.kms.Alias(f"a{index}", target_key_id=key.key_id, name=f"alias/k{index}")
            key.arn.apply(lambda arn: {"arn": arn})
        """,
    )
    # Big enough that garbage outlives the run unless the run collects it (the earlier
    # engine left about 100,000 objects behind per run of this program).
    threshold = gc.get_threshold()
    tracked = []
    for _ in range(4):
        plan_program(prog, "test")
        assert gc.isenabled() and gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
        tracked.append(len(gc.get_objects()))
    # Each run's garbage is collected at its end: what a run leaves behind (the plan,
    # the SDK's last settings) replaces the previous run's, so the heap stays level.
    assert max(tracked[1:]) - min(tracked[1:]) < 1000, tracked


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["plan", "--stack", "dev", "--program", "{folder}"],
            "{folder}: no Pulumi.yaml here; --program must name a Pulumi project folder",
        ),
        (
            ["policy", "--stack", "dev", "--pack", "{folder}"],
            "--pack {folder}: no PulumiPolicy.yaml there (not a policy pack folder)",
        ),
    ],
    ids=["program-without-pulumi-yaml", "pack-without-pulumipolicy-yaml"],
)
def test_a_folder_of_the_wrong_kind_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], expected: str
) -> None:
    assert main([part.format(folder=tmp_path) for part in command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {expected.format(folder=tmp_path)}"]


def test_two_resources_with_one_urn_fail_the_run_like_the_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi_aws as aws

        aws.s3.Bucket("data")
        aws.s3.Bucket("data", force_destroy=True)
        """,
    )
    # The SDK's mock monitor names the root Stack in its children's URNs (the CLI does not).
    urn = "urn:pulumi:test::demo::pulumi:pulumi:Stack$aws:s3/bucket:Bucket::data"
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    assert info.value.lines == [
        f"__main__.py:5: Duplicate resource URN '{urn}' (also registered at __main__.py:4); "
        "try giving it a unique name"
    ]
    out = tmp_path / "o"
    assert main(["plan", "--stack", "test", "--program", str(prog), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {line}" for line in info.value.lines]
    assert not (out / "plan.json").exists()


def test_a_component_registering_one_child_name_twice_is_reported_where_it_does(
    tmp_path: Path,
) -> None:
    prog = make_program(
        tmp_path / "p",
        """
        import pulumi, pulumi_aws as aws
        from parts import Pair

        Pair("one")
        aws.sqs.Queue("q")
        """,
    )
    (prog / "parts.py").write_text(
        textwrap.dedent(
            """
            import pulumi, pulumi_aws as aws

            class Pair(pulumi.ComponentResource):
                def __init__(self, name, opts=None):
                    super().__init__("test:index:Pair", name, None, opts)
                    for _ in range(2):
                        aws.kms.Key(f"{name}-key", opts=pulumi.ResourceOptions(parent=self))
                    self.register_outputs({})
            """
        )
    )
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    assert info.value.lines == [
        "parts.py:8: Duplicate resource URN "
        "'urn:pulumi:test::demo::test:index:Pair$aws:kms/key:Key::one-key'; "
        "try giving it a unique name"
    ]
    # The failed run leaves nothing behind: the same folder plans once the names differ.
    (prog / "parts.py").write_text(
        (prog / "parts.py").read_text().replace('f"{name}-key"', 'f"{name}-key-{_}"')
    )
    plan = plan_program(prog, "test")
    assert {resource["name"] for resource in plan["resources"]} >= {"one-key-0", "one-key-1", "q"}
