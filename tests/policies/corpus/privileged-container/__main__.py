"""Corpus case: a privileged container."""

import pulumi_kubernetes as k8s

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"


def restricted_pod(image: str, privileged: bool = False) -> dict:
    """A pod spec that meets Pod Security 'restricted' and the zero-trust rules."""
    security = {
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    if privileged:
        security["privileged"] = True
    return {
        "service_account_name": "app",
        "automount_service_account_token": False,
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 10001,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                "image": image,
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                },
                "security_context": security,
            }
        ],
    }


def deployment(name: str, image: str, privileged: bool = False) -> k8s.apps.v1.Deployment:
    labels = {"app": name}
    return k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": "tenant-acme"},
        spec={
            "replicas": 2,
            "selector": {"match_labels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": restricted_pod(image, privileged),
            },
        },
    )


deployment("agent", f"{ECR}/agent:1.0.0", privileged=True)
