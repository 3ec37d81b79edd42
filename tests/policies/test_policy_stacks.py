"""Every shipped stack passes both packs with zero mandatory violations (the CI gate).

When this fails, fix the component that produced the resource, not the rule: the
message names the resource, the policy and the remediation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_helpers import PACKS, REPO

from mlplatform.policy import runner

STACKS = sorted(
    p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml")
)


def test_there_are_stacks_to_check() -> None:
    assert {"dev", "staging", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_has_no_mandatory_violation(
    stack: str, stack_plan: Callable[[str], dict[str, Any]]
) -> None:
    # The stack's own pack configuration, as `mlplatform policy` loads it.
    own = REPO / "policies" / f"{stack}.policy-config.json"
    config = runner.load_pack_config(own) if own.exists() else None
    report = runner.run_packs(stack_plan(stack), PACKS, config)
    problems = [
        f"{v.policy} on {v.resource_name} ({v.resource_type}): {v.message}"
        for v in report.mandatory_violations
    ]
    assert problems == [], "\n".join(problems)
    assert report.resources_analyzed == len(stack_plan(stack)["resources"])
