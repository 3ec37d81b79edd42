"""Shared fixtures: each shipped stack is planned once per test session."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_STACKS = sorted(
    p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml")
)


@cache
def _plan(stack: str) -> dict[str, Any]:
    from mlplatform.engine import plan_program

    return plan_program(REPO, stack)


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str], dict[str, Any]]:
    """``stack_plan("prod")`` -> the plan dict of a shipped stack (planned once, cached)."""
    return _plan
