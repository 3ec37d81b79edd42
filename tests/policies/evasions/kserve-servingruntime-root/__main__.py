"""Evasion case: A KServe ServingRuntime whose container runs as root."""

import pulumi_kubernetes as k8s

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
k8s.apiextensions.CustomResource(
    "onnx-runtime",
    api_version="serving.kserve.io/v1alpha1",
    kind="ServingRuntime",
    metadata={"name": "onnx-cpu", "namespace": "tenant-acme"},
    spec={
        "supportedModelFormats": [{"name": "onnx", "version": "1", "autoSelect": True}],
        "containers": [
            {
                "name": "kserve-container",
                "image": f"{ECR}/serving/onnx:1.0.0",
                "resources": {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "500m", "memory": "512Mi"},
                },
                "securityContext": {
                    "runAsUser": 0,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
    },
)
