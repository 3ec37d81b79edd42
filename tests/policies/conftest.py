"""Fixtures for the policy tests (helpers live in ``policy_helpers``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which does not put test folders on
# sys.path; the shared helpers module of this folder is imported by name.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def stack_region(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Set the stack's ``aws:region`` as the engine would pass it to the pack."""
    from policies.rules.residency import regions

    def set_region(region: str | None) -> None:
        monkeypatch.setattr(regions, "stack_region", lambda package="aws": region)

    set_region("me-central-1")
    return set_region
