"""Model server: a KServe Model on ONNX Runtime with signature checks and strict inputs."""
