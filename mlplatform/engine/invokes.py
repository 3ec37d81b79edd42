"""Data sources answered offline, as the cloud would answer them, deterministically.

One table, ``INVOKES``, maps an invoke token to a small function of the invoke's
arguments, the cloud context and the region the call is made in (from its provider or
its ``region`` argument). A function raises ``UnanswerableInvokeError`` where a faithful
answer is not known offline; a token without a row is reported the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from contracts import regions
from mlplatform.engine.cloud import CloudContext, UnanswerableInvokeError, digest

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


def _zones(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    offers = regions.load(region_name)
    if offers is None:
        raise UnanswerableInvokeError(f"no offering data for region '{region_name}'")
    zones = [
        zone
        for zone in offers.zones
        if zone.zone_id not in _as_list(args.get("excludeZoneIds"))
        and zone.name not in _as_list(args.get("excludeNames"))
    ]
    return {
        "id": region_name,
        "names": [zone.name for zone in zones],
        "zoneIds": [zone.zone_id for zone in zones],
        "groupNames": [region_name] * len(zones),
        "state": args.get("state") or "available",
        "region": region_name,
    }


def _caller(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return {
        "accountId": ctx.account_id,
        "arn": f"arn:aws:sts::{ctx.account_id}:assumed-role/platform-deployer/offline",
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
        "endpoint": f"ec2.{region_name}.amazonaws.com",
    }


def _partition(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "reverseDnsPrefix": "com.amazonaws",
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
        "arn": f"arn:aws:ssm:{region_name}:{ctx.account_id}:parameter{path}",
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
        "arn": f"arn:aws:ec2:{region_name}:{ctx.account_id}:vpc/{vpc_id}",
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
    offers = regions.load(region_name)
    zone_ids = offers.zone_ids if offers else ("az1", "az2", "az3")
    key = json.dumps(args, sort_keys=True, default=str)
    return {
        "id": region_name,
        "ids": [f"subnet-{digest(key, zone_id)}" for zone_id in zone_ids],
        "filters": args.get("filters"),
    }


def _subnet(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    region_name = region or ctx.default_region
    subnet_id = args.get("id") or f"subnet-{_args_digest(args)}"
    offers = regions.load(region_name)
    zone = offers.zones[0] if offers else None
    return {
        "id": subnet_id,
        "arn": f"arn:aws:ec2:{region_name}:{ctx.account_id}:subnet/{subnet_id}",
        "vpcId": args.get("vpcId") or _default_vpc_id(ctx, region_name),
        "cidrBlock": "172.31.0.0/20",
        "availabilityZone": zone.name if zone else f"{region_name}a",
        "availabilityZoneId": zone.zone_id if zone else "",
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
        "arn": f"arn:aws:ec2:{region_name}:{ctx.account_id}:security-group/{group_id}",
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
        "arn": f"arn:aws:iam::{ctx.account_id}:role/{name}",
        "path": "/",
        "uniqueId": f"AROA{digest(name).upper()}",
        "assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "maxSessionDuration": 3600,
        "tags": {},
    }


def _iam_policy(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    arn = args.get("arn") or f"arn:aws:iam::aws:policy/{args.get('name', '')}"
    # The contents of AWS managed policies are not shipped: refuse rather than invent.
    raise UnanswerableInvokeError(f"the document of {arn} is not known offline")


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
}
"""Invoke token -> the function that answers it."""
