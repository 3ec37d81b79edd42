"""A deterministic stand-in for the cloud: computed outputs and data-source answers.

Real programs read computed outputs (ARNs, ids, the EKS OIDC issuer) and call data
sources (availability zones, caller identity, policy documents). Offline, these are
answered here the way AWS and the Kubernetes provider would answer, deterministically:
the same program and stack always produce the same plan. Ids and ARNs are made in the
stack's region and a fixed offline account.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts import regions

OFFLINE_ACCOUNT_ID = "123456789012"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def digest(*parts: str, n: int = 17) -> str:
    """A stable hex digest of ``parts`` (ids are derived from URNs, never random)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:n]


@dataclass
class CloudContext:
    """What the stand-in cloud knows: account, default region, provider regions."""

    account_id: str = OFFLINE_ACCOUNT_ID
    default_region: str = "me-central-1"
    provider_regions: dict[str, str] = field(default_factory=dict)

    def region_for(self, inputs: dict[str, Any], provider_ref: str | None) -> str:
        """pulumi-aws v7 per-resource ``region`` input, else the provider's, else the stack's."""
        region = inputs.get("region")
        if isinstance(region, str) and region:
            return region
        if provider_ref and provider_ref in self.provider_regions:
            return self.provider_regions[provider_ref]
        return self.default_region


# --- resources ------------------------------------------------------------------------

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


def _module_and_kind(type_: str) -> tuple[str, str]:
    # aws:s3/bucket:Bucket -> ("s3", "Bucket")
    _, mod, kind = type_.split(":", 2)
    return mod.split("/")[0], kind


def _autoname(name: str, urn: str) -> str:
    # The providers append a random 7-character suffix; ours is derived from the URN.
    return f"{name}-{digest(urn, n=7)}"


