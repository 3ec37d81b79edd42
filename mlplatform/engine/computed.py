"""Computed outputs: the id and state a provider reports after creating a resource.

One table, ``OUTPUTS``, maps a type token to a small function that fills in what the
provider would answer; a key may also name a module (``"aws:iam"``: every IAM type
without a row of its own) or a whole package (``"kubernetes"``). The most specific key
wins. To answer a new type, write a function and add its row.

Every AWS answer starts from the same defaults and ends the same way (``_aws_defaults``,
``_aws_finish``): the region and ``tagsAll`` in the state, an id (the EC2 prefix and a
digest, the ``name`` input or an auto-name) and an ARN of the usual shape, which the
type's function may replace; ``arn``, ``name`` and ``id`` are then filled into the state.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from contracts import regions
from mlplatform.engine.cloud import CloudContext, digest


@dataclass
class NewResource:
    """A resource being created: what the program asked for and the answer being filled in.

    ``id`` starts as the generic auto-name; ``region``, ``account`` and ``arn`` are set
    for AWS resources only.
    """

    type_: str
    name: str
    urn: str
    inputs: dict[str, Any]
    state: dict[str, Any] = field(init=False)
    id: Any = field(init=False)
    region: str = ""
    account: str = ""
    arn: str = ""

    def __post_init__(self) -> None:
        self.state = dict(self.inputs)
        self.id = self.auto_name()

    @property
    def package(self) -> str:
        """``aws`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[0]

    @property
    def module(self) -> str:
        """``s3`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[2].partition(":")[0].split("/")[0]

    @property
    def kind(self) -> str:
        """``Bucket`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[2].partition(":")[2]

    @cached_property
    def urn_digest(self) -> str:
        """The digest AWS-style ids and ARNs are made of."""
        return digest(self.urn)

    def auto_name(self, digits: int = 8) -> str:
        """The resource name with a suffix derived from the URN, where providers add a random one."""
        return f"{self.name}-{digest(self.urn, length=digits)}"

    def aws_auto_name(self) -> str:
        """The AWS provider's auto-name: a 7-character suffix."""
        return self.auto_name(7)


OutputHandler = Callable[[NewResource], None]


def answer_for(type_: str) -> OutputHandler | None:
    """The ``OUTPUTS`` function for ``type_``: its own row, else its module's, else its package's."""
    package, _, rest = type_.partition(":")
    module = rest.partition(":")[0].split("/")[0]
    return OUTPUTS.get(type_) or OUTPUTS.get(f"{package}:{module}") or OUTPUTS.get(package)


def resource_outputs(
    type_: str,
    name: str,
    urn: str,
    inputs: dict[str, Any],
    provider_ref: str | None,
    ctx: CloudContext,
) -> tuple[str, dict[str, Any]]:
    """The id and the state the provider would report after creating this resource."""
    resource = NewResource(type_, name, urn, inputs)
    is_aws = resource.package == "aws"
    if is_aws:
        _aws_defaults(resource, ctx, provider_ref)
    handler = answer_for(type_)
    if handler is not None:
        handler(resource)
    if is_aws:
        _aws_finish(resource)
    return str(resource.id), resource.state


# --- the frame of every AWS answer -----------------------------------------------------

_EC2_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/networkAcl:NetworkAcl": "acl",
    "aws:ec2/instance:Instance": "i",
    "aws:ec2/volume:Volume": "vol",
    "aws:ec2/vpcSecurityGroupIngressRule:VpcSecurityGroupIngressRule": "sgr",
    "aws:ec2/vpcSecurityGroupEgressRule:VpcSecurityGroupEgressRule": "sgr",
}


def _aws_defaults(resource: NewResource, ctx: CloudContext, provider_ref: str | None) -> None:
    """Region, account, ``tagsAll``, and the id and ARN most AWS resources get."""
    resource.region = ctx.region_for(resource.inputs, provider_ref)
    resource.account = ctx.account_id
    tags = resource.inputs.get("tags")
    resource.state.setdefault("region", resource.region)
    resource.state.setdefault("tagsAll", dict(tags) if isinstance(tags, dict) else {})
    if resource.type_ in _EC2_ID_PREFIX:
        resource.id = f"{_EC2_ID_PREFIX[resource.type_]}-{resource.urn_digest}"
    else:
        given = resource.inputs.get("name")
        resource.id = given if isinstance(given, str) else resource.aws_auto_name()
    kind = resource.kind
    # EC2 ARNs spell the kind in lower case (``natgateway/nat-...``), the others in camelCase.
    arn_kind = kind.lower() if resource.module == "ec2" else kind[0].lower() + kind[1:]
    resource.arn = (
        f"arn:aws:{resource.module}:{resource.region}:{resource.account}:{arn_kind}/{resource.id}"
    )


