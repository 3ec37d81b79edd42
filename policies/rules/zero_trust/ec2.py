"""EC2: no ingress from the internet, encrypted volumes, IMDSv2 only.

Ingress CIDRs of a group (or rule) are unioned and compared with public address space
(:mod:`policies.rules.cidr`), so the internet written as several blocks is caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies.rules import cidr
from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    is_unknown,
    truthy,
)

_WORLD = ("0.0.0.0/0", "::/0")
_CIDR_KEYS = ("cidrBlocks", "ipv6CidrBlocks", "cidrIpv4", "cidrIpv6", "cidrIp")
"""Where pulumi-aws (lists and single values) and aws-native (``cidrIp``) put ingress CIDRs."""

DEFAULT_IPV4_PREFIX_LIMIT = 16
DEFAULT_IPV6_PREFIX_LIMIT = 48


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _ports(permission: Any) -> str:
    """The ports an ingress permission opens, for a message."""
    low, high = _number(dig(permission, "fromPort")), _number(dig(permission, "toPort"))
    protocol = dig(permission, "protocol")
    if protocol is MISSING:
        protocol = dig(permission, "ipProtocol")
    if str(protocol) in ("-1", "all"):
        return "all ports"
    if low == high:
        return f"port {low}"
    return f"ports {low}-{high}"


def _cidrs(permission: Any) -> list[Any]:
    """Every CIDR of an ingress permission (lists and single values, IPv4 and IPv6)."""
    found: list[Any] = []
    for key in _CIDR_KEYS:
        found.extend(as_list(dig(permission, key)))
    return found


def _world_ingress(permission: Any, where: str) -> Iterator[str]:
    """A problem for every CIDR of an ingress permission that is the whole internet."""
    for block in _cidrs(permission):
        if is_unknown(block):
            yield f"{where}: a CIDR could not be determined (unknown during preview)."
        elif block in _WORLD:
            yield f"{where}: {_ports(permission)} open to {block}."


_SINGLE_RULE_TYPES = {
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws-native:ec2:SecurityGroupIngress",
}


def _permissions(check: ResourceCheck) -> list[tuple[str, Any]] | None:
    """(label, ingress permission) of a group or rule; None after reporting an unknown list."""
    if check.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        return [("Rule", check.props)] if check.get("type") == "ingress" else []
    if check.resource_type in _SINGLE_RULE_TYPES:
        return [("Rule", check.props)]
    field = "securityGroupIngress" if check.resource_type.startswith("aws-native:") else "ingress"
    ingress = check.get(field)
    if ingress is UNKNOWN:
        if field == "ingress":
            check.violation("Ingress rules could not be determined (unknown during preview).")
        return None
    return [(f"Ingress {index}", permission) for index, permission in enumerate(as_list(ingress))]


def validate_security_group(check: ResourceCheck) -> None:
    """No ingress from the internet: 0.0.0.0/0, ::/0, or blocks that add up to it."""
    if (permissions := _permissions(check)) is None:
        return
    pieces: list[str] = []
    for where, permission in permissions:
        for problem in _world_ingress(permission, where):
            check.violation(problem)
        pieces += [
            block
            for block in _cidrs(permission)
            if isinstance(block, str) and not is_unknown(block) and block not in _WORLD
        ]
    if not pieces:
        return
    ipv4_limit = int(check.config.get("ipv4PublicPrefixLimit", DEFAULT_IPV4_PREFIX_LIMIT))
    ipv6_limit = int(check.config.get("ipv6PublicPrefixLimit", DEFAULT_IPV6_PREFIX_LIMIT))
    found = cidr.exposure(pieces)
    for problem in cidr.too_public(found, ipv4_limit, ipv6_limit):
        check.violation(f"Ingress from {sorted(set(pieces))} admits {problem}.")
    if found.unparsable:
        check.violation(f"Ingress CIDRs {list(found.unparsable)} are not valid CIDR blocks.")


def _instance_devices(check: ResourceCheck) -> list[tuple[str, Any]]:
    """An instance's declared root and EBS block devices."""
    devices = [("rootBlockDevice", check.get("rootBlockDevice"))]
    devices += [
        (f"ebsBlockDevices.{index}", device)
        for index, device in enumerate(as_list(check.get("ebsBlockDevices")))
    ]
    if check.get("rootBlockDevice") is MISSING:
        check.violation("rootBlockDevice is not declared, so its encryption is not enforced.")
    return [(where, device) for where, device in devices if device is not MISSING]


