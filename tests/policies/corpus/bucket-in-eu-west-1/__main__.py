"""Corpus case: a bucket created in Ireland through the per-resource region input."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import secure_bucket

secure_bucket("acme-eu-data", region="eu-west-1")