def _aws_finish(resource: NewResource) -> None:
    """``arn``, ``name`` (S3 aside) and ``id`` in the state, unless the inputs set them."""
    resource.state.setdefault("arn", resource.arn)
    if "name" not in resource.state and resource.module != "s3":
        resource_id = resource.id
        is_plain = (
            isinstance(resource_id, str) and "/" not in resource_id and ":" not in resource_id
        )
        resource.state["name"] = resource_id if is_plain else resource.aws_auto_name()
    resource.state["id"] = resource.id


def _given_name(resource: NewResource, key: str = "name") -> Any:
    """The name the program gave in input ``key``, else the AWS auto-name."""
    return resource.inputs.get(key) or resource.aws_auto_name()


# --- AWS, per type ----------------------------------------------------------------------


def _s3_bucket(resource: NewResource) -> None:
    bucket = _given_name(resource, "bucket")
    resource.id = bucket
    resource.arn = f"arn:aws:s3:::{bucket}"
    resource.state.update(
        bucket=bucket,
        bucketDomainName=f"{bucket}.s3.amazonaws.com",
        bucketRegionalDomainName=f"{bucket}.s3.{resource.region}.amazonaws.com",
        hostedZoneId="Z06143092I8HRXZRUZROF",
    )


def _iam_oidc_provider(resource: NewResource) -> None:
    # IAM is global: no region in its ARNs.
    url = str(resource.inputs.get("url", "")).removeprefix("https://")
    resource.id = resource.arn = f"arn:aws:iam::{resource.account}:oidc-provider/{url}"


def _iam_named(resource: NewResource) -> None:
    """Policies, users, groups, instance profiles (and roles): ARN by path and name."""
    iam_name = _given_name(resource)
    path = resource.inputs.get("path") or "/"
    kind = resource.kind
    resource.id = iam_name
    resource.arn = f"arn:aws:iam::{resource.account}:{kind[0].lower() + kind[1:]}{path}{iam_name}"
    resource.state.update(name=iam_name)


def _iam_role(resource: NewResource) -> None:
    resource.state.update(uniqueId=f"AROA{resource.urn_digest.upper()}")
    _iam_named(resource)


def _iam_other(resource: NewResource) -> None:
    """Attachments, inline policies and the rest of IAM: no name of their own."""
    resource.id = f"{resource.name}-{resource.urn_digest[:8]}"
    resource.arn = f"arn:aws:iam::{resource.account}:{resource.kind.lower()}/{resource.id}"


def _kms_key(resource: NewResource) -> None:
    urn, hex_digits = resource.urn, resource.urn_digest
    key_id = (
        f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[12:15]}"
        f"-a{digest(urn, 'k', length=3)}-{digest(urn, 'kk', length=12)}"
    )
    resource.id = key_id
    resource.arn = f"arn:aws:kms:{resource.region}:{resource.account}:key/{key_id}"
    resource.state.update(keyId=key_id)


def _kms_alias(resource: NewResource) -> None:
    alias = resource.inputs.get("name") or f"alias/{resource.name}"
    arn_prefix = f"arn:aws:kms:{resource.region}:{resource.account}"
    resource.id = alias
    resource.arn = f"{arn_prefix}:{alias}"
    resource.state.update(targetKeyArn=f"{arn_prefix}:key/{resource.inputs.get('targetKeyId', '')}")


_EKS_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "-----END CERTIFICATE-----\n"
)


def _eks_cluster(resource: NewResource) -> None:
    region, urn = resource.region, resource.urn
    cluster = _given_name(resource)
    resource.id = cluster
    resource.arn = f"arn:aws:eks:{region}:{resource.account}:cluster/{cluster}"
    oidc = digest(urn, "oidc", length=32).upper()
    vpc_config = dict(resource.inputs.get("vpcConfig") or {})
    vpc_config.setdefault("clusterSecurityGroupId", f"sg-{digest(urn, 'csg')}")
    vpc_config.setdefault("vpcId", f"vpc-{digest(urn, 'vpc')}")
    resource.state.update(
        name=cluster,
        endpoint=f"https://{oidc}.gr7.{region}.eks.amazonaws.com",
        certificateAuthority={"data": base64.b64encode(_EKS_CA_PEM.encode()).decode()},
        identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}],
        status="ACTIVE",
        platformVersion="eks.1",
        clusterId=resource.urn_digest,
        vpcConfig=vpc_config,
    )


def _eks_node_group(resource: NewResource) -> None:
    group = _given_name(resource, "nodeGroupName")
    cluster = resource.inputs.get("clusterName", "cluster")
    resource.id = f"{cluster}:{group}"
    resource.arn = (
        f"arn:aws:eks:{resource.region}:{resource.account}:nodegroup/"
        f"{cluster}/{group}/{resource.urn_digest[:8]}"
    )
    resource.state.update(nodeGroupName=group, status="ACTIVE")


