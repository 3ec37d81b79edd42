"""Corpus case: a Deployment pulling an image from Docker Hub (pinned by digest: a digest
proves what is pulled, not where from)."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import DIGEST, deployment

deployment("web", f"nginx:1.27.3@{DIGEST}")
