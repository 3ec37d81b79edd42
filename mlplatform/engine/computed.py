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
from typing import Any

from mlplatform.engine import aws_regions
from mlplatform.engine.cloud import EKS_CA_DATA, CloudContext, digest
from mlplatform.engine.computed_aws import AWS_SERVICE_OUTPUTS
from mlplatform.engine.computed_kubernetes import KUBERNETES_OUTPUTS
from mlplatform.engine.new_resource import NewResource, OutputHandler, given_name

__all__ = ["OUTPUTS", "NewResource", "OutputHandler", "answer_for", "resource_outputs"]


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
    *,
    preview: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The id and the state the provider would report after creating this resource.

    In a ``preview`` the resource is not created: the id is unknown (``""``) and the state
    holds the inputs and what the provider's ``Check`` fills in (auto-names, the region,
    ``tagsAll``); every other output is left out, which the SDK reads as unknown.
    """
    resource = NewResource(type_, name, urn, inputs, preview=preview)
    is_aws = resource.package == "aws"
    if is_aws:
        _aws_defaults(resource, ctx, provider_ref)
    else:
        # Where a Kubernetes load balancer lands: the stack's AWS region.
        resource.region = ctx.default_region
    handler = answer_for(type_)
    if handler is not None:
        handler(resource)
    if is_aws:
        _aws_finish(resource)
    if preview:
        # The inputs as given (a handler may have filled computed parts into them), and
        # what Check fills in.
        checked = {
            key: resource.state[key] for key in resource.known_at_preview if key in resource.state
        }
        return "", {**inputs, **checked}
    if type_ == "aws:eks/cluster:Cluster":
        ctx.eks_clusters[(resource.region, str(resource.id))] = resource.state
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
    resource.partition = aws_regions.partition_of(resource.region).name
    resource.known_at_preview.update(("region", "tagsAll"))
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
    resource.arn = resource.arn_of(resource.module, f"{arn_kind}/{resource.id}")


def _aws_finish(resource: NewResource) -> None:
    """``arn``, ``name`` (S3 aside) and ``id`` in the state, unless the inputs set them."""
    resource.state.setdefault("arn", resource.arn)
    if "name" not in resource.state and resource.module != "s3":
        resource_id = resource.id
        is_plain = (
            isinstance(resource_id, str) and "/" not in resource_id and ":" not in resource_id
        )
        resource.state["name"] = resource_id if is_plain else resource.aws_auto_name()
        # The provider's Check auto-names a resource whose name was not given.
        resource.known_at_preview.add("name")
    resource.state["id"] = resource.id


# --- AWS, per type ----------------------------------------------------------------------


def _s3_bucket(resource: NewResource) -> None:
    bucket = given_name(resource, "bucket")
    resource.id = bucket
    resource.arn = f"arn:{resource.partition}:s3:::{bucket}"
    resource.state.update(
        bucket=bucket,
        bucketDomainName=f"{bucket}.s3.amazonaws.com",
        bucketRegionalDomainName=f"{bucket}.s3.{resource.region}.amazonaws.com",
        hostedZoneId="Z06143092I8HRXZRUZROF",
    )


def _iam_oidc_provider(resource: NewResource) -> None:
    # IAM is global: no region in its ARNs.
    url = str(resource.inputs.get("url", "")).removeprefix("https://")
    resource.id = resource.arn = (
        f"arn:{resource.partition}:iam::{resource.account}:oidc-provider/{url}"
    )


def _iam_named(resource: NewResource) -> None:
    """Policies, users, groups, instance profiles (and roles): ARN by path and name."""
    iam_name = given_name(resource)
    path = resource.inputs.get("path") or "/"
    kind = resource.kind
    resource.id = iam_name
    resource.arn = f"arn:{resource.partition}:iam::{resource.account}:{kind[0].lower() + kind[1:]}{path}{iam_name}"
    resource.state.update(name=iam_name)


def _iam_role(resource: NewResource) -> None:
    resource.state.update(uniqueId=f"AROA{resource.urn_digest.upper()}")
    _iam_named(resource)


def _iam_other(resource: NewResource) -> None:
    """Attachments, inline policies and the rest of IAM: no name of their own."""
    resource.id = f"{resource.name}-{resource.urn_digest[:8]}"
    resource.arn = (
        f"arn:{resource.partition}:iam::{resource.account}:{resource.kind.lower()}/{resource.id}"
    )


def _kms_key(resource: NewResource) -> None:
    urn, hex_digits = resource.urn, resource.urn_digest
    key_id = (
        f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[12:15]}"
        f"-a{digest(urn, 'k', length=3)}-{digest(urn, 'kk', length=12)}"
    )
    resource.id = key_id
    resource.arn = f"arn:{resource.partition}:kms:{resource.region}:{resource.account}:key/{key_id}"
    resource.state.update(keyId=key_id)


def _kms_alias(resource: NewResource) -> None:
    alias = resource.inputs.get("name") or f"alias/{resource.name}"
    arn_prefix = f"arn:{resource.partition}:kms:{resource.region}:{resource.account}"
    resource.id = alias
    resource.arn = f"{arn_prefix}:{alias}"
    resource.state.update(targetKeyArn=f"{arn_prefix}:key/{resource.inputs.get('targetKeyId', '')}")


def _eks_cluster(resource: NewResource) -> None:
    region, urn = resource.region, resource.urn
    cluster = given_name(resource)
    resource.id = cluster
    resource.arn = f"arn:{resource.partition}:eks:{region}:{resource.account}:cluster/{cluster}"
    oidc = digest(urn, "oidc", length=32).upper()
    vpc_config = dict(resource.inputs.get("vpcConfig") or {})
    vpc_config.setdefault("clusterSecurityGroupId", f"sg-{digest(urn, 'csg')}")
    vpc_config.setdefault("vpcId", f"vpc-{digest(urn, 'vpc')}")
    resource.state.update(
        name=cluster,
        endpoint=f"https://{oidc}.gr7.{region}.eks.amazonaws.com",
        certificateAuthority={"data": EKS_CA_DATA},
        identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}],
        status="ACTIVE",
        platformVersion="eks.1",
        clusterId=resource.urn_digest,
        vpcConfig=vpc_config,
    )


def _eks_node_group(resource: NewResource) -> None:
    group = given_name(resource, "nodeGroupName")
    cluster = resource.inputs.get("clusterName", "cluster")
    resource.id = f"{cluster}:{group}"
    resource.arn = (
        f"arn:{resource.partition}:eks:{resource.region}:{resource.account}:nodegroup/"
        f"{cluster}/{group}/{resource.urn_digest[:8]}"
    )
    resource.state.update(nodeGroupName=group, status="ACTIVE")


def _eks_addon(resource: NewResource) -> None:
    cluster, addon = resource.inputs.get("clusterName"), resource.inputs.get("addonName")
    resource.id = f"{cluster}:{addon}"
    resource.arn = (
        f"arn:{resource.partition}:eks:{resource.region}:{resource.account}:addon/"
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
    region = aws_regions.load(resource.region)
    zones = dict(region.zones) if region else {}
    by_id = {zone: name for name, zone in zones.items()}
    if zone_id in by_id:
        resource.state.setdefault("availabilityZone", by_id[zone_id])
    elif zone_name in zones:
        resource.state.setdefault("availabilityZoneId", zones[zone_name])
    elif not zone_id and not zone_name and zones:
        # AWS picks a zone for a subnet that names none.
        name, picked = sorted(zones.items())[resource.number("zone", modulo=len(zones))]
        resource.state.update(availabilityZone=name, availabilityZoneId=picked)


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
    queue = given_name(resource)
    if resource.inputs.get("fifoQueue") and not str(queue).endswith(".fifo"):
        queue = f"{queue}.fifo"
    resource.arn = f"arn:{resource.partition}:sqs:{region}:{account}:{queue}"
    resource.id = f"https://sqs.{region}.amazonaws.com/{account}/{queue}"
    resource.state.update(name=queue, url=resource.id)


def _log_group(resource: NewResource) -> None:
    group = given_name(resource)
    resource.id = group
    resource.arn = (
        f"arn:{resource.partition}:logs:{resource.region}:{resource.account}:log-group:{group}"
    )
    resource.state.update(name=group)


def _dynamodb_table(resource: NewResource) -> None:
    table = given_name(resource)
    resource.id = table
    resource.arn = (
        f"arn:{resource.partition}:dynamodb:{resource.region}:{resource.account}:table/{table}"
    )
    resource.state.update(name=table, streamArn=f"{resource.arn}/stream/2026-01-01T00:00:00.000")


def _secret(resource: NewResource) -> None:
    secret = given_name(resource)
    resource.arn = (
        f"arn:{resource.partition}:secretsmanager:{resource.region}:{resource.account}:secret:"
        f"{secret}-{resource.urn_digest[:6]}"
    )
    resource.id = resource.arn
    resource.state.update(name=secret)


def _elasticache_replication_group(resource: NewResource) -> None:
    group = given_name(resource, "replicationGroupId")
    region = aws_regions.load(resource.region)
    short = region.zones[0][1].split("-az")[0] if region else resource.region
    host = f"{group}.{resource.urn_digest[:6]}.{short}.cache.{resource.dns_suffix}"
    resource.id = group
    resource.arn = f"arn:{resource.partition}:elasticache:{resource.region}:{resource.account}:replicationgroup:{group}"
    resource.state.update(
        primaryEndpointAddress=f"master.{host}",
        readerEndpointAddress=f"replica.{host}",
        port=resource.inputs.get("port", 6379),
    )


def _ecr_repository(resource: NewResource) -> None:
    region, account = resource.region, resource.account
    repository = given_name(resource)
    resource.id = repository
    resource.arn = f"arn:{resource.partition}:ecr:{region}:{account}:repository/{repository}"
    resource.state.update(
        repositoryUrl=f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}",
        registryId=account,
    )


def _rds(resource: NewResource) -> None:
    """Every RDS type: ARN by kind; instances and clusters get their endpoint."""
    region = resource.region
    host = f"{resource.id}.{resource.urn_digest[:12]}.{region}.rds.amazonaws.com"
    resource.arn = f"arn:{resource.partition}:rds:{region}:{resource.account}:{resource.kind.lower()}:{resource.id}"
    resource.state.update(endpoint=f"{host}:5432", address=host)


def _lambda_function(resource: NewResource) -> None:
    region = resource.region
    resource.arn = (
        f"arn:{resource.partition}:lambda:{region}:{resource.account}:function:{resource.id}"
    )
    resource.state.update(
        invokeArn=(
            f"arn:{resource.partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{resource.arn}/invocations"
        ),
        qualifiedArn=f"{resource.arn}:$LATEST",
        qualifiedInvokeArn=(
            f"arn:{resource.partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{resource.arn}:$LATEST/invocations"
        ),
        version="$LATEST",
        lastModified="2026-01-01T00:00:00.000+0000",
        sourceCodeHash=digest(resource.urn, "code", length=44),
    )


# --- random, provider resources ---------------------------------------------------


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
    **AWS_SERVICE_OUTPUTS,
    **KUBERNETES_OUTPUTS,
    # random
    "random:index/randomPassword:RandomPassword": _random_text,
    "random:index/randomString:RandomString": _random_text,
    "random:index/randomId:RandomId": _random_id,
    "random:index/randomUuid:RandomUuid": _random_uuid,
    "random:index/randomInteger:RandomInteger": _random_integer,
}
"""Type token (or ``package:module``, or ``package``) -> the function that answers it."""
