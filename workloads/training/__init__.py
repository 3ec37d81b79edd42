"""Training job: Feast historical features -> torch tabular model -> signed ONNX artifacts."""
