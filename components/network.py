"""Network: a private VPC over the chosen availability-zone ids.

Nodes and data get their own private subnets in every zone; the only public subnets are
the small ones NAT gateways need. AWS APIs are reached through VPC endpoints, flow logs
go to a KMS-encrypted log group, and the default security group is emptied.

Zones are addressed by *zone id* (``mec1-az1``), never by name: names map to different
ids per account, and an operator who must drop a zone (mec1-az2 was lost in March 2026)
excludes it by id. Subnet CIDRs are derived from the zone id's number, not its position
in the list, so excluding one zone never renumbers (and so never replaces) the others.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import child_opts, merge_tags, policy_document, to_json

DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = (
    "ecr.api",
    "ecr.dkr",
    "sts",
    "kms",
    "logs",
    "sqs",
    "ec2",
    "elasticloadbalancing",
    "secretsmanager",
    "autoscaling",
    "ssm",
    "eks",
    "eks-auth",
    # S3 also as an interface endpoint with private DNS for every client (not only the
    # inbound resolver): pod traffic to S3 then targets VPC addresses, so a tenant's
    # NetworkPolicy can allow "443 to the VPC CIDR" instead of S3's public prefixes.
    "s3",
    # DynamoDB (SMB online store) likewise: the gateway endpoint routes to DynamoDB's
    # public addresses, which the tenant NetworkPolicy blocks; the interface endpoint
    # with private DNS puts it behind VPC addresses on 443.
    "dynamodb",
)
"""Interface endpoints a private EKS cluster with IRSA, ECR pulls and KMS needs."""

GATEWAY_ENDPOINTS: tuple[str, ...] = ("s3", "dynamodb")
"""Gateway endpoints: free, attached to every private route table."""

PRIVATE_DNS_FOR_ALL: frozenset[str] = frozenset({"s3", "dynamodb"})
"""Services with a gateway endpoint too: private DNS must answer every client, not only
the inbound resolver, so pods resolve the service to the interface endpoint."""

MAX_ZONE_SLOTS = 4
"""Zone-id numbers 1..4 each own a fixed slice of the VPC range."""

_ZONE_ID = re.compile(r"^[a-z0-9]+-az(\d+)$")


@dataclass(frozen=True)
class SubnetPlan:
    """CIDRs for one availability zone (pure data, computed by :func:`plan_subnets`)."""

    zone_id: str
    nodes: str
    data: str
    public: str


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of :class:`Network` (plain data, independent of any settings model)."""

    region: str
    """Region code, used for endpoint service names (``com.amazonaws.<region>.<svc>``)."""
    zone_ids: Sequence[str]
    """Availability-zone ids to span, e.g. ``("mec1-az1", "mec1-az3")``."""
    flow_logs_kms_key_arn: pulumi.Input[str]
    """KMS key for the flow-log group (its key policy must allow CloudWatch Logs)."""
    account_id: str
    """Account id, for the flow-log role's confused-deputy condition."""
    cidr_block: str = "10.40.0.0/16"
    """VPC range; /16 to /20."""
    excluded_zone_ids: Sequence[str] = ()
    """Zone ids never used, even if listed in ``zone_ids`` (impaired zones)."""
    nat_gateway_per_zone: bool = False
    """One NAT gateway per zone (prod) instead of one shared (dev/staging)."""
    interface_endpoints: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS
    """Interface endpoint service suffixes."""
    flow_log_retention_days: int = 365
    """CloudWatch retention for flow logs."""
    partition: str = "aws"
    """AWS partition."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags added to every resource."""


def zone_slot(zone_id: str) -> int:
    """The zero-based address slot of a zone id (``mec1-az3`` -> 2)."""
    match = _ZONE_ID.match(zone_id)
    if match is None:
        raise ValueError(
            f"zone id {zone_id!r} is not an availability-zone id (expected e.g. 'mec1-az1')"
        )
    number = int(match.group(1))
    if not 1 <= number <= MAX_ZONE_SLOTS:
        raise ValueError(f"zone id {zone_id!r}: only az1..az{MAX_ZONE_SLOTS} are supported")
    return number - 1


def effective_zone_ids(zone_ids: Sequence[str], excluded: Sequence[str]) -> list[str]:
    """The zone ids to use: listed, not excluded, deduplicated, in zone-id order."""
    chosen = sorted({z for z in zone_ids if z not in set(excluded)}, key=zone_slot)
    if not chosen:
        raise ValueError(
            f"no availability zone left: zone_ids={list(zone_ids)} excluded={list(excluded)}"
        )
    return chosen


