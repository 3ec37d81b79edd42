"""The ``uae-residency`` CrossGuard policy pack.

Started from this folder by the Pulumi CLI or ``mlplatform policy``; see ``policies.rules.pack``.
"""

import sys
from pathlib import Path

# This folder is not a package: put the repository root on the path for policies.rules.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from policies.rules import pack, residency

pack.serve(
    name="uae-residency",
    description="UAE data residency: every resource, replica, copy, image and chart stays "
    "in the UAE.",
    policies=residency.POLICIES,
)
