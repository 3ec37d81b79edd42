"""Start-up shared by the pack entry points (``policies/<pack>/__main__.py``).

Each pack folder stays what the Pulumi CLI expects (``PulumiPolicy.yaml`` and a
``__main__.py`` started as ``python -m pulumi.policy <engine address> .`` from that
folder); the entry point only puts the repository root on ``sys.path`` and calls
:func:`serve` with its name, description and rules.
"""

from collections.abc import Iterable

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies.rules import _fastpath


def serve(
    name: str,
    description: str,
    policies: Iterable[ResourceValidationPolicy | StackValidationPolicy],
) -> None:
    """Serve ``policies`` as a mandatory pack over the Analyzer gRPC protocol.

    Constructing the ``PolicyPack`` starts the server, prints the port for the engine
    and blocks until the engine stops the process.
    """
    # Patch pulumi-policy's servicer first so every request takes the fast path.
    _fastpath.install()
    PolicyPack(
        name=name,
        description=description,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=list(policies),
    )