def aws_outputs(
    type_: str,
    name: str,
    urn: str,
    inputs: dict[str, Any],
    provider_ref: str | None,
    ctx: CloudContext,
) -> tuple[str, dict[str, Any]]:
    """The id and the state AWS would report after creating this resource."""
    region = ctx.region_for(inputs, provider_ref)
    acct = ctx.account_id
    mod, kind = _module_and_kind(type_)
    h = digest(urn)
    state: dict[str, Any] = dict(inputs)
    state.setdefault("region", region)
    state.setdefault(
        "tagsAll", {**(inputs.get("tags") or {})} if isinstance(inputs.get("tags"), dict) else {}
    )

    if type_ in _EC2_ID_PREFIX:
        rid = f"{_EC2_ID_PREFIX[type_]}-{h}"
    else:
        given = inputs.get("name")
        rid = given if isinstance(given, str) else _autoname(name, urn)
    arn = f"arn:aws:{mod}:{region}:{acct}:{kind[0].lower() + kind[1:]}/{rid}"

    if mod == "s3" and kind in ("Bucket", "BucketV2"):
        bucket = inputs.get("bucket") or _autoname(name, urn)
        rid = bucket
        arn = f"arn:aws:s3:::{bucket}"
        state.update(
            bucket=bucket,
            bucketDomainName=f"{bucket}.s3.amazonaws.com",
            bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            hostedZoneId="Z06143092I8HRXZRUZROF",
        )
    elif mod == "iam":
        # IAM is global: no region in its ARNs.
        iname = inputs.get("name") or _autoname(name, urn)
        path = inputs.get("path") or "/"
        rid = iname
        if kind == "OpenIdConnectProvider":
            url = str(inputs.get("url", "")).removeprefix("https://")
            rid = arn = f"arn:aws:iam::{acct}:oidc-provider/{url}"
        elif kind in ("Role", "Policy", "User", "Group", "InstanceProfile"):
            arn = f"arn:aws:iam::{acct}:{kind[0].lower() + kind[1:]}{path}{iname}"
            if kind == "Role":
                state.update(uniqueId=f"AROA{h.upper()}")
            state.update(name=iname)
        else:
            rid = f"{name}-{h[:8]}"
            arn = f"arn:aws:iam::{acct}:{kind.lower()}/{rid}"
    elif mod == "kms":
        if kind == "Key" or kind == "ReplicaKey":
            key_id = (
                f"{h[:8]}-{h[8:12]}-4{h[12:15]}-a{digest(urn, 'k', n=3)}-{digest(urn, 'kk', n=12)}"
            )
            rid = key_id
            arn = f"arn:aws:kms:{region}:{acct}:key/{key_id}"
            state.update(keyId=key_id)
        elif kind == "Alias":
            alias = inputs.get("name") or f"alias/{name}"
            rid = alias
            arn = f"arn:aws:kms:{region}:{acct}:{alias}"
            state.update(
                targetKeyArn=f"arn:aws:kms:{region}:{acct}:key/{inputs.get('targetKeyId', '')}"
            )
    elif mod == "eks":
        if kind == "Cluster":
            cname = inputs.get("name") or _autoname(name, urn)
            rid = cname
            arn = f"arn:aws:eks:{region}:{acct}:cluster/{cname}"
            oidc = digest(urn, "oidc", n=32).upper()
            ca_pem = (
                "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
                "-----END CERTIFICATE-----\n"
            )
            vpc_config = dict(inputs.get("vpcConfig") or {})
            vpc_config.setdefault("clusterSecurityGroupId", f"sg-{digest(urn, 'csg')}")
            vpc_config.setdefault("vpcId", f"vpc-{digest(urn, 'vpc')}")
            state.update(
                name=cname,
                endpoint=f"https://{oidc}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": base64.b64encode(ca_pem.encode()).decode()},
                identities=[
                    {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}
                ],
                status="ACTIVE",
                platformVersion="eks.1",
                clusterId=h,
                vpcConfig=vpc_config,
            )
        elif kind == "NodeGroup":
            ng = inputs.get("nodeGroupName") or _autoname(name, urn)
            cluster = inputs.get("clusterName", "cluster")
            rid = f"{cluster}:{ng}"
            arn = f"arn:aws:eks:{region}:{acct}:nodegroup/{cluster}/{ng}/{h[:8]}"
            state.update(nodeGroupName=ng, status="ACTIVE")
        elif kind == "Addon":
            rid = f"{inputs.get('clusterName')}:{inputs.get('addonName')}"
            arn = f"arn:aws:eks:{region}:{acct}:addon/{inputs.get('clusterName')}/{inputs.get('addonName')}/{h[:8]}"
    elif mod == "ec2":
        if kind == "Vpc":
            state.update(
                defaultSecurityGroupId=f"sg-{digest(urn, 'dsg')}",
                defaultNetworkAclId=f"acl-{digest(urn, 'acl')}",
                defaultRouteTableId=f"rtb-{digest(urn, 'rtb')}",
                mainRouteTableId=f"rtb-{digest(urn, 'rtb')}",
                ownerId=acct,
            )
        elif kind == "Subnet":
            zone_id = inputs.get("availabilityZoneId")
            offers = regions.load(region)
            if zone_id and offers and zone_id in offers.zone_ids:
                state.setdefault("availabilityZone", offers.zone_name(zone_id))
            elif inputs.get("availabilityZone") and offers:
                az = inputs["availabilityZone"]
                match = [z.zone_id for z in offers.zones if z.name == az]
                if match:
                    state.setdefault("availabilityZoneId", match[0])
        elif kind == "LaunchTemplate":
            state.update(latestVersion=1, defaultVersion=1)
        elif kind == "NatGateway":
            state.update(privateIp="10.0.0.10", publicIp="203.0.113.10")
        elif kind == "Eip":
            state.update(publicIp="203.0.113.10", allocationId=rid)
        elif kind == "VpcEndpoint":
            svc = str(inputs.get("serviceName", ""))
            state.update(
                prefixListId=f"pl-{h[:8]}",
                dnsEntries=[{"dnsName": f"{rid}.{svc}", "hostedZoneId": "Z0"}],
            )
        arn = f"arn:aws:ec2:{region}:{acct}:{kind.lower()}/{rid}"
    elif mod == "sqs" and kind == "Queue":
        qname = inputs.get("name") or _autoname(name, urn)
        if inputs.get("fifoQueue") and not str(qname).endswith(".fifo"):
            qname = f"{qname}.fifo"
        arn = f"arn:aws:sqs:{region}:{acct}:{qname}"
        rid = f"https://sqs.{region}.amazonaws.com/{acct}/{qname}"
        state.update(name=qname, url=rid)
    elif mod == "cloudwatch" and kind == "LogGroup":
        lname = inputs.get("name") or _autoname(name, urn)
        rid = lname
        arn = f"arn:aws:logs:{region}:{acct}:log-group:{lname}"
        state.update(name=lname)
    elif mod == "dynamodb" and kind == "Table":
        tname = inputs.get("name") or _autoname(name, urn)
        rid = tname
        arn = f"arn:aws:dynamodb:{region}:{acct}:table/{tname}"
        state.update(name=tname, streamArn=f"{arn}/stream/2026-01-01T00:00:00.000")
    elif mod == "secretsmanager" and kind == "Secret":
        sname = inputs.get("name") or _autoname(name, urn)
        arn = f"arn:aws:secretsmanager:{region}:{acct}:secret:{sname}-{h[:6]}"
        rid = arn
        state.update(name=sname)
    elif mod == "elasticache" and kind == "ReplicationGroup":
        gid = inputs.get("replicationGroupId") or _autoname(name, urn)
        rid = gid
        arn = f"arn:aws:elasticache:{region}:{acct}:replicationgroup:{gid}"
        state.update(
            primaryEndpointAddress=f"master.{gid}.{h[:6]}.mec1.cache.amazonaws.com",
            readerEndpointAddress=f"replica.{gid}.{h[:6]}.mec1.cache.amazonaws.com",
            port=inputs.get("port", 6379),
        )
    elif mod == "ecr" and kind == "Repository":
        rname = inputs.get("name") or _autoname(name, urn)
        rid = rname
        arn = f"arn:aws:ecr:{region}:{acct}:repository/{rname}"
        state.update(
            repositoryUrl=f"{acct}.dkr.ecr.{region}.amazonaws.com/{rname}", registryId=acct
        )
    elif mod == "rds":
        arn = f"arn:aws:rds:{region}:{acct}:{kind.lower()}:{rid}"
        state.update(
            endpoint=f"{rid}.{h[:12]}.{region}.rds.amazonaws.com:5432",
            address=f"{rid}.{h[:12]}.{region}.rds.amazonaws.com",
        )
    elif mod == "lambda" and kind == "Function":
        arn = f"arn:aws:lambda:{region}:{acct}:function:{rid}"
        state.update(
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        )

    state.setdefault("arn", arn)
    if "name" not in state and mod not in ("s3",):
        state["name"] = (
            rid
            if isinstance(rid, str) and "/" not in rid and ":" not in rid
            else _autoname(name, urn)
        )
    state["id"] = rid
    return str(rid), state


