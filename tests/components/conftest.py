"""Run component code under the Pulumi SDK's mock monitor and record what it registers.

The platform's offline cloud answers like AWS for what the components read back (ARNs
and ids in the stack's region and account, the EKS endpoint, certificate authority and
OIDC issuer, a launch template's latest version, caller identity, region, partition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from mlplatform.engine.mocks import PlatformMocks

ACCOUNT = "123456789012"
REGION = "me-central-1"


@dataclass
class Registered:
    """One resource the program registered: type token, logical name, inputs, URN."""

    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    urn: str = ""
    state: dict[str, Any] | None = None
    rid: str | None = None


class RecordingMocks(PlatformMocks):
    """The offline engine's cloud (``PlatformMocks``), keeping every registration for asserts."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        record = Registered(args.typ, args.name, dict(args.inputs), bool(args.custom))
        self.resources.append(record)
        rid, state = super().new_resource(args)
        record.rid, record.state = rid, dict(state)
        return rid, state

    def of_type(self, typ: str) -> list[Registered]:
        """Registrations of one type token."""
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> Registered:
        """The single registration with this type and logical name."""
        found = [r for r in self.resources if r.typ == typ and r.name == name]
        assert len(found) == 1, f"{typ} {name}: {len(found)} registrations"
        return found[0]


@pytest.fixture
def run_program() -> Callable[[Callable[[], Any]], RecordingMocks]:
    """Run ``program`` under fresh mocks (stack ``dev``) and return the recording."""

    def _run(program: Callable[[], Any]) -> RecordingMocks:
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project="mlplatform", stack="dev", preview=False)

        @pulumi.runtime.test
        def _body() -> Any:
            return program()

        _body()
        monitor = pulumi.runtime.settings.SETTINGS.monitor
        urns = list(getattr(monitor, "resources", {}).keys())
        by_name: dict[str, list[str]] = {}
        for urn in urns:
            by_name.setdefault(urn.rsplit("::", 1)[-1], []).append(urn)
        for res in mocks.resources:
            candidates = [u for u in by_name.get(res.name, []) if f"{res.typ}::" in u]
            if candidates:
                res.urn = candidates[0]
        return mocks

    return _run
