"""Fixtures for the policy tests (helpers live in ``policy_helpers``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def stack_region(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Set the stack's ``aws:region`` as the engine would pass it to the pack."""
    from policies.rules import residency

    def set_region(region: str | None) -> None:
        monkeypatch.setattr(residency, "stack_region", lambda: region)

    set_region("me-central-1")
    return set_region
