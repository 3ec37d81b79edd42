"""EC2: no ingress from the whole internet, encrypted volumes, IMDSv2 only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies.rules.common import MISSING, UNKNOWN, ResourceCheck, as_list, dig, is_unknown

_WORLD = ("0.0.0.0/0", "::/0")


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


def _world_ingress(permission: Any, where: str) -> Iterator[str]:
    """A problem for every CIDR of an ingress permission that is the whole internet."""
    cidrs = [*as_list(dig(permission, "cidrBlocks")), *as_list(dig(permission, "ipv6CidrBlocks"))]
    cidrs += [
        cidr
        for cidr in (dig(permission, "cidrIpv4"), dig(permission, "cidrIpv6"))
        if cidr is not MISSING
    ]
    for cidr in cidrs:
        if is_unknown(cidr):
            yield f"{where}: a CIDR could not be determined (unknown during preview)."
        elif cidr in _WORLD:
            yield f"{where}: {_ports(permission)} open to {cidr}."


def validate_security_group(check: ResourceCheck) -> None:
    """No ingress from 0.0.0.0/0 or ::/0."""
    if check.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if check.get("type") != "ingress":
            return
        permissions = [("Rule", check.props)]
    elif check.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        permissions = [("Rule", check.props)]
    else:
        unknown = "Ingress rules could not be determined (unknown during preview)."
        if (ingress := check.require_known("ingress", unknown)) is None:
            return
        permissions = [
            (f"Ingress {index}", permission) for index, permission in enumerate(as_list(ingress))
        ]
    for where, permission in permissions:
        for problem in _world_ingress(permission, where):
            check.violation(problem)


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


def validate_ebs_encryption(check: ResourceCheck) -> None:
    """Volumes, instance block devices and launch-template block devices are encrypted."""
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
    tokens = check.get("metadataOptions.httpTokens")
    if tokens is UNKNOWN:
        check.violation("metadataOptions.httpTokens could not be determined.")
    elif tokens != "required":
        shown = "unset" if tokens is MISSING else repr(tokens)
        check.violation(f"metadataOptions.httpTokens is {shown}: IMDSv1 is allowed.")
