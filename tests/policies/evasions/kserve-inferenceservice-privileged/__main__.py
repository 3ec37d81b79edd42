"""Evasion case: A KServe InferenceService whose model container runs privileged."""

import pulumi_kubernetes as k8s

k8s.apiextensions.CustomResource(
    "churn-isvc",
    api_version="serving.kserve.io/v1beta1",
    kind="InferenceService",
    metadata={"name": "churn", "namespace": "tenant-acme"},
    spec={
        "predictor": {
            "serviceAccountName": "serving",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "model": {
                "modelFormat": {"name": "onnx"},
                "runtime": "onnx-cpu",
                "storageUri": "s3://acme-models/churn/1/",
                "securityContext": {"privileged": True},
            },
        }
    },
)
