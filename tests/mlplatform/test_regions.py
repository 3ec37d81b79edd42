"""Any region: zones, offerings, partitions and the common EKS and IAM look-ups, offline.

Zones and offerings come from the pinned moto's data (``aws_regions.json``); the UAE keeps
its own dated file in ``contracts``. ARNs follow the region's partition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlplatform.engine import PlanError, aws_regions, plan_program

ProgramWriter = Callable[..., Path]

LOOKUPS = """
import json, pulumi, pulumi_aws as aws
zones = aws.get_availability_zones(state="available")
part = aws.get_partition()
me = aws.get_caller_identity()
offered = aws.ec2.get_instance_type_offerings(
    location_type="availability-zone-id",
    filters=[{"name": "instance-type", "values": ["g5.xlarge"]}],
)
bucket = aws.s3.Bucket("data")
aws.ssm.Parameter("facts", type="String", insecure_value=bucket.arn.apply(lambda arn: json.dumps({
    "names": zones.names, "ids": zones.zone_ids, "partition": part.partition,
    "dns": part.dns_suffix, "caller": me.arn, "bucket": arn, "g5": sorted(set(offered.locations)),
})))
"""


def facts(plan: dict[str, Any]) -> dict[str, Any]:
    entry = next(entry for entry in plan["resources"] if entry["name"] == "facts")
    loaded: dict[str, Any] = json.loads(entry["inputs"]["insecureValue"])
    return loaded


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (
            "us-east-2",
            {
                "names": ["us-east-2a", "us-east-2b", "us-east-2c"],
                "ids": ["use2-az1", "use2-az2", "use2-az3"],
                "partition": "aws",
                "g5": ["use2-az1", "use2-az2", "use2-az3"],
            },
        ),
        (
            "me-central-1",
            {
                "names": ["me-central-1a", "me-central-1b", "me-central-1c"],
                "ids": ["mec1-az1", "mec1-az2", "mec1-az3"],
                "partition": "aws",
                # The UAE's own dated file: g5 in az1 and az2 only.
                "g5": ["mec1-az1", "mec1-az2"],
            },
        ),
    ],
)
def test_zone_and_offering_lookups_are_answered_in_any_region(
    program: ProgramWriter, region: str, expected: dict[str, Any]
) -> None:
    answered = facts(plan_program(program(LOOKUPS, region=region), "test"))
    assert {key: answered[key] for key in expected} == expected
    assert answered["caller"].startswith("arn:aws:sts::123456789012:")


def test_china_answers_in_its_own_partition(program: ProgramWriter) -> None:
    body = LOOKUPS.replace("offered = aws", "offered = None and aws").replace(
        '"g5": sorted(set(offered.locations)),', ""
    )
    answered = facts(plan_program(program(body, region="cn-north-1"), "test"))
    assert answered["partition"] == "aws-cn" and answered["dns"] == "amazonaws.com.cn"
    assert answered["bucket"].startswith("arn:aws-cn:s3:::data-")
    assert answered["ids"] == ["cnn1-az1", "cnn1-az2"]


def test_every_commercial_region_has_zones() -> None:
    regions = aws_regions.known_regions()
    assert {"us-east-1", "eu-west-2", "me-south-1", "il-central-1", "mx-central-1"} <= set(regions)
    for region in regions:
        known = aws_regions.load(region)
        assert known is not None and known.zones, region
        assert all(
            zone_id.split("-az")[0] and name.startswith(region) for name, zone_id in known.zones
        )


def test_shipped_region_data_is_what_the_pinned_moto_gives() -> None:
    pytest.importorskip("moto")
    shipped = json.loads((Path(aws_regions.__file__).with_name(aws_regions.DATA_FILE)).read_text())
    assert aws_regions.build() == shipped


def test_eks_and_iam_lookups_of_public_examples_are_answered(program: ProgramWriter) -> None:
    prog = program(
        """
        import json, pulumi, pulumi_aws as aws
        role = aws.iam.Role("cluster", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
        cluster = aws.eks.Cluster("eks", role_arn=role.arn, vpc_config={"subnet_ids": ["subnet-1"]})
        looked_up = aws.eks.get_cluster_output(name=cluster.name)
        auth = aws.eks.get_cluster_auth_output(name=cluster.name)
        lambda_basic = aws.iam.get_policy(name="AWSLambdaBasicExecutionRole")
        aws.ssm.Parameter("facts", type="String", insecure_value=pulumi.Output.all(
            cluster.endpoint, looked_up.endpoint, auth.token,
            looked_up.identities[0].oidcs[0].issuer,
        ).apply(lambda v: json.dumps({
            "same_endpoint": v[0] == v[1], "token": v[2], "issuer": v[3],
            "policy": lambda_basic.arn,
        })))
        """
    )
    answered = facts(plan_program(prog, "test"))
    assert answered["same_endpoint"] is True
    assert answered["token"].startswith("k8s-aws-v1.")
    assert answered["issuer"].startswith("https://oidc.eks.us-east-2.amazonaws.com/id/")
    assert answered["policy"] == "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def test_a_region_nothing_is_known_of_names_the_call_not_our_source(
    program: ProgramWriter,
) -> None:
    prog = program(
        "import pulumi_aws as aws\n\nzones = aws.get_availability_zones()\n", region="xx-nowhere-1"
    )
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    message = str(info.value)
    assert message.startswith("__main__.py:3: data source 'aws:index/getAvailabilityZones")
    assert "'xx-nowhere-1' is not an AWS region" in message
    assert "mlplatform" not in message
