"""Network: a private VPC over the chosen availability-zone ids.

Nodes and data get their own private subnets in every zone; the only public subnets are
the small ones NAT gateways need. AWS APIs are reached through VPC endpoints, flow logs
go to a KMS-encrypted log group, and the default security group is emptied.

Zones are addressed by *zone id*, and each zone's CIDRs are fixed by its id; the plan
is computed in :mod:`components.subnet_plan` (its functions are importable from here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._util import (
    child_opts,
    encrypted_log_group,
    https_from_vpc_security_group,
    merge_tags,
    policy_document,
    to_json,
)
from components.subnet_plan import (
    SubnetPlan,
    effective_zone_ids,
    nat_zone_ids,
    plan_subnets,
)

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
        tags = merge_tags(args.tags)
        self.zone_ids = zones
        self.vpc_cidr = args.cidr_block

        vpc = self._vpc(name, args.cidr_block, tags)
        nat_zones = nat_zone_ids(zones, args.nat_gateway_per_zone)
        nat_subnets = self._subnets(
            name, vpc, plan_subnets(args.cidr_block, zones), nat_zones, tags
        )
        nat_gateways = self._nat_gateways(name, vpc, nat_subnets, tags)
        # Zones without a NAT gateway of their own share the first zone's.
        nat_of_zone = {zone: nat_gateways.get(zone) or nat_gateways[nat_zones[0]] for zone in zones}
        self.private_route_table_ids = self._private_route_tables(name, vpc, nat_of_zone, tags)
        self._gateway_endpoints(name, vpc, args.region, tags)
        self.endpoint_security_group_id = self._interface_endpoints(name, vpc, args, tags)
        self.flow_log_group_name = self._flow_logs(name, vpc, args, tags)
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

    def _vpc(self, name: str, cidr_block: str, tags: Mapping[str, str]) -> aws.ec2.Vpc:
        """The VPC, with its default security group emptied."""
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr_block,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=_name_tags(tags, f"{name}-vpc"),
            opts=child_opts(self),
        )
        # The default security group allows all traffic between its members; emptying it
        # means nothing can silently fall back to it (CIS AWS 5.4, FSBP EC2.2).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=_name_tags(tags, f"{name}-default-locked"),
            opts=child_opts(self),
        )
        return vpc

    def _subnet(
        self,
        resource_name: str,
        vpc: aws.ec2.Vpc,
        cidr_block: str,
        zone_id: str,
        tags: Mapping[str, str],
        extra_tags: Mapping[str, str],
    ) -> aws.ec2.Subnet:
        """A subnet in one zone (by id) whose instances get no public address."""
        return aws.ec2.Subnet(
            resource_name,
            vpc_id=vpc.id,
            cidr_block=cidr_block,
            availability_zone_id=zone_id,
            map_public_ip_on_launch=False,
            tags=_name_tags(tags, resource_name, extra_tags),
            opts=child_opts(self),
        )

    def _subnets(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        plans: Sequence[SubnetPlan],
        nat_zones: Sequence[str],
        tags: Mapping[str, str],
    ) -> dict[str, aws.ec2.Subnet]:
        """Node and data subnets of every zone (their ids kept), and the NAT-only subnets."""
        self.node_subnet_ids = {}
        self.data_subnet_ids = {}
        nat_subnets: dict[str, aws.ec2.Subnet] = {}
        for plan in plans:
            zone = plan.zone_id
            self.node_subnet_ids[zone] = self._subnet(
                f"{name}-nodes-{zone}",
                vpc,
                plan.nodes,
                zone,
                tags,
                # Internal load balancers only; no public ELB role anywhere.
                {"tier": "nodes", "kubernetes.io/role/internal-elb": "1"},
            ).id
            self.data_subnet_ids[zone] = self._subnet(
                f"{name}-data-{zone}", vpc, plan.data, zone, tags, {"tier": "data"}
            ).id
            if zone in nat_zones:
                # NAT gateways carry their own Elastic IP; nothing else lives here.
                nat_subnets[zone] = self._subnet(
                    f"{name}-nat-{zone}", vpc, plan.public, zone, tags, {"tier": "nat-only"}
                )
        return nat_subnets

    def _nat_gateways(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        nat_subnets: Mapping[str, aws.ec2.Subnet],
        tags: Mapping[str, str],
    ) -> dict[str, aws.ec2.NatGateway]:
        """The internet gateway, the NAT subnets' route table, and a NAT gateway per subnet."""
        internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=vpc.id,
            tags=_name_tags(tags, f"{name}-igw"),
            opts=child_opts(self),
        )
        public_table = aws.ec2.RouteTable(
            f"{name}-nat-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": internet_gateway.id}],
            tags=_name_tags(tags, f"{name}-nat-rt"),
            opts=child_opts(self),
        )
        nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        for zone_id, subnet in nat_subnets.items():
            aws.ec2.RouteTableAssociation(
                f"{name}-nat-rta-{zone_id}",
                subnet_id=subnet.id,
                route_table_id=public_table.id,
                opts=child_opts(self),
            )
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{zone_id}",
                domain="vpc",
                tags=_name_tags(tags, f"{name}-nat-eip-{zone_id}"),
                opts=child_opts(self),
            )
            nat_gateways[zone_id] = aws.ec2.NatGateway(
                f"{name}-nat-{zone_id}",
                allocation_id=eip.id,
                subnet_id=subnet.id,
                connectivity_type="public",
                tags=_name_tags(tags, f"{name}-nat-{zone_id}"),
                opts=child_opts(self, depends_on=[internet_gateway]),
            )
        return nat_gateways

    def _route_table(
        self,
        resource_prefix: str,
        zone_id: str,
        vpc: aws.ec2.Vpc,
        subnet_id: pulumi.Input[str],
        tags: Mapping[str, str],
        routes: Sequence[aws.ec2.RouteTableRouteArgsDict] | None = None,
    ) -> pulumi.Output[str]:
        """A route table for one subnet (``<prefix>-rt-<zone>``) and its association."""
        table = aws.ec2.RouteTable(
            f"{resource_prefix}-rt-{zone_id}",
            vpc_id=vpc.id,
            routes=routes,
            tags=_name_tags(tags, f"{resource_prefix}-rt-{zone_id}"),
            opts=child_opts(self),
        )
        aws.ec2.RouteTableAssociation(
            f"{resource_prefix}-rta-{zone_id}",
            subnet_id=subnet_id,
            route_table_id=table.id,
            opts=child_opts(self),
        )
        return table.id

    def _private_route_tables(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        nat_of_zone: Mapping[str, aws.ec2.NatGateway],
        tags: Mapping[str, str],
    ) -> list[pulumi.Output[str]]:
        """Per zone: node subnets route to the internet via NAT, data subnets nowhere."""
        table_ids: list[pulumi.Output[str]] = []
        for zone_id, nat in nat_of_zone.items():
            nodes_table = self._route_table(
                f"{name}-nodes",
                zone_id,
                vpc,
                self.node_subnet_ids[zone_id],
                tags,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
            )
            # Data subnets (caches, databases) have no default route at all: they reach
            # AWS only through the endpoints.
            data_table = self._route_table(
                f"{name}-data", zone_id, vpc, self.data_subnet_ids[zone_id], tags
            )
            table_ids += [nodes_table, data_table]
        return table_ids

    def _gateway_endpoints(
        self, name: str, vpc: aws.ec2.Vpc, region: str, tags: Mapping[str, str]
    ) -> None:
        """Gateway endpoints (S3, DynamoDB) on every private route table."""
        for service in GATEWAY_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-gw-{service}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=self.private_route_table_ids,
                tags=_name_tags(tags, f"{name}-gw-{service}"),
                opts=child_opts(self),
            )

    def _interface_endpoints(
        self, name: str, vpc: aws.ec2.Vpc, args: NetworkArgs, tags: Mapping[str, str]
    ) -> pulumi.Output[str]:
        """Interface endpoints in the node subnets behind an HTTPS-from-the-VPC group."""
        endpoint_group = https_from_vpc_security_group(
            self,
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            vpc_cidr=args.cidr_block,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            rule_description="HTTPS from the VPC",
            # Endpoints only answer; security groups are stateful, so no egress rule.
            egress=[],
            tags=tags,
        )
        endpoint_subnets = [self.node_subnet_ids[zone] for zone in self.zone_ids]
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
                security_group_ids=[endpoint_group.id],
                tags=_name_tags(tags, f"{name}-if-{service}"),
                opts=child_opts(self),
            )
        return endpoint_group.id

    def _flow_logs(
        self, name: str, vpc: aws.ec2.Vpc, args: NetworkArgs, tags: Mapping[str, str]
    ) -> pulumi.Output[str]:
        """Flow logs of all traffic into a KMS-encrypted log group; returns its name."""
        log_group = encrypted_log_group(
            self,
            f"{name}-flow-logs",
            log_group_name=f"/mlplatform/{name}/vpc-flow-logs",
            retention_days=args.flow_log_retention_days,
            kms_key_arn=args.flow_logs_kms_key_arn,
            tags=tags,
        )
        delivery_role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=to_json(
                flow_log_trust_policy(args.account_id, args.partition, args.region)
            ),
            tags=tags,
            opts=child_opts(self),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=delivery_role.id,
            policy=log_group.arn.apply(lambda arn: to_json(flow_log_role_policy(arn))),
            opts=child_opts(self),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=delivery_role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child_opts(self),
        )
        return log_group.name


def _name_tags(
    tags: Mapping[str, str], resource_name: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``tags`` plus a ``Name`` tag (what the console shows) and any extras."""
    return merge_tags(tags, {"Name": resource_name, **(extra or {})})
