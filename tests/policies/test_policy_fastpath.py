"""The pack fast path answers exactly what pulumi-policy's own servicer answers."""

from __future__ import annotations

import pytest
from google.protobuf import json_format, struct_pb2
from policy_helpers import plan, resource, secure_bucket
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from mlplatform.policy import analyzer_requests
from policies.rules import _fastpath, residency, zero_trust

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _reads_unknown(args, report) -> None:
    if args.props.get("note") is not None:  # raises UnknownValueError on the sentinel
        report("note is set")


def _not_applicable(args, report) -> None:
    if args.resource_type.startswith("kubernetes:"):
        args.not_applicable("not for Kubernetes")


EXTRA = [
    ResourceValidationPolicy(name="reads-unknown", description="d", validate=_reads_unknown),
    ResourceValidationPolicy(name="not-applicable", description="d", validate=_not_applicable),
    StackValidationPolicy(
        name="stack-not-applicable", description="d", validate=lambda a, r: a.not_applicable("n/a")
    ),
]


def _requests():
    workload = resource(
        "kubernetes:apps/v1:Deployment",
        "app",
        {
            "metadata": {"namespace": "default"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "a",
                                "image": "nginx:1",
                                "securityContext": {"privileged": True},
                            }
                        ]
                    }
                }
            },
        },
    )
    unknown_bucket = resource(
        "aws:s3/bucket:Bucket", "u", {"region": UNKNOWN, "note": UNKNOWN, "tags": UNKNOWN}
    )
    ssh = resource(
        "aws:ec2/securityGroup:SecurityGroup",
        "sg",
        {
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
            ]
        },
    )
    doc = plan(*secure_bucket("eu", region="eu-west-1"), workload, unknown_bucket, ssh)
    return analyzer_requests.build_requests(doc)


def _configure(servicer) -> None:
    config = {
        "aws-security-group-no-world-ingress": analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.DISABLED
        ),
        "aws-resource-region-allowed": analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.REMEDIATE
        ),
        "container-image-registry-approved": analyzer_pb2.PolicyConfig(
            enforcementLevel=analyzer_pb2.ADVISORY,
            properties=struct_pb2.Struct(
                fields={
                    "approvedRegistries": struct_pb2.Value(
                        list_value=struct_pb2.ListValue(
                            values=[struct_pb2.Value(string_value="quay.io")]
                        )
                    )
                }
            ),
        ),
    }
    servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), None)


def _answers() -> list[dict]:
    requests = _requests()
    servicer = _PolicyAnalyzerServicer(
        "p", "1", [*residency.POLICIES, *zero_trust.POLICIES, *EXTRA], EnforcementLevel.MANDATORY
    )
    _configure(servicer)
    answers = [json_format.MessageToDict(servicer.Analyze(r, None)) for r in requests.analyze]
    answers.append(json_format.MessageToDict(servicer.AnalyzeStack(requests.stack, None)))
    return answers


@pytest.fixture
def original_servicer():
    _fastpath.uninstall()
    yield
    _fastpath.uninstall()


def test_fast_path_is_equivalent_to_the_original(original_servicer) -> None:
    expected = _answers()
    assert _fastpath.install() is True
    actual = _answers()
    assert actual == expected
    # The comparison is meaningful: the requests exercise violations, disabled,
    # remediate and advisory levels, unknown values and not-applicable answers.
    flat = str(expected)
    for needle in (
        "aws-resource-region-allowed",
        "can't run policy 'reads-unknown'",
        "not for Kubernetes",
        "stack-not-applicable",
        "container-image-registry-approved",
    ):
        assert needle in flat
    assert "aws-security-group-no-world-ingress" not in flat
    diagnostics = [d for answer in expected for d in answer.get("diagnostics", [])]
    image = next(d for d in diagnostics if d["policyName"] == "container-image-registry-approved")
    assert "enforcementLevel" not in image  # ADVISORY is the proto default (0)
    region = next(d for d in diagnostics if d["policyName"] == "aws-resource-region-allowed")
    assert region["enforcementLevel"] == "MANDATORY"  # remediate is reported as mandatory


def test_struct_conversion_matches_message_to_dict() -> None:
    value = {
        "s": "x",
        "n": 443,
        "f": 0.5,
        "b": False,
        "none": None,
        "list": [1, "a", {"k": [True, None]}, []],
        "nested": {"deeper": {"empty": {}, UNKNOWN: UNKNOWN}},
    }
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    converted = _fastpath.struct_to_dict(struct)
    assert converted == json_format.MessageToDict(struct)
    assert list(converted) == list(json_format.MessageToDict(struct))
    with pytest.raises(ValueError, match="Fail to serialize"):
        _fastpath.struct_to_dict(
            struct_pb2.Struct(fields={"x": struct_pb2.Value(number_value=float("inf"))})
        )
