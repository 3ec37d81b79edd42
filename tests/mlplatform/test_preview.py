"""Preview and update semantics: unknowns where the engine has them, computed outputs filled.

The shapes are those that broke on public example programs: ``.apply`` and
``Output.concat`` on an API endpoint, a Service's load balancer, a function passed as an
input; each planned in both modes, as ``pulumi preview`` and ``pulumi up`` would run it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlplatform.engine import plan_program
from mlplatform.engine.cloud import UNKNOWN

ProgramWriter = Callable[..., Path]

API_AND_SERVICE = """
import pulumi, pulumi_aws as aws, pulumi_kubernetes as k8s

role = aws.iam.Role("fn-role", assume_role_policy='{"Version": "2012-10-17", "Statement": []}')
fn = aws.lambda_.Function(
    "fn", role=role.arn, runtime="python3.12", handler="app.handler",
    code=pulumi.AssetArchive({".": pulumi.FileArchive("./app")}),
)
aws.lambda_.Permission("invoke", action="lambda:InvokeFunction", principal="apigateway.amazonaws.com",
                       function=fn)
api = aws.apigatewayv2.Api("api", protocol_type="HTTP", target=fn.invoke_arn)
# The callbacks of the examples: string arithmetic on outputs the engine fills (or not).
aws.ssm.Parameter("endpoint", type="String", insecure_value=api.api_endpoint.apply(lambda url: url + "/hello"))
aws.ssm.Parameter("joined", type="String", insecure_value=pulumi.Output.concat(api.execution_arn, "/*/*"))
web = k8s.core.v1.Service("web", spec={"type": "LoadBalancer", "ports": [{"port": 80}]})
host = web.status.apply(lambda status: status.load_balancer.ingress[0].hostname)
k8s.core.v1.ConfigMap("where", data={"host": host, "ip": web.spec.apply(lambda s: s.cluster_ip)})
# An output no offline answer fills: unknown, so the callback never sees None.
group = aws.ec2.SecurityGroup("sg")
aws.ssm.Parameter("owner", type="String", insecure_value=group.owner_id.apply(lambda owner: owner + "!"))
pulumi.export("url", api.api_endpoint)
"""


def named(plan: dict[str, Any], name: str) -> dict[str, Any]:
    found = [entry for entry in plan["resources"] if entry["name"] == name]
    assert len(found) == 1, [entry["name"] for entry in plan["resources"]]
    return found[0]


def test_update_fills_computed_outputs_in_the_stack_region(program: ProgramWriter) -> None:
    prog = program(API_AND_SERVICE, files={"app/app.py": "def handler(e, c): return 1\n"})
    plan = plan_program(prog, "test")
    assert "preview" not in plan
    endpoint = named(plan, "endpoint")["inputs"]["insecureValue"]
    assert endpoint.startswith("https://") and endpoint.endswith(
        ".execute-api.us-east-2.amazonaws.com/hello"
    )
    assert named(plan, "joined")["inputs"]["insecureValue"].startswith(
        "arn:aws:execute-api:us-east-2:123456789012:"
    )
    where = named(plan, "where")["inputs"]["data"]
    assert where["host"].endswith(".us-east-2.elb.amazonaws.com")
    assert where["ip"].startswith("172.20.")
    # A resource passed as an input is its id, as the engine hands it to a pack.
    function_name = named(plan, "fn")["id"]
    assert named(plan, "invoke")["inputs"]["function"] == function_name
    # Assets keep the engine's signature form (no object addresses in a plan).
    assert named(plan, "fn")["inputs"]["code"]["assets"]["."]["path"] == "./app"
    # What no answer fills is unknown, recorded as the engine's sentinel, never None.
    owner = named(plan, "owner")
    assert owner["inputs"]["insecureValue"] == UNKNOWN
    assert owner["unknownInputs"] == ["insecureValue"]
    assert "unknownInputs" not in named(plan, "endpoint")


def test_preview_leaves_outputs_of_new_resources_unknown(program: ProgramWriter) -> None:
    prog = program(API_AND_SERVICE, files={"app/app.py": "def handler(e, c): return 1\n"})
    plan = plan_program(prog, "test", preview=True)
    assert plan["preview"] is True
    for name in ("endpoint", "joined", "owner"):
        entry = named(plan, name)
        assert entry["inputs"]["insecureValue"] == UNKNOWN, name
        assert entry["unknownInputs"] == ["insecureValue"], name
        assert entry["inputs"]["type"] == "String"
    assert named(plan, "where")["unknownInputs"] == ["data.host"]
    # Not created yet: no ids, and the function handed over as its (unknown) id.
    assert named(plan, "fn")["id"] is None
    assert named(plan, "invoke")["inputs"]["function"] == UNKNOWN
    # Inputs the program knows stay known; Check's auto-names are known in a preview.
    assert named(plan, "web")["inputs"]["spec"]["type"] == "LoadBalancer"
    provider = next(entry for entry in plan["resources"] if entry["type"] == "pulumi:providers:aws")
    assert provider["id"] is None and provider["inputs"]["region"] == "us-east-2"


def test_auto_names_are_known_in_a_preview_and_ids_are_not(program: ProgramWriter) -> None:
    prog = program(
        """
        import pulumi_aws as aws, pulumi_kubernetes as k8s
        bucket = aws.s3.Bucket("data")
        aws.ssm.Parameter("by-name", type="String", insecure_value=bucket.bucket)
        aws.ssm.Parameter("by-id", type="String", insecure_value=bucket.id)
        ns = k8s.core.v1.Namespace("team")
        k8s.core.v1.ConfigMap("cm", metadata={"namespace": ns.metadata.name}, data={"a": "b"})
        """
    )
    plan = plan_program(prog, "test", preview=True)
    assert named(plan, "by-name")["inputs"]["insecureValue"].startswith("data-")
    assert named(plan, "by-id")["inputs"]["insecureValue"] == UNKNOWN
    assert named(plan, "cm")["inputs"]["metadata"]["namespace"].startswith("team-")
    update = plan_program(prog, "test")
    assert (
        named(update, "by-id")["inputs"]["insecureValue"]
        == named(update, "by-name")["inputs"]["insecureValue"]
    )


def test_kubernetes_reads_and_workload_status_are_filled(program: ProgramWriter) -> None:
    # The shape of kubernetes-py-helm-release-wordpress: a chart's Service read back by id.
    prog = program(
        """
        import pulumi, pulumi_kubernetes as k8s
        release = k8s.helm.v3.Release("wp", chart="wordpress", version="15.0.5")
        svc = k8s.core.v1.Service.get(
            "wp-svc", pulumi.Output.concat(release.status.namespace, "/", release.status.name)
        )
        app = k8s.apps.v1.Deployment("app", spec={
            "replicas": 3, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}},
                         "spec": {"containers": [{"name": "a", "image": "nginx:1.27"}]}}})
        k8s.core.v1.ConfigMap("facts", data={
            "ip": svc.spec.cluster_ip,
            "ready": app.status.apply(lambda s: str(s.ready_replicas)),
        })
        """
    )
    facts = named(plan_program(prog, "test"), "facts")["inputs"]["data"]
    assert facts["ready"] == "3" and facts["ip"].startswith("172.20.")
    preview = named(plan_program(prog, "test", preview=True), "facts")
    assert preview["unknownInputs"] == ["data.ip", "data.ready"]
