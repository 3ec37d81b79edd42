"""Exposure of compute to the internet: load balancers, listeners, ECS services and tasks.

Load balancers are internet-facing unless ``internal`` is true (pulumi-aws) or the
scheme is ``internal`` (aws-native): the AWS default is the public scheme. Listeners
accept plain HTTP only to redirect to HTTPS. ECS services get no public IP, and ECS
containers run as a named non-root user, never privileged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from policies.rules.common import MISSING, UNKNOWN, ResourceCheck, as_list, dig, is_unknown, truthy

LB_TYPES = {
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:elb/loadBalancer:LoadBalancer",
    "aws-native:elasticloadbalancingv2:LoadBalancer",
}
LISTENER_TYPES = {
    "aws:lb/listener:Listener",
    "aws:alb/listener:Listener",
    "aws:elb/loadBalancer:LoadBalancer",
    "aws-native:elasticloadbalancingv2:Listener",
}
ECS_SERVICE_TYPES = {
    "aws:ecs/service:Service",
    "aws:ecs/taskSet:TaskSet",
    "aws-native:ecs:Service",
}
ECS_TASK_TYPES = {"aws:ecs/taskDefinition:TaskDefinition", "aws-native:ecs:TaskDefinition"}


def validate_lb_internal(check: ResourceCheck) -> None:
    """Load balancers are internal."""
    if check.resource_type.startswith("aws-native:"):
        scheme = check.get("scheme")
        if scheme is UNKNOWN or scheme == "internal":
            return
        shown = "defaults to 'internet-facing'" if scheme is MISSING else f"is {scheme!r}"
        check.violation(f"'scheme' {shown}: the load balancer has public addresses.")
        return
    internal = check.get("internal")
    if internal is UNKNOWN or truthy(internal) is True:
        return
    shown = "is not set (AWS defaults to internet-facing)" if internal is MISSING else "is false"
    check.violation(f"'internal' {shown}: the load balancer has public addresses.")


def _redirects_to_https(actions: Any) -> bool:
    """Whether every default action redirects to HTTPS (pulumi-aws ``redirect``,
    aws-native ``redirectConfig``)."""
    listed = as_list(actions)
    return bool(listed) and all(
        str(dig(action, "type")).lower() == "redirect"
        and any(
            str(dig(action, f"{key}.protocol")).upper() == "HTTPS"
            for key in ("redirect", "redirectConfig")
        )
        for action in listed
    )


def validate_listener_https(check: ResourceCheck) -> None:
    """Listeners serve HTTPS (or TLS); plain HTTP only redirects to HTTPS."""
    if check.resource_type == "aws:elb/loadBalancer:LoadBalancer":
        for index, listener in enumerate(as_list(check.get("listeners"))):
            protocol = dig(listener, "lbProtocol")
            if isinstance(protocol, str) and protocol.lower() == "http":
                check.violation(
                    f"Listener {index} accepts plain HTTP on port {dig(listener, 'lbPort')}."
                )
        return
    protocol = check.get("protocol")
    if protocol is UNKNOWN:
        return
    if protocol is MISSING:
        protocol = "HTTP"  # the AWS default for an Application Load Balancer listener
    if str(protocol).upper() != "HTTP":
        return
    if _redirects_to_https(check.get("defaultActions")):
        return
    port = check.get("port")
    shown = int(port) if isinstance(port, float) and port.is_integer() else port
    check.violation(
        f"The listener on port {shown} serves plain HTTP; serve HTTPS with a certificate, or "
        "redirect HTTP to HTTPS."
    )


def validate_ecs_public_ip(check: ResourceCheck) -> None:
    """ECS services and task sets do not give tasks public IP addresses."""
    if check.resource_type.startswith("aws-native:"):
        value = check.get("networkConfiguration.awsvpcConfiguration.assignPublicIp")
        if isinstance(value, str) and value.upper() == "ENABLED":
            check.violation("awsvpcConfiguration.assignPublicIp is ENABLED: tasks get public IPs.")
        return
    value = check.get("networkConfiguration.assignPublicIp")
    if truthy(value) is True:
        check.violation("networkConfiguration.assignPublicIp is true: tasks get public IPs.")


def _container_definitions(check: ResourceCheck) -> Iterator[tuple[str, Any]]:
    raw = check.get("containerDefinitions")
    if raw is MISSING or is_unknown(raw):
        return
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            yield "containerDefinitions", "<unparsable>"
            return
    for index, container in enumerate(as_list(raw)):
        name = dig(container, "name")
        yield (
            f"containerDefinitions[{index}]" + (f" ({name})" if isinstance(name, str) else ""),
            (container),
        )


def _root_user(user: Any) -> bool:
    """Whether an ECS ``user`` (``name``, ``uid``, ``uid:gid``, ``name:group``) is root."""
    first = str(user).split(":", 1)[0].strip()
    return first in ("", "0", "root")


def validate_ecs_task_user(check: ResourceCheck) -> None:
    """ECS containers run as a non-root user and are not privileged."""
    for where, container in _container_definitions(check):
        if not isinstance(container, dict):
            check.violation(f"{where}: not a list of container definitions.")
            continue
        user = container.get("user")
        if user is None:
            check.violation(
                f"{where}: no 'user', so the container runs as the image's default user "
                "(root in most images)."
            )
        elif not is_unknown(user) and _root_user(user):
            check.violation(f"{where}: 'user' {user!r} runs the container as root.")
        if truthy(container.get("privileged")) is True:
            check.violation(f"{where}: runs privileged.")
