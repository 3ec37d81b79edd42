"""Drift monitoring: training reference statistics, drift tests and retraining triggers.

Submodules are imported explicitly (``workloads.monitoring.reference`` ...) so that a
training job needing only the reference builder does not pay for scipy or prometheus.
"""
