"""Helpers shared by the workloads: artifact digests and signatures, S3 upload."""