def kubernetes_outputs(
    type_: str, name: str, urn: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Kubernetes objects: the provider auto-names objects without ``metadata.name``."""
    state = dict(inputs)
    if type_.startswith("kubernetes:helm.sh/"):
        rname = inputs.get("name") or f"{name}-{digest(urn, n=8)}"
        ns = inputs.get("namespace") or "default"
        state.update(name=rname, status={"name": rname, "namespace": ns, "status": "deployed"})
        return f"{ns}/{rname}", state
    meta = dict(inputs.get("metadata") or {})
    if not meta.get("name"):
        meta["name"] = f"{name}-{digest(urn, n=8)}"
    state["metadata"] = meta
    ns = meta.get("namespace")
    rid = f"{ns}/{meta['name']}" if ns else meta["name"]
    return rid, state


def random_outputs(
    type_: str, name: str, urn: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """pulumi-random: deterministic offline values of the requested shape."""
    state = dict(inputs)
    length = int(inputs.get("length") or 16)
    if type_ in (
        "random:index/randomPassword:RandomPassword",
        "random:index/randomString:RandomString",
    ):
        alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        seed = hashlib.sha256(urn.encode()).digest()
        while len(seed) < length:
            seed += hashlib.sha256(seed).digest()
        value = "".join(alphabet[b % len(alphabet)] for b in seed[:length])
        state.update(result=value, bcryptHash=f"$2a$10${digest(value, n=53)}")
        return f"offline-{digest(urn, n=8)}", state
    if type_ == "random:index/randomId:RandomId":
        raw = hashlib.sha256(urn.encode()).digest()[: int(inputs.get("byteLength") or 8)]
        state.update(
            hex=raw.hex(),
            b64Url=base64.urlsafe_b64encode(raw).decode().rstrip("="),
            dec=str(int.from_bytes(raw, "big")),
        )
        state["b64Std"] = base64.b64encode(raw).decode()
        return state["b64Url"], state
    if type_ == "random:index/randomUuid:RandomUuid":
        h = digest(urn, n=32)
        value = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
        state.update(result=value)
        return value, state
    if type_ == "random:index/randomInteger:RandomInteger":
        lo, hi = int(inputs.get("min", 0)), int(inputs.get("max", 100))
        number = lo + int(digest(urn), 16) % (hi - lo + 1)
        state.update(result=number)
        return str(number), state
    return f"{name}-{digest(urn, n=8)}", state


# --- invokes ----------------------------------------------------------------------------


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _one_or_many(values: list[Any]) -> Any:
    # The AWS provider renders single-element lists as a bare string.
    return (
        values[0]
        if len(values) == 1
        else sorted(values)
        if all(isinstance(x, str) for x in values)
        else values
    )


def render_policy_document(args: dict[str, Any]) -> dict[str, Any]:
    """What ``aws.iam.get_policy_document`` renders, as the provider renders it."""
    doc: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        doc["Id"] = args["policyId"]
    statements = []
    merged: list[dict[str, Any]] = []
    for src in _as_list(args.get("sourcePolicyDocuments")):
        merged.extend(_as_list(json.loads(src).get("Statement")))
    for st in _as_list(args.get("statements")):
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, wire in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            vals = _as_list(st.get(key))
            if vals:
                out[wire] = _one_or_many(vals)
        for key, wire in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            ps = _as_list(st.get(key))
            if ps:
                pmap: dict[str, Any] = {}
                for p in ps:
                    ids = _as_list(p.get("identifiers"))
                    if p.get("type") == "*" and ids == ["*"]:
                        pmap = {"*": "*"}
                        break
                    pmap.setdefault(p.get("type"), []).extend(ids)
                out[wire] = (
                    "*" if pmap == {"*": "*"} else {k: _one_or_many(v) for k, v in pmap.items()}
                )
        conds: dict[str, dict[str, Any]] = {}
        for c in _as_list(st.get("conditions")):
            conds.setdefault(c["test"], {})[c["variable"]] = _one_or_many(_as_list(c.get("values")))
        if conds:
            out["Condition"] = conds
        statements.append(out)
    sids = {s.get("Sid") for s in statements if s.get("Sid")}
    doc["Statement"] = [
        s for s in merged if s.get("Sid") not in sids or not s.get("Sid")
    ] + statements
    text = json.dumps(doc, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(doc, separators=(",", ":")),
        "id": digest(text, n=10),
    }


class UnanswerableInvokeError(Exception):
    """An invoke the offline cloud cannot answer faithfully."""


InvokeHandler = Callable[[dict[str, Any], CloudContext, str | None], dict[str, Any]]


def _zones(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = region or ctx.default_region
    offers = regions.load(reg)
    if offers is None:
        raise UnanswerableInvokeError(f"no offering data for region '{reg}'")
    zones = [
        z
        for z in offers.zones
        if z.zone_id not in _as_list(args.get("excludeZoneIds"))
        and z.name not in _as_list(args.get("excludeNames"))
    ]
    return {
        "id": reg,
        "names": [z.name for z in zones],
        "zoneIds": [z.zone_id for z in zones],
        "groupNames": [reg] * len(zones),
        "state": args.get("state") or "available",
        "region": reg,
    }


def _caller(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return {
        "accountId": ctx.account_id,
        "arn": f"arn:aws:sts::{ctx.account_id}:assumed-role/platform-deployer/offline",
        "userId": "AROAOFFLINE:offline",
        "id": ctx.account_id,
    }


def _region(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = args.get("region") or args.get("name") or region or ctx.default_region
    return {
        "name": reg,
        "region": reg,
        "id": reg,
        "description": f"offline {reg}",
        "endpoint": f"ec2.{reg}.amazonaws.com",
    }


def _partition(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "reverseDnsPrefix": "com.amazonaws",
    }


def _ami(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    key = json.dumps(args, sort_keys=True, default=str)
    ami = f"ami-{digest(key)}"
    names = [
        v
        for f in _as_list(args.get("filters"))
        if f.get("name") == "name"
        for v in _as_list(f.get("values"))
    ]
    return {
        "id": ami,
        "imageId": ami,
        "architecture": "arm64" if any("arm64" in n for n in names) else "x86_64",
        "name": (names[0].replace("*", "2026.11.0") if names else "offline-image"),
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
        else f"offline-value-{digest(name, n=8)}"
    )
    reg = region or ctx.default_region
    return {
        "id": name,
        "name": name,
        "value": value,
        "insecureValue": value,
        "type": "String",
        "version": 1,
        "arn": f"arn:aws:ssm:{reg}:{ctx.account_id}:parameter{name if name.startswith('/') else '/' + name}",
    }


def _policy_document(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    return render_policy_document(args)


def _yaml_decode(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    import yaml

    return {"result": [d for d in yaml.safe_load_all(args.get("text", "")) if d]}


def _default_vpc_id(ctx: CloudContext, region: str) -> str:
    return f"vpc-{digest(ctx.account_id, region, 'default-vpc')}"


def _vpc(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = region or ctx.default_region
    vid = args.get("id") or _default_vpc_id(ctx, reg)
    return {
        "id": vid,
        "arn": f"arn:aws:ec2:{reg}:{ctx.account_id}:vpc/{vid}",
        "cidrBlock": args.get("cidrBlock") or "172.31.0.0/16",
        "default": bool(args.get("default", vid == _default_vpc_id(ctx, reg))),
        "enableDnsHostnames": True,
        "enableDnsSupport": True,
        "instanceTenancy": "default",
        "ownerId": ctx.account_id,
        "state": "available",
        "mainRouteTableId": f"rtb-{digest(vid, 'main')}",
        "dhcpOptionsId": f"dopt-{digest(vid, 'dhcp')}",
        "cidrBlockAssociations": [],
        "tags": {},
    }


def _subnets(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = region or ctx.default_region
    offers = regions.load(reg)
    zones = offers.zone_ids if offers else ("az1", "az2", "az3")
    key = json.dumps(args, sort_keys=True, default=str)
    return {
        "id": reg,
        "ids": [f"subnet-{digest(key, z)}" for z in zones],
        "filters": args.get("filters"),
    }


def _subnet(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = region or ctx.default_region
    sid = args.get("id") or f"subnet-{digest(json.dumps(args, sort_keys=True, default=str))}"
    offers = regions.load(reg)
    zone = offers.zones[0] if offers else None
    return {
        "id": sid,
        "arn": f"arn:aws:ec2:{reg}:{ctx.account_id}:subnet/{sid}",
        "vpcId": args.get("vpcId") or _default_vpc_id(ctx, reg),
        "cidrBlock": "172.31.0.0/20",
        "availabilityZone": zone.name if zone else f"{reg}a",
        "availabilityZoneId": zone.zone_id if zone else "",
        "mapPublicIpOnLaunch": False,
        "state": "available",
        "ownerId": ctx.account_id,
        "tags": {},
    }


def _security_group(args: dict[str, Any], ctx: CloudContext, region: str | None) -> dict[str, Any]:
    reg = region or ctx.default_region
    gid = args.get("id") or f"sg-{digest(json.dumps(args, sort_keys=True, default=str))}"
    return {
        "id": gid,
        "arn": f"arn:aws:ec2:{reg}:{ctx.account_id}:security-group/{gid}",
        "name": args.get("name") or "default",
        "vpcId": args.get("vpcId") or _default_vpc_id(ctx, reg),
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
