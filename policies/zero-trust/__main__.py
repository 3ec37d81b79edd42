"""The ``zero-trust`` CrossGuard policy pack.

Started from this folder by the Pulumi CLI or ``mlplatform policy``; see ``policies.rules.pack``.
"""

import sys
from pathlib import Path

# This folder is not a package: put the repository root on the path for policies.rules.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from policies.rules import pack, zero_trust

pack.serve(
    name="zero-trust",
    description="Zero Trust: encryption at rest and in transit, no public exposure, least "
    "privilege, Pod Security restricted.",
    policies=zero_trust.POLICIES,
)
