"""The ``zero-trust`` CrossGuard policy pack (see ``policies.rules.pack``)."""

import sys
from pathlib import Path

# This folder is not a package: put the repository root on the path for policies.rules.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from policies.rules import pack

pack.serve("zero-trust")
