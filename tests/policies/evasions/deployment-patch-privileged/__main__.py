"""Evasion case: A DeploymentPatch that makes an existing container privileged."""

import pulumi_kubernetes as k8s

k8s.apps.v1.DeploymentPatch(
    "agent-patch",
    metadata={"name": "agent", "namespace": "tenant-acme"},
    spec={
        "template": {
            "spec": {"containers": [{"name": "agent", "security_context": {"privileged": True}}]}
        }
    },
)