def _template_devices(check: ResourceCheck) -> list[tuple[str, Any]]:
    """A launch template's or launch configuration's EBS devices ([] after a violation)."""
    unknown = "blockDeviceMappings could not be determined."
    if (mappings := check.require_known("blockDeviceMappings", unknown)) is None:
        return []
    if check.resource_type == "aws:ec2/launchConfiguration:LaunchConfiguration":
        devices = [("rootBlockDevice", check.get("rootBlockDevice"))]
    else:
        devices = [
            (f"blockDeviceMappings.{index}", dig(mapping, "ebs"))
            for index, mapping in enumerate(as_list(mappings))
        ]
    if all(device is MISSING for _, device in devices):
        check.violation(
            "No EBS block device is declared, so the root volume's encryption is left to "
            "the AMI and account defaults."
        )
        return []
    return devices


def is_karpenter_node_class(resource_type: str) -> bool:
    """Karpenter's EC2NodeClass (any version, patches included): a launch template by
    another name (metadata options, block devices of every node it launches)."""
    return resource_type.startswith("kubernetes:karpenter.k8s.aws/") and resource_type.split(":")[
        -1
    ] in ("EC2NodeClass", "EC2NodeClassPatch")


def _node_class_devices(check: ResourceCheck) -> None:
    """Declared EC2NodeClass block devices are encrypted (Karpenter's own default is)."""
    for index, mapping in enumerate(as_list(check.get("spec.blockDeviceMappings"))):
        encrypted = dig(mapping, "ebs.encrypted")
        if encrypted is UNKNOWN:
            continue
        if truthy(encrypted) is not True:
            check.violation(f"spec.blockDeviceMappings.{index}: not encrypted.")


def validate_ebs_encryption(check: ResourceCheck) -> None:
    """Volumes, instance block devices and launch-template block devices are encrypted."""
    if is_karpenter_node_class(check.resource_type):
        _node_class_devices(check)
        return
    if check.resource_type == "aws:ebs/volume:Volume":
        devices = [("Volume", check.props)]
    elif check.resource_type == "aws:ec2/instance:Instance":
        devices = _instance_devices(check)
    else:
        devices = _template_devices(check)
    for where, device in devices:
        if device is MISSING:
            continue
        check.expect_flag(
            dig(device, "encrypted"),
            True,
            unknown=f"{where}: 'encrypted' could not be determined.",
            wrong=f"{where}: not encrypted.",
        )


def validate_imdsv2(check: ResourceCheck) -> None:
    """Instances and launch templates require IMDSv2 tokens; node groups use a template."""
    if check.resource_type == "aws:eks/nodeGroup:NodeGroup":
        if check.get("launchTemplate") is MISSING:
            check.violation(
                "The node group has no launchTemplate, so IMDSv2 and volume encryption are "
                "not enforced."
            )
        return
    if is_karpenter_node_class(check.resource_type):
        # Karpenter defaults to 'required': only an explicit other value opens IMDSv1.
        tokens = check.get("spec.metadataOptions.httpTokens")
        if isinstance(tokens, str) and tokens != "required":
            check.violation(f"spec.metadataOptions.httpTokens is {tokens!r}: IMDSv1 is allowed.")
        return
    tokens = check.get("metadataOptions.httpTokens")
    if tokens is UNKNOWN:
        check.violation("metadataOptions.httpTokens could not be determined.")
    elif tokens != "required":
        shown = "unset" if tokens is MISSING else repr(tokens)
        check.violation(f"metadataOptions.httpTokens is {shown}: IMDSv1 is allowed.")
