"""The packs, and the start-up their entry points (``policies/<pack>/__main__.py``) share.

Each pack folder stays what the Pulumi CLI expects (``PulumiPolicy.yaml`` and a
``__main__.py`` started as ``python -m pulumi.policy <engine address> .`` from that
folder); the entry point only puts the repository root on ``sys.path`` and calls
:func:`serve` with the folder's name. :data:`PACKS` says what each pack serves.
"""

import importlib
from typing import NamedTuple

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import _fastpath


class Pack(NamedTuple):
    """A policy pack: its description and the module whose ``POLICIES`` it serves."""

    description: str
    rules: str


PACKS = {
    "uae-residency": Pack(
        "UAE data residency: every resource, replica, copy, image and chart stays in the UAE.",
        "policies.rules.residency",
    ),
    "zero-trust": Pack(
        "Zero Trust: encryption at rest and in transit, no public exposure, least privilege, "
        "Pod Security restricted.",
        "policies.rules.zero_trust",
    ),
}
"""Every pack, by name (the name of its folder under ``policies/``)."""


def serve(name: str) -> None:
    """Serve the pack ``name`` as a mandatory pack over the Analyzer gRPC protocol.

    Constructing the ``PolicyPack`` starts the server, prints the port for the engine
    and blocks until the engine stops the process.
    """
    pack = PACKS[name]
    policies = importlib.import_module(pack.rules).POLICIES
    # Patch pulumi-policy's servicer first so every request takes the fast path.
    _fastpath.install()
    PolicyPack(
        name=name,
        description=pack.description,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=list(policies),
    )
