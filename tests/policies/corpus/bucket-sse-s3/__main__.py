"""Corpus case: a data bucket encrypted with SSE-S3 instead of a tenant KMS key."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import secure_bucket

secure_bucket("acme-sse-s3", algorithm="AES256")