def plan_subnets(cidr_block: str, zone_ids: Sequence[str]) -> list[SubnetPlan]:
    """Deterministic subnet CIDRs for each zone id.

    The VPC range is cut into eighths: eighths 0-3 are node subnets (one per zone slot,
    large because the VPC CNI gives every pod a VPC address), eighth 4 is cut into four
    data subnets, eighth 5 into sixteen tiny public subnets of which the first four are
    used (NAT only); eighths 6-7 are left for growth.
    """
    network = ipaddress.ip_network(cidr_block)
    if not isinstance(network, ipaddress.IPv4Network) or not 16 <= network.prefixlen <= 20:
        raise ValueError(f"cidr_block {cidr_block!r}: an IPv4 range from /16 to /20 is required")
    eighths = list(network.subnets(prefixlen_diff=3))
    data = list(eighths[4].subnets(prefixlen_diff=2))
    public = list(eighths[5].subnets(prefixlen_diff=4))
    plans = []
    for zone_id in zone_ids:
        slot = zone_slot(zone_id)
        plans.append(
            SubnetPlan(
                zone_id=zone_id,
                nodes=str(eighths[slot]),
                data=str(data[slot]),
                public=str(public[slot]),
            )
        )
    return plans


def nat_zone_ids(zone_ids: Sequence[str], per_zone: bool) -> list[str]:
    """Zones that get a NAT gateway: all of them, or the first one."""
    return list(zone_ids) if per_zone else [zone_ids[0]]


def flow_log_role_policy(log_group_arn: str) -> dict[str, Any]:
    """Least-privilege policy for the flow-log delivery role: write to one log group."""
    return policy_document(
        [
            {
                "Sid": "WriteFlowLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            }
        ]
    )


def flow_log_trust_policy(account_id: str, partition: str, region: str) -> dict[str, Any]:
    """Trust policy for VPC Flow Logs with confused-deputy conditions."""
    return policy_document(
        [
            {
                "Sid": "AllowFlowLogsAssume",
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"
                    },
                },
            }
        ]
    )


