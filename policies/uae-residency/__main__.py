"""The ``uae-residency`` CrossGuard policy pack.

Started by the Pulumi CLI (``python -m pulumi.policy <engine address> .`` in this
folder) or by ``mlplatform policy``; constructing the ``PolicyPack`` serves the rules
over the Analyzer gRPC protocol and prints the port.
"""

import pathlib
import sys

# The rules are importable modules of this repository (policies/rules/), shared with
# the tests; the pack folder itself is not a package, so put the repository root on the
# path when the CLI starts us from here.
_REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.rules import _fastpath, residency  # noqa: E402

_fastpath.install()
PolicyPack(
    name="uae-residency",
    description="UAE data residency: every resource, replica, copy, image and chart stays "
    "in the UAE.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(residency.POLICIES),
)