def _eks_addon(resource: NewResource) -> None:
    cluster, addon = resource.inputs.get("clusterName"), resource.inputs.get("addonName")
    resource.id = f"{cluster}:{addon}"
    resource.arn = (
        f"arn:aws:eks:{resource.region}:{resource.account}:addon/"
        f"{cluster}/{addon}/{resource.urn_digest[:8]}"
    )


def _ec2_vpc(resource: NewResource) -> None:
    urn = resource.urn
    resource.state.update(
        defaultSecurityGroupId=f"sg-{digest(urn, 'dsg')}",
        defaultNetworkAclId=f"acl-{digest(urn, 'acl')}",
        defaultRouteTableId=f"rtb-{digest(urn, 'rtb')}",
        mainRouteTableId=f"rtb-{digest(urn, 'rtb')}",
        ownerId=resource.account,
    )


def _ec2_subnet(resource: NewResource) -> None:
    """The zone name for a zone id, or the zone id for a zone name, from the offering list."""
    zone_id = resource.inputs.get("availabilityZoneId")
    zone_name = resource.inputs.get("availabilityZone")
    offers = regions.load(resource.region)
    if zone_id and offers and zone_id in offers.zone_ids:
        resource.state.setdefault("availabilityZone", offers.zone_name(zone_id))
    elif zone_name and offers:
        matching = [zone.zone_id for zone in offers.zones if zone.name == zone_name]
        if matching:
            resource.state.setdefault("availabilityZoneId", matching[0])


def _ec2_launch_template(resource: NewResource) -> None:
    resource.state.update(latestVersion=1, defaultVersion=1)


def _ec2_nat_gateway(resource: NewResource) -> None:
    resource.state.update(privateIp="10.0.0.10", publicIp="203.0.113.10")


def _ec2_eip(resource: NewResource) -> None:
    resource.state.update(publicIp="203.0.113.10", allocationId=resource.id)


def _ec2_vpc_endpoint(resource: NewResource) -> None:
    service = str(resource.inputs.get("serviceName", ""))
    resource.state.update(
        prefixListId=f"pl-{resource.urn_digest[:8]}",
        dnsEntries=[{"dnsName": f"{resource.id}.{service}", "hostedZoneId": "Z0"}],
    )


def _sqs_queue(resource: NewResource) -> None:
    region, account = resource.region, resource.account
    queue = _given_name(resource)
    if resource.inputs.get("fifoQueue") and not str(queue).endswith(".fifo"):
        queue = f"{queue}.fifo"
    resource.arn = f"arn:aws:sqs:{region}:{account}:{queue}"
    resource.id = f"https://sqs.{region}.amazonaws.com/{account}/{queue}"
    resource.state.update(name=queue, url=resource.id)


def _log_group(resource: NewResource) -> None:
    group = _given_name(resource)
    resource.id = group
    resource.arn = f"arn:aws:logs:{resource.region}:{resource.account}:log-group:{group}"
    resource.state.update(name=group)


def _dynamodb_table(resource: NewResource) -> None:
    table = _given_name(resource)
    resource.id = table
    resource.arn = f"arn:aws:dynamodb:{resource.region}:{resource.account}:table/{table}"
    resource.state.update(name=table, streamArn=f"{resource.arn}/stream/2026-01-01T00:00:00.000")


def _secret(resource: NewResource) -> None:
    secret = _given_name(resource)
    resource.arn = (
        f"arn:aws:secretsmanager:{resource.region}:{resource.account}:secret:"
        f"{secret}-{resource.urn_digest[:6]}"
    )
    resource.id = resource.arn
    resource.state.update(name=secret)


def _elasticache_replication_group(resource: NewResource) -> None:
    group = _given_name(resource, "replicationGroupId")
    host = f"{group}.{resource.urn_digest[:6]}.mec1.cache.amazonaws.com"
    resource.id = group
    resource.arn = (
        f"arn:aws:elasticache:{resource.region}:{resource.account}:replicationgroup:{group}"
    )
    resource.state.update(
        primaryEndpointAddress=f"master.{host}",
        readerEndpointAddress=f"replica.{host}",
        port=resource.inputs.get("port", 6379),
    )


def _ecr_repository(resource: NewResource) -> None:
    region, account = resource.region, resource.account
    repository = _given_name(resource)
    resource.id = repository
    resource.arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
    resource.state.update(
        repositoryUrl=f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}",
        registryId=account,
    )


def _rds(resource: NewResource) -> None:
    """Every RDS type: ARN by kind; instances and clusters get their endpoint."""
    region = resource.region
    host = f"{resource.id}.{resource.urn_digest[:12]}.{region}.rds.amazonaws.com"
    resource.arn = f"arn:aws:rds:{region}:{resource.account}:{resource.kind.lower()}:{resource.id}"
    resource.state.update(endpoint=f"{host}:5432", address=host)


