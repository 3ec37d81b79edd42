"""Network component: zone-id subnets, NAT layout, endpoints, flow logs, locked default SG."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

import pytest

from components.network import Network, NetworkArgs, flow_log_role_policy
from components.subnet_plan import effective_zone_ids, nat_zone_ids, plan_subnets

KEY = "arn:aws:kms:me-central-1:123456789012:key/logs"
BASE_ARGS = NetworkArgs(
    region="me-central-1",
    zone_ids=("mec1-az1", "mec1-az2", "mec1-az3"),
    flow_logs_kms_key_arn=KEY,
    account_id="123456789012",
)


def _args(**overrides: Any) -> NetworkArgs:
    return dataclasses.replace(BASE_ARGS, **overrides)


def test_plan_subnets_do_not_overlap_and_stay_inside_the_vpc() -> None:
    plans = plan_subnets("10.40.0.0/16", ["mec1-az1", "mec1-az2", "mec1-az3"])
    vpc = ipaddress.ip_network("10.40.0.0/16")
    subnets = [
        ipaddress.ip_network(cidr)
        for plan in plans
        for cidr in (plan.nodes, plan.data, plan.public)
    ]
    assert all(subnet.subnet_of(vpc) for subnet in subnets)
    for index, subnet in enumerate(subnets):
        for other in subnets[index + 1 :]:
            assert not subnet.overlaps(other), (subnet, other)
    assert plans[0].nodes == "10.40.0.0/19"


def test_excluding_a_zone_keeps_the_other_cidrs() -> None:
    all_three = {
        p.zone_id: p for p in plan_subnets("10.40.0.0/16", ["mec1-az1", "mec1-az2", "mec1-az3"])
    }
    zones = effective_zone_ids(["mec1-az1", "mec1-az2", "mec1-az3"], ["mec1-az2"])
    assert zones == ["mec1-az1", "mec1-az3"]
    without = {p.zone_id: p for p in plan_subnets("10.40.0.0/16", zones)}
    assert without["mec1-az3"] == all_three["mec1-az3"]


@pytest.mark.parametrize(
    ("cidr", "zones", "message"),
    [
        ("10.0.0.0/8", ["mec1-az1"], "/16 to /20"),
        ("10.0.0.0/16", ["me-central-1a"], "not an availability-zone id"),
        ("10.0.0.0/16", ["mec1-az9"], "az1..az4"),
    ],
)
def test_plan_subnets_rejects_bad_input(cidr: str, zones: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_subnets(cidr, zones)


def test_excluding_every_zone_is_an_error() -> None:
    with pytest.raises(ValueError, match="no availability zone left"):
        effective_zone_ids(["mec1-az2"], ["mec1-az2"])


def test_nat_layout() -> None:
    assert nat_zone_ids(["mec1-az1", "mec1-az3"], per_zone=True) == ["mec1-az1", "mec1-az3"]
    assert nat_zone_ids(["mec1-az1", "mec1-az3"], per_zone=False) == ["mec1-az1"]


def test_flow_log_policy_is_scoped_to_its_log_group() -> None:
    arn = "arn:aws:logs:me-central-1:123456789012:log-group:/x"
    doc = flow_log_role_policy(arn)
    resources = doc["Statement"][0]["Resource"]
    assert resources == [arn, f"{arn}:log-stream:*"]
    assert "*" not in doc["Statement"][0]["Action"]


def test_network_resources(run_program) -> None:
    mocks = run_program(
        lambda: Network("core", _args(excluded_zone_ids=("mec1-az2",), nat_gateway_per_zone=True))
    )
    vpc = mocks.one("aws:ec2/vpc:Vpc", "core-vpc").inputs
    assert vpc["enableDnsSupport"] is True
    assert vpc["enableDnsHostnames"] is True

    subnets = mocks.of_type("aws:ec2/subnet:Subnet")
    assert all("availabilityZoneId" in s.inputs for s in subnets)
    assert not any("availabilityZone" in s.inputs for s in subnets)
    assert {s.inputs["availabilityZoneId"] for s in subnets} == {"mec1-az1", "mec1-az3"}
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    # nodes + data per zone, plus one NAT-only subnet per zone (per-zone NAT)
    assert len(subnets) == 6
    assert len(mocks.of_type("aws:ec2/natGateway:NatGateway")) == 2

    sg = mocks.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "core-default-sg")
    assert sg.inputs.get("ingress", []) == []
    assert sg.inputs.get("egress", []) == []

    endpoints = mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    gateways = {
        e.inputs["serviceName"] for e in endpoints if e.inputs["vpcEndpointType"] == "Gateway"
    }
    assert gateways == {"com.amazonaws.me-central-1.s3", "com.amazonaws.me-central-1.dynamodb"}
    interfaces = [e for e in endpoints if e.inputs["vpcEndpointType"] == "Interface"]
    names = {e.inputs["serviceName"].rsplit(".", 1)[-1] for e in interfaces}
    assert {"sts", "kms", "logs", "sqs", "ec2", "secretsmanager", "dkr", "api"} <= names
    assert all(e.inputs["privateDnsEnabled"] is True for e in interfaces)

    endpoint_sg = mocks.one("aws:ec2/securityGroup:SecurityGroup", "core-endpoints-sg").inputs
    (rule,) = endpoint_sg["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (443, 443, ["10.40.0.0/16"])

    log_group = mocks.one("aws:cloudwatch/logGroup:LogGroup", "core-flow-logs").inputs
    assert log_group["kmsKeyId"] == KEY
    assert log_group["retentionInDays"] == 365
    flow = mocks.one("aws:ec2/flowLog:FlowLog", "core-flow-log").inputs
    assert flow["trafficType"] == "ALL"
    role_policy = json.loads(
        mocks.one("aws:iam/rolePolicy:RolePolicy", "core-flow-logs-write").inputs["policy"]
    )
    assert role_policy["Statement"][0]["Resource"][0].endswith("/mlplatform/core/vpc-flow-logs")


def test_single_nat_in_dev(run_program) -> None:
    mocks = run_program(lambda: Network("core", _args()))
    assert len(mocks.of_type("aws:ec2/natGateway:NatGateway")) == 1
    routes = mocks.of_type("aws:ec2/routeTable:RouteTable")
    data_tables = [r for r in routes if "-data-rt-" in r.name]
    assert len(data_tables) == 3
    assert all(not r.inputs.get("routes") for r in data_tables), (
        "data subnets must have no default route"
    )
    public = [s for s in mocks.of_type("aws:ec2/subnet:Subnet") if "-nat-" in s.name]
    assert len(public) == 1


def test_children_are_parented_to_the_component(run_program) -> None:
    mocks = run_program(lambda: Network("core", _args()))
    custom = [r for r in mocks.resources if r.custom]
    assert custom
    for res in custom:
        assert res.urn, res.name
        assert "mlplatform:network:Network$" in res.urn, res.urn
        assert res.name.startswith("core-"), res.name
