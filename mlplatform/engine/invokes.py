"""Data sources answered offline, as the cloud would answer them, deterministically.

One table, ``INVOKES``, maps an invoke token to a small function of the invoke's
arguments, the cloud context and the region the call is made in (from its provider or
its ``region`` argument). A function raises ``UnanswerableInvokeError`` where a faithful
answer is not known offline; a token without a row is reported the same way.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from mlplatform.engine import aws_regions
from mlplatform.engine.cloud import EKS_CA_DATA, CloudContext, UnanswerableInvokeError, digest

InvokeHandler = Callable[[dict[str, Any], CloudContext, str | None], dict[str, Any]]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _one_or_many(values: list[Any]) -> Any:
    # The AWS provider renders single-element lists as a bare string.
    if len(values) == 1:
        return values[0]
    return sorted(values) if all(isinstance(value, str) for value in values) else values


# --- aws.iam.get_policy_document ---------------------------------------------------------


def _principals(principals: list[dict[str, Any]]) -> Any:
    """``Principal``: ``"*"`` for everyone, else identifiers by principal type."""
    by_type: dict[Any, list[Any]] = {}
    for principal in principals:
        identifiers = _as_list(principal.get("identifiers"))
        if principal.get("type") == "*" and identifiers == ["*"]:
            return "*"
        by_type.setdefault(principal.get("type"), []).extend(identifiers)
    return {kind: _one_or_many(identifiers) for kind, identifiers in by_type.items()}


def _statement(statement: dict[str, Any]) -> dict[str, Any]:
    """One statement of ``statements`` as the provider writes it into the JSON."""
    rendered: dict[str, Any] = {}
    if statement.get("sid"):
        rendered["Sid"] = statement["sid"]
    rendered["Effect"] = statement.get("effect") or "Allow"
    for key, wire in (
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ):
        values = _as_list(statement.get(key))
        if values:
            rendered[wire] = _one_or_many(values)
    for key, wire in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
        principals = _as_list(statement.get(key))
        if principals:
            rendered[wire] = _principals(principals)
    conditions: dict[str, dict[str, Any]] = {}
    for condition in _as_list(statement.get("conditions")):
        conditions.setdefault(condition["test"], {})[condition["variable"]] = _one_or_many(
            _as_list(condition.get("values"))
        )
    if conditions:
        rendered["Condition"] = conditions
    return rendered


def render_policy_document(args: dict[str, Any]) -> dict[str, Any]:
    """What ``aws.iam.get_policy_document`` renders, as the provider renders it."""
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    merged: list[dict[str, Any]] = []
    for source in _as_list(args.get("sourcePolicyDocuments")):
        merged.extend(_as_list(json.loads(source).get("Statement")))
    statements = [_statement(statement) for statement in _as_list(args.get("statements"))]
    # Statements of the source documents give way to ours with the same Sid.
    own_sids = {statement.get("Sid") for statement in statements if statement.get("Sid")}
    document["Statement"] = [
        statement
        for statement in merged
        if statement.get("Sid") not in own_sids or not statement.get("Sid")
    ] + statements
    text = json.dumps(document, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(document, separators=(",", ":")),
        "id": digest(text, length=10),
    }


# --- the answers ------------------------------------------------------------------------


def _region_name(ctx: CloudContext, region: str | None) -> str:
    return region or ctx.default_region


def _known_region(region_name: str) -> aws_regions.Region:
    known = aws_regions.load(region_name)
    if known is None:
        raise UnanswerableInvokeError(
            f"'{region_name}' is not an AWS region whose zones are known offline; "
            f"known: {', '.join(aws_regions.known_regions())}"
        )
    return known


_ZONE_FILTERS = {"zone-name": 0, "zone-id": 1}


def _zone_matches(zone: tuple[str, str], region_name: str, filters: list[Any]) -> bool:
    """``filters`` of the EC2 API (zone-name, zone-id, region-name, state...) on one zone."""
    for zone_filter in filters:
        values = [str(value) for value in _as_list(zone_filter.get("values"))]
        name = zone_filter.get("name")
        if name in _ZONE_FILTERS:
            candidate = zone[_ZONE_FILTERS[name]]
        elif name in ("region-name", "group-name", "network-border-group"):
            candidate = region_name
        elif name == "state":
            candidate = "available"
        elif name == "opt-in-status":
            candidate = "opt-in-not-required"
        elif name == "zone-type":
            candidate = "availability-zone"
        else:
            continue
        if not any(fnmatch.fnmatchcase(candidate, value) for value in values):
            return False
    return True


def _zones(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = _region_name(ctx, region)
    known = _known_region(region_name)
    state = args.get("state")
    zones = [
        zone
        for zone in known.zones
        if zone[1] not in _as_list(args.get("excludeZoneIds"))
        and zone[0] not in _as_list(args.get("excludeNames"))
        and _zone_matches(zone, region_name, _as_list(args.get("filters")))
        and state in (None, "", "available")
    ]
    return {
        "id": region_name,
        "names": [name for name, _ in zones],
        "zoneIds": [zone_id for _, zone_id in zones],
        "groupNames": [region_name] * len(zones),
        "state": state or "available",
        "region": region_name,
        **{key: args[key] for key in ("excludeNames", "excludeZoneIds", "filters") if key in args},
        "allAvailabilityZones": args.get("allAvailabilityZones"),
    }


def _zone(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = _region_name(ctx, region)
    known = _known_region(region_name)
    matching = [
        zone
        for zone in known.zones
        if args.get("name") in (None, zone[0])
        and args.get("zoneId") in (None, zone[1])
        and _zone_matches(zone, region_name, _as_list(args.get("filters")))
    ]
    if len(matching) != 1:
        raise UnanswerableInvokeError(
            f"{len(matching)} zones of {region_name} match; zones: "
            + ", ".join(f"{name} ({zone_id})" for name, zone_id in known.zones)
        )
    name, zone_id = matching[0]
    return {
        "id": name,
        "name": name,
        "zoneId": zone_id,
        "nameSuffix": name.removeprefix(region_name),
        "groupName": region_name,
        "groupLongName": region_name,
        "networkBorderGroup": region_name,
        "optInStatus": "opt-in-not-required",
        "state": "available",
        "zoneType": "availability-zone",
        "region": region_name,
    }


def _regions(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    names = aws_regions.known_regions()
    if not args.get("allRegions"):
        names = [name for name in names if aws_regions.partition_of(name).name == "aws"]
    for region_filter in _as_list(args.get("filters")):
        if region_filter.get("name") == "region-name":
            values = [str(value) for value in _as_list(region_filter.get("values"))]
            names = [n for n in names if any(fnmatch.fnmatchcase(n, v) for v in values)]
    return {
        "id": "aws",
        "names": names,
        **{k: args[k] for k in ("allRegions", "filters") if k in args},
    }


def _offerings_by_location(
    args: dict[str, Any], ctx: CloudContext, region: str | None
) -> tuple[str, str, list[tuple[str, str]]]:
    """Region, location type and (instance type, location) pairs the filters keep."""
    region_name = _region_name(ctx, region)
    known = _known_region(region_name)
    if known.offerings is None:
        raise UnanswerableInvokeError(f"no instance type offerings ship for {region_name}")
    location_type = args.get("locationType") or "region"
    names = {zone_id: name for name, zone_id in known.zones}
    pairs: list[tuple[str, str]] = []
    for instance_type, zone_ids in sorted(known.offerings.items()):
        if location_type == "region":
            pairs.append((instance_type, region_name))
        elif location_type == "availability-zone-id":
            pairs.extend((instance_type, zone_id) for zone_id in zone_ids)
        else:
            pairs.extend((instance_type, names[zone_id]) for zone_id in zone_ids)
    for offering_filter in _as_list(args.get("filters")):
        values = [str(value) for value in _as_list(offering_filter.get("values"))]
        index = {"instance-type": 0, "location": 1}.get(str(offering_filter.get("name")))
        if index is not None:
            pairs = [
                pair for pair in pairs if any(fnmatch.fnmatchcase(pair[index], v) for v in values)
            ]
    return region_name, location_type, pairs


def _instance_type_offerings(
    args: dict[str, Any], ctx: CloudContext, region: str | None
) -> dict[str, Any]:
    region_name, location_type, pairs = _offerings_by_location(args, ctx, region)
    return {
        "id": region_name,
        "instanceTypes": [instance_type for instance_type, _ in pairs],
        "locations": [location for _, location in pairs],
        "locationTypes": [location_type] * len(pairs),
        "region": region_name,
        **{k: args[k] for k in ("filters", "locationType") if k in args},
    }


def _instance_type_offering(
    args: dict[str, Any], ctx: CloudContext, region: str | None
) -> dict[str, Any]:
    region_name, location_type, pairs = _offerings_by_location(args, ctx, region)
    offered = [instance_type for instance_type, _ in pairs]
    preferred = [str(t) for t in _as_list(args.get("preferredInstanceTypes"))]
    chosen = next((t for t in preferred if t in offered), offered[0] if offered else None)
    if chosen is None:
        raise UnanswerableInvokeError(f"no instance type offering of {region_name} matches")
    location = next(location for instance_type, location in pairs if instance_type == chosen)
    return {
        "id": region_name,
        "instanceType": chosen,
        "location": location,
        "locationType": location_type,
        "region": region_name,
        **{k: args[k] for k in ("filters", "preferredInstanceTypes") if k in args},
    }


def _arn(region_name: str, service: str, rest: str, *, regional: bool = True) -> str:
    """An ARN in the region's partition (``arn:aws-cn:...`` in China)."""
    partition = aws_regions.partition_of(region_name).name
    return f"arn:{partition}:{service}:{region_name if regional else ''}:{rest}"