def _lambda_function(resource: NewResource) -> None:
    region = resource.region
    resource.arn = f"arn:aws:lambda:{region}:{resource.account}:function:{resource.id}"
    resource.state.update(
        invokeArn=(
            f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{resource.arn}/invocations"
        )
    )


# --- Kubernetes, random, provider resources --------------------------------------------


def _kubernetes_object(resource: NewResource) -> None:
    """The Kubernetes provider auto-names objects without ``metadata.name``."""
    metadata = dict(resource.inputs.get("metadata") or {})
    if not metadata.get("name"):
        metadata["name"] = resource.auto_name()
    resource.state["metadata"] = metadata
    namespace = metadata.get("namespace")
    resource.id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]


def _helm_release(resource: NewResource) -> None:
    release = resource.inputs.get("name") or resource.auto_name()
    namespace = resource.inputs.get("namespace") or "default"
    resource.state.update(
        name=release, status={"name": release, "namespace": namespace, "status": "deployed"}
    )
    resource.id = f"{namespace}/{release}"


_RANDOM_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _random_text(resource: NewResource) -> None:
    """RandomPassword and RandomString: a deterministic value of the requested length."""
    length = int(resource.inputs.get("length") or 16)
    seed = hashlib.sha256(resource.urn.encode()).digest()
    while len(seed) < length:
        seed += hashlib.sha256(seed).digest()
    value = "".join(_RANDOM_ALPHABET[byte % len(_RANDOM_ALPHABET)] for byte in seed[:length])
    resource.state.update(result=value, bcryptHash=f"$2a$10${digest(value, length=53)}")
    resource.id = f"offline-{digest(resource.urn, length=8)}"


def _random_id(resource: NewResource) -> None:
    byte_length = int(resource.inputs.get("byteLength") or 8)
    raw = hashlib.sha256(resource.urn.encode()).digest()[:byte_length]
    resource.state.update(
        hex=raw.hex(),
        b64Url=base64.urlsafe_b64encode(raw).decode().rstrip("="),
        dec=str(int.from_bytes(raw, "big")),
    )
    resource.state["b64Std"] = base64.b64encode(raw).decode()
    resource.id = resource.state["b64Url"]


def _random_uuid(resource: NewResource) -> None:
    hex_digits = digest(resource.urn, length=32)
    value = (
        f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[13:16]}"
        f"-a{hex_digits[17:20]}-{hex_digits[20:32]}"
    )
    resource.state.update(result=value)
    resource.id = value


def _random_integer(resource: NewResource) -> None:
    low, high = int(resource.inputs.get("min", 0)), int(resource.inputs.get("max", 100))
    number = low + int(digest(resource.urn), 16) % (high - low + 1)
    resource.state.update(result=number)
    resource.id = str(number)


def _provider(resource: NewResource) -> None:
    """Explicit provider resources: an id like the engine's, the inputs as state."""
    resource.id = f"{digest(resource.urn, length=8)}-{digest(resource.urn, 'p', length=4)}"


OUTPUTS: dict[str, OutputHandler] = {
    "pulumi:providers": _provider,
    # AWS
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketV2:BucketV2": _s3_bucket,
    "aws:iam": _iam_other,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _iam_oidc_provider,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_named,
    "aws:iam/user:User": _iam_named,
    "aws:iam/group:Group": _iam_named,
    "aws:iam/instanceProfile:InstanceProfile": _iam_named,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/replicaKey:ReplicaKey": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:eks/addon:Addon": _eks_addon,
    "aws:ec2/vpc:Vpc": _ec2_vpc,
    "aws:ec2/subnet:Subnet": _ec2_subnet,
    "aws:ec2/launchTemplate:LaunchTemplate": _ec2_launch_template,
    "aws:ec2/natGateway:NatGateway": _ec2_nat_gateway,
    "aws:ec2/eip:Eip": _ec2_eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _ec2_vpc_endpoint,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:elasticache/replicationGroup:ReplicationGroup": _elasticache_replication_group,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:rds": _rds,
    "aws:lambda/function:Function": _lambda_function,
    # Kubernetes
    "kubernetes": _kubernetes_object,
    "kubernetes:helm.sh": _helm_release,
    # random
    "random:index/randomPassword:RandomPassword": _random_text,
    "random:index/randomString:RandomString": _random_text,
    "random:index/randomId:RandomId": _random_id,
    "random:index/randomUuid:RandomUuid": _random_uuid,
    "random:index/randomInteger:RandomInteger": _random_integer,
}
"""Type token (or ``package:module``, or ``package``) -> the function that answers it."""
