"""Shared fixtures: each shipped stack is planned once per test session."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import prometheus_client.values  # noqa: F401 (before feast: see _no_feast_multiprocess_metrics)
import pytest

from tests.model_fixtures import (  # noqa: F401 (fixtures)
    feature_repo,
    object_store,
    signing_keys,
    trained_model,
)

REPO = Path(__file__).resolve().parents[1]
_FEAST_METRICS_ENV = ("PROMETHEUS_MULTIPROCESS_DIR", "PROMETHEUS_MULTIPROC_DIR")


@pytest.fixture(autouse=True)
def _no_feast_multiprocess_metrics() -> None:
    """``import feast`` (feast.metrics) points both variables at a temporary folder and
    then imports prometheus_client, which switches every metric of the process to
    multiprocess mode: two metric objects of the same name and labels then share one
    value, even in separate registries, and child processes inherit the folder. The
    client is imported above, before any test imports feast, and the variables are
    dropped before each test so that servers a test starts run in the normal mode."""
    for name in _FEAST_METRICS_ENV:
        if "feast_metrics_" in os.environ.get(name, ""):
            del os.environ[name]


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