class Network(pulumi.ComponentResource):
    """A private VPC: node and data subnets per zone id, NAT, endpoints, flow logs."""

    vpc_id: pulumi.Output[str]
    """The VPC id."""
    vpc_cidr: str
    """The VPC range (plain: known before deployment)."""
    zone_ids: list[str]
    """Zone ids actually used, in zone-id order."""
    node_subnet_ids: dict[str, pulumi.Output[str]]
    """Node subnet id per zone id."""
    data_subnet_ids: dict[str, pulumi.Output[str]]
    """Data subnet id per zone id (no route to the internet)."""
    private_route_table_ids: list[pulumi.Output[str]]
    """Route tables of the node and data subnets."""
    endpoint_security_group_id: pulumi.Output[str]
    """Security group of the interface endpoints (443 from the VPC only)."""
    flow_log_group_name: pulumi.Output[str]
    """CloudWatch log group holding the VPC flow logs."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:network:Network", name, None, opts)
        zones = effective_zone_ids(args.zone_ids, args.excluded_zone_ids)
        plans = plan_subnets(args.cidr_block, zones)
        tags = merge_tags(args.tags)
        self.zone_ids = zones
        self.vpc_cidr = args.cidr_block

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=merge_tags(tags, {"Name": f"{name}-vpc"}),
            opts=child_opts(self),
        )
        # The default security group allows all traffic between its members; emptying it
        # means nothing can silently fall back to it (CIS AWS 5.4, FSBP EC2.2).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=merge_tags(tags, {"Name": f"{name}-default-locked"}),
            opts=child_opts(self),
        )

        self.node_subnet_ids = {}
        self.data_subnet_ids = {}
        public_subnets: dict[str, aws.ec2.Subnet] = {}
        nat_zones = nat_zone_ids(zones, args.nat_gateway_per_zone)
        for plan in plans:
            self.node_subnet_ids[plan.zone_id] = aws.ec2.Subnet(
                f"{name}-nodes-{plan.zone_id}",
                vpc_id=vpc.id,
                cidr_block=plan.nodes,
                availability_zone_id=plan.zone_id,
                map_public_ip_on_launch=False,
                tags=merge_tags(
                    tags,
                    {
                        "Name": f"{name}-nodes-{plan.zone_id}",
                        "tier": "nodes",
                        # Internal load balancers only; no public ELB role anywhere.
                        "kubernetes.io/role/internal-elb": "1",
                    },
                ),
                opts=child_opts(self),
            ).id
            self.data_subnet_ids[plan.zone_id] = aws.ec2.Subnet(
                f"{name}-data-{plan.zone_id}",
                vpc_id=vpc.id,
                cidr_block=plan.data,
                availability_zone_id=plan.zone_id,
                map_public_ip_on_launch=False,
                tags=merge_tags(tags, {"Name": f"{name}-data-{plan.zone_id}", "tier": "data"}),
                opts=child_opts(self),
            ).id
            if plan.zone_id in nat_zones:
                public_subnets[plan.zone_id] = aws.ec2.Subnet(
                    f"{name}-nat-{plan.zone_id}",
                    vpc_id=vpc.id,
                    cidr_block=plan.public,
                    availability_zone_id=plan.zone_id,
                    # NAT gateways carry their own Elastic IP; nothing else lives here.
                    map_public_ip_on_launch=False,
                    tags=merge_tags(
                        tags, {"Name": f"{name}-nat-{plan.zone_id}", "tier": "nat-only"}
                    ),
                    opts=child_opts(self),
                )

        igw = aws.ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=vpc.id,
            tags=merge_tags(tags, {"Name": f"{name}-igw"}),
            opts=child_opts(self),
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-nat-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=merge_tags(tags, {"Name": f"{name}-nat-rt"}),
            opts=child_opts(self),
        )
        nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        for zone_id, subnet in public_subnets.items():
            aws.ec2.RouteTableAssociation(
                f"{name}-nat-rta-{zone_id}",
                subnet_id=subnet.id,
                route_table_id=public_rt.id,
                opts=child_opts(self),
            )
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{zone_id}",
                domain="vpc",
                tags=merge_tags(tags, {"Name": f"{name}-nat-eip-{zone_id}"}),
                opts=child_opts(self),
            )
            nat_gateways[zone_id] = aws.ec2.NatGateway(
                f"{name}-nat-{zone_id}",
                allocation_id=eip.id,
                subnet_id=subnet.id,
                connectivity_type="public",
                tags=merge_tags(tags, {"Name": f"{name}-nat-{zone_id}"}),
                opts=child_opts(self, depends_on=[igw]),
            )

        self.private_route_table_ids = []
        for zone_id in zones:
            nat = nat_gateways.get(zone_id) or nat_gateways[nat_zones[0]]
            nodes_rt = aws.ec2.RouteTable(
                f"{name}-nodes-rt-{zone_id}",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags=merge_tags(tags, {"Name": f"{name}-nodes-rt-{zone_id}"}),
                opts=child_opts(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-nodes-rta-{zone_id}",
                subnet_id=self.node_subnet_ids[zone_id],
                route_table_id=nodes_rt.id,
                opts=child_opts(self),
            )
            # Data subnets (caches, databases) have no default route at all: they reach
            # AWS only through the endpoints.
            data_rt = aws.ec2.RouteTable(
                f"{name}-data-rt-{zone_id}",
                vpc_id=vpc.id,
                tags=merge_tags(tags, {"Name": f"{name}-data-rt-{zone_id}"}),
                opts=child_opts(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-data-rta-{zone_id}",
                subnet_id=self.data_subnet_ids[zone_id],
                route_table_id=data_rt.id,
                opts=child_opts(self),
            )
            self.private_route_table_ids += [nodes_rt.id, data_rt.id]

        for service in GATEWAY_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-gw-{service}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=self.private_route_table_ids,
                tags=merge_tags(tags, {"Name": f"{name}-gw-{service}"}),
                opts=child_opts(self),
            )

        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            ingress=[
                {
                    "description": "HTTPS from the VPC",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": [args.cidr_block],
                }
            ],
            # Endpoints only answer; security groups are stateful, so no egress rule.
            egress=[],
            tags=merge_tags(tags, {"Name": f"{name}-endpoints-sg"}),
            opts=child_opts(self),
        )
        self.endpoint_security_group_id = endpoint_sg.id
        endpoint_subnets = [self.node_subnet_ids[z] for z in zones]
        for service in args.interface_endpoints:
            dns_options: aws.ec2.VpcEndpointDnsOptionsArgs | None = None
            if service in PRIVATE_DNS_FOR_ALL:
                dns_options = aws.ec2.VpcEndpointDnsOptionsArgs(
                    private_dns_only_for_inbound_resolver_endpoint=False
                )
            aws.ec2.VpcEndpoint(
                f"{name}-if-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                dns_options=dns_options,
                subnet_ids=endpoint_subnets,
                security_group_ids=[endpoint_sg.id],
                tags=merge_tags(tags, {"Name": f"{name}-if-{service}"}),
                opts=child_opts(self),
            )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/mlplatform/{name}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.flow_logs_kms_key_arn,
            tags=tags,
            opts=child_opts(self),
        )
        flow_role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=to_json(
                flow_log_trust_policy(args.account_id, args.partition, args.region)
            ),
            tags=tags,
            opts=child_opts(self),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=flow_role.id,
            policy=log_group.arn.apply(lambda arn: to_json(flow_log_role_policy(arn))),
            opts=child_opts(self),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=flow_role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child_opts(self),
        )
        self.flow_log_group_name = log_group.name
        self.vpc_id = vpc.id

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "vpcCidr": self.vpc_cidr,
                "zoneIds": self.zone_ids,
                "nodeSubnetIds": self.node_subnet_ids,
                "dataSubnetIds": self.data_subnet_ids,
                "endpointSecurityGroupId": self.endpoint_security_group_id,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )
