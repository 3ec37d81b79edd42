"""EKS clusters: a private API endpoint, envelope-encrypted secrets, control-plane logs."""

from __future__ import annotations

from policies.rules.common import (
    MISSING,
    UNKNOWN,
    ResourceCheck,
    as_list,
    dig,
    is_aws_managed_key,
    is_set,
    truthy,
)

EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def validate_eks_endpoint(check: ResourceCheck) -> None:
    """The API server endpoint is private only."""
    public = check.get("vpcConfig.endpointPublicAccess")
    private = check.get("vpcConfig.endpointPrivateAccess")
    if public is UNKNOWN or private is UNKNOWN:
        check.violation("The endpoint access settings could not be determined.")
        return
    if truthy(public) is not False:
        shown = "defaults to true" if public is MISSING else "is true"
        check.violation(f"vpcConfig.endpointPublicAccess {shown}: the API is internet-facing.")
    if truthy(private) is not True:
        check.violation("vpcConfig.endpointPrivateAccess is not true.")


def validate_eks_secrets(check: ResourceCheck) -> None:
    """Kubernetes secrets are envelope-encrypted with a KMS key."""
    unknown = "encryptionConfig could not be determined (unknown during preview)."
    if (configs := check.require_known("encryptionConfig", unknown)) is None:
        return
    for config in as_list(configs):
        resources = dig(config, "resources")
        key = dig(config, "provider.keyArn")
        if "secrets" in as_list(resources) and is_set(key):
            if is_aws_managed_key(key):
                check.violation(
                    f"provider.keyArn {key!r} is an AWS-managed key, not a customer key."
                )
            return
        if resources is UNKNOWN:
            return
    check.violation("No encryptionConfig with resources ['secrets'] and a provider.keyArn.")


def validate_eks_logs(check: ResourceCheck) -> None:
    """Every control-plane log type is sent to CloudWatch Logs."""
    unknown = "enabledClusterLogTypes could not be determined."
    if (types := check.require_known("enabledClusterLogTypes", unknown)) is None:
        return
    missing = [log_type for log_type in EKS_LOG_TYPES if log_type not in as_list(types)]
    if missing:
        check.violation(f"Control-plane log types not enabled: {missing}.")


CLUSTER_TYPES = {"aws:eks/cluster:Cluster"}