def _caller(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return {
        "accountId": ctx.account_id,
        "arn": _arn(
            _region_name(ctx, region),
            "sts",
            f"{ctx.account_id}:assumed-role/platform-deployer/offline",
            regional=False,
        ),
        "userId": "AROAOFFLINE:offline",
        "id": ctx.account_id,
    }


def _region(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = args.get("region") or args.get("name") or region or ctx.default_region
    return {
        "name": region_name,
        "region": region_name,
        "id": region_name,
        "description": f"offline {region_name}",
        "endpoint": f"ec2.{region_name}.{aws_regions.partition_of(region_name).dns_suffix}",
    }


def _partition(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    partition = aws_regions.partition_of(_region_name(ctx, region))
    return {
        "partition": partition.name,
        "dnsSuffix": partition.dns_suffix,
        "id": partition.name,
        "reverseDnsPrefix": partition.reverse_dns_prefix,
    }


def _args_digest(args: dict[str, Any]) -> str:
    """A digest of an invoke's arguments, for ids of things looked up by filter."""
    return digest(json.dumps(args, sort_keys=True, default=str))


def _ami(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    ami = f"ami-{_args_digest(args)}"
    name_patterns = [
        value
        for name_filter in _as_list(args.get("filters"))
        if name_filter.get("name") == "name"
        for value in _as_list(name_filter.get("values"))
    ]
    return {
        "id": ami,
        "imageId": ami,
        "architecture": "arm64" if any("arm64" in name for name in name_patterns) else "x86_64",
        "name": (name_patterns[0].replace("*", "2026.11.0") if name_patterns else "offline-image"),
        "ownerId": (_as_list(args.get("owners")) or ["amazon"])[0],
        "rootDeviceName": "/dev/xvda",
        "state": "available",
        "mostRecent": bool(args.get("mostRecent")),
    }


def _ssm_parameter(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    name = str(args.get("name", ""))
    value = (
        f"ami-{digest(name)}"
        if "/ami" in name or "image_id" in name
        else f"offline-value-{digest(name, length=8)}"
    )
    region_name = region or ctx.default_region
    path = name if name.startswith("/") else "/" + name
    return {
        "id": name,
        "name": name,
        "value": value,
        "insecureValue": value,
        "type": "String",
        "version": 1,
        "arn": _arn(region_name, "ssm", f"{ctx.account_id}:parameter{path}"),
    }


def _policy_document(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return render_policy_document(args)


def _yaml_decode(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    import yaml

    documents = yaml.safe_load_all(args.get("text", ""))
    return {"result": [document for document in documents if document]}


def _default_vpc_id(ctx: CloudContext, region: str) -> str:
    return f"vpc-{digest(ctx.account_id, region, 'default-vpc')}"


def _vpc(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    vpc_id = args.get("id") or _default_vpc_id(ctx, region_name)
    return {
        "id": vpc_id,
        "arn": _arn(region_name, "ec2", f"{ctx.account_id}:vpc/{vpc_id}"),
        "cidrBlock": args.get("cidrBlock") or "172.31.0.0/16",
        "default": bool(args.get("default", vpc_id == _default_vpc_id(ctx, region_name))),
        "enableDnsHostnames": True,
        "enableDnsSupport": True,
        "instanceTenancy": "default",
        "ownerId": ctx.account_id,
        "state": "available",
        "mainRouteTableId": f"rtb-{digest(vpc_id, 'main')}",
        "dhcpOptionsId": f"dopt-{digest(vpc_id, 'dhcp')}",
        "cidrBlockAssociations": [],
        "tags": {},
    }


def _subnets(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    zone_ids = [zone_id for _, zone_id in _known_region(region_name).zones]
    key = json.dumps(args, sort_keys=True, default=str)
    return {
        "id": region_name,
        "ids": [f"subnet-{digest(key, zone_id)}" for zone_id in zone_ids],
        "filters": args.get("filters"),
    }


def _subnet(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    subnet_id = args.get("id") or f"subnet-{_args_digest(args)}"
    zone_name, zone_id = _known_region(region_name).zones[0]
    return {
        "id": subnet_id,
        "arn": _arn(region_name, "ec2", f"{ctx.account_id}:subnet/{subnet_id}"),
        "vpcId": args.get("vpcId") or _default_vpc_id(ctx, region_name),
        "cidrBlock": "172.31.0.0/20",
        "availabilityZone": zone_name,
        "availabilityZoneId": zone_id,
        "mapPublicIpOnLaunch": False,
        "state": "available",
        "ownerId": ctx.account_id,
        "tags": {},
    }


def _security_group(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    group_id = args.get("id") or f"sg-{_args_digest(args)}"
    return {
        "id": group_id,
        "arn": _arn(region_name, "ec2", f"{ctx.account_id}:security-group/{group_id}"),
        "name": args.get("name") or "default",
        "vpcId": args.get("vpcId") or _default_vpc_id(ctx, region_name),
        "description": "offline security group",
        "tags": {},
    }


def _iam_role(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    name = str(args.get("name", ""))
    return {
        "id": name,
        "name": name,
        "arn": _arn(
            _region_name(ctx, region), "iam", f"{ctx.account_id}:role/{name}", regional=False
        ),
        "path": "/",
        "uniqueId": f"AROA{digest(name).upper()}",
        "assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "maxSessionDuration": 3600,
        "tags": {},
    }


@cache
def _managed_policy_arns() -> dict[str, str]:
    """AWS managed policy name -> ARN, from the pinned pulumi-aws ``iam.ManagedPolicy`` enum."""
    from pulumi_aws.iam import ManagedPolicy

    return {str(policy.value).rsplit("/", 1)[-1]: str(policy.value) for policy in ManagedPolicy}


def _iam_policy(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    """A managed policy looked up by name: its ARN and path (the document is not shipped).

    A look-up by ARN is made for the document, which is not known offline: refused,
    never invented. A customer-managed policy by name is this account's.
    """
    if args.get("arn"):
        raise UnanswerableInvokeError(f"the document of {args['arn']} is not known offline")
    name = str(args.get("name") or "")
    if not name:
        raise UnanswerableInvokeError("a policy is looked up by 'name' or 'arn'")
    partition = aws_regions.partition_of(_region_name(ctx, region)).name
    arn = _managed_policy_arns().get(name)
    if arn is not None:
        arn = arn.replace("arn:aws:", f"arn:{partition}:", 1)
    else:
        prefix = str(args.get("pathPrefix") or "/")
        arn = f"arn:{partition}:iam::{ctx.account_id}:policy{prefix}{name}"
    path = "/" + arn.split(":policy/", 1)[1].rpartition(name)[0].lstrip("/")
    return {
        "id": arn,
        "arn": arn,
        "name": name,
        "path": path,
        "policyId": f"ANPA{digest(arn).upper()}",
        "description": "",
        "attachmentCount": 0,
        "tags": {},
    }


def _route53_zone(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    """A hosted zone the account holds, found by name or id."""
    name = str(args.get("name") or f"zone-{args.get('zoneId')}.example").rstrip(".") + "."
    zone_id = str(args.get("zoneId") or f"Z{digest(ctx.account_id, name, length=20).upper()}")
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "name": name,
        "arn": f"arn:{aws_regions.partition_of(_region_name(ctx, region)).name}:route53:::"
        f"hostedzone/{zone_id}",
        "callerReference": digest(zone_id, length=12),
        "comment": "",
        "nameServers": [f"ns-{index}.awsdns-{index:02d}.org" for index in (101, 702, 1303, 1904)],
        "primaryNameServer": "ns-101.awsdns-01.org",
        "privateZone": bool(args.get("privateZone")),
        "resourceRecordSetCount": 2,
        "vpcId": args.get("vpcId"),
        "tags": dict(args.get("tags") or {}),
    }


def _eks_cluster(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    """A cluster of this program (as it was created) or one the account already has."""
    region_name = _region_name(ctx, region)
    name = str(args.get("name") or "")
    created = ctx.eks_clusters.get((region_name, name))
    if created is not None:
        state = created
    else:
        oidc = digest(ctx.account_id, region_name, name, length=32).upper()
        state = {
            "arn": _arn(region_name, "eks", f"{ctx.account_id}:cluster/{name}"),
            "endpoint": f"https://{oidc}.gr7.{region_name}.eks.amazonaws.com",
            "certificateAuthority": {"data": EKS_CA_DATA},
            "identities": [
                {"oidcs": [{"issuer": f"https://oidc.eks.{region_name}.amazonaws.com/id/{oidc}"}]}
            ],
            "roleArn": _arn(
                region_name, "iam", f"{ctx.account_id}:role/{name}-cluster", regional=False
            ),
            "version": "1.35",
            "vpcConfig": {
                "clusterSecurityGroupId": f"sg-{digest(name, 'csg')}",
                "vpcId": _default_vpc_id(ctx, region_name),
                "subnetIds": _subnets({}, ctx, region_name)["ids"],
                "securityGroupIds": [],
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
                "publicAccessCidrs": [],
            },
        }
    vpc_config = dict(state.get("vpcConfig") or {})
    return {
        "id": name,
        "name": name,
        "region": region_name,
        "arn": state.get("arn"),
        "endpoint": state.get("endpoint"),
        "certificateAuthorities": [state.get("certificateAuthority") or {"data": EKS_CA_DATA}],
        "identities": state.get("identities"),
        "clusterId": state.get("clusterId") or digest(region_name, name),
        "createdAt": "2026-01-01T00:00:00Z",
        "enabledClusterLogTypes": state.get("enabledClusterLogTypes") or [],
        "platformVersion": state.get("platformVersion") or "eks.1",
        "roleArn": state.get("roleArn"),
        "status": "ACTIVE",
        "version": state.get("version") or "1.35",
        "vpcConfig": vpc_config,
        "kubernetesNetworkConfigs": [
            {"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16", "serviceIpv6Cidr": ""}
        ],
        "accessConfigs": [{"authenticationMode": "API_AND_CONFIG_MAP"}],
        "tags": dict(state.get("tags") or {}),
    }


def _eks_cluster_auth(
    args: dict[str, Any], ctx: CloudContext, region: str | None
) -> dict[str, Any]:
    """A short-lived token as ``aws eks get-token`` makes one (a presigned STS URL, encoded)."""
    region_name = _region_name(ctx, region)
    name = str(args.get("name") or "")
    url = (
        f"https://sts.{region_name}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
        f"&X-Amz-Signature={digest(ctx.account_id, region_name, name, length=64)}"
    )
    token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return {"id": name, "name": name, "region": region_name, "token": token}


INVOKES: dict[str, InvokeHandler] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getPartition:getPartition": _partition,
    "aws:ec2/getAmi:getAmi": _ami,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "kubernetes:yaml:decode": _yaml_decode,
    "aws:ec2/getVpc:getVpc": _vpc,
    "aws:ec2/getSubnets:getSubnets": _subnets,
    "aws:ec2/getSubnet:getSubnet": _subnet,
    "aws:ec2/getSecurityGroup:getSecurityGroup": _security_group,
    "aws:iam/getRole:getRole": _iam_role,
    "aws:iam/getPolicy:getPolicy": _iam_policy,
    "aws:index/getAvailabilityZone:getAvailabilityZone": _zone,
    "aws:index/getRegions:getRegions": _regions,
    "aws:ec2/getInstanceTypeOffering:getInstanceTypeOffering": _instance_type_offering,
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": _instance_type_offerings,
    "aws:route53/getZone:getZone": _route53_zone,
    "aws:eks/getCluster:getCluster": _eks_cluster,
    "aws:eks/getClusterAuth:getClusterAuth": _eks_cluster_auth,
}
"""Invoke token -> the function that answers it."""
