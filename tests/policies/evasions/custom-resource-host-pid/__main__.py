"""Evasion case: A Kubeflow PyTorchJob whose pod template shares the host's PID namespace."""

import pulumi_kubernetes as k8s

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
pod = {
    "serviceAccountName": "trainer",
    "automountServiceAccountToken": False,
    "hostPID": True,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [
        {
            "name": "pytorch",
            "image": f"{ECR}/training/torch:2.13.0",
            "resources": {
                "limits": {"cpu": "2", "memory": "4Gi"},
                "requests": {"cpu": "1", "memory": "2Gi"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ],
}
k8s.apiextensions.CustomResource(
    "train-churn",
    api_version="kubeflow.org/v1",
    kind="PyTorchJob",
    metadata={"name": "train-churn", "namespace": "tenant-acme"},
    spec={"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": pod}}}},
)
