"""Our own stack, planned as ``pulumi preview`` plans it before the first ``pulumi up``.

Its bucket, queue and trust policies are made of ARNs of resources being created: unknown
as a whole in that preview. An unknown is never by itself a mandatory violation, so the
packs pass it as they pass the update.
"""

from __future__ import annotations

from pathlib import Path

from mlplatform.engine import plan_program
from mlplatform.policy import runner

REPO = Path(__file__).resolve().parents[2]


def test_dev_passes_the_packs_in_a_first_preview() -> None:
    plan = plan_program(REPO, "dev", preview=True)
    assert plan["preview"] is True
    unknown = [entry for entry in plan["resources"] if entry.get("unknownInputs")]
    assert unknown, "a first preview knows no ARN of what it creates"
    report = runner.run_packs(plan, runner.discover_packs(REPO / "policies"))
    problems = [
        f"{v.policy} on {v.resource_name} ({v.resource_type}): {v.message}"
        for v in report.mandatory_violations
    ]
    assert problems == [], "\n".join(problems)
