"""Corpus case: a privileged container."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import DIGEST, ECR, deployment

deployment("agent", f"{ECR}/agent:1.0.0@{DIGEST}", privileged=True)
