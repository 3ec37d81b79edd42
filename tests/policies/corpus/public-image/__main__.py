"""Corpus case: a Deployment pulling an image from Docker Hub."""

import sys
from pathlib import Path

# The shared secure baseline (_baseline.py) sits in the corpus folder, one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _baseline import deployment

deployment("web", "nginx:1.27.3")
