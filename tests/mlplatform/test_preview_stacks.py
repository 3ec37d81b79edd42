"""Our own stack, planned as ``pulumi preview`` plans it before the first ``pulumi up``.

Its bucket, queue and trust policies are made of ARNs of resources being created: unknown
as a whole in that preview. An unknown is never by itself a mandatory violation, so the
packs pass it as they pass the update. The packs run with the stack's own policy
config, chosen as ``mlplatform policy --stack dev`` chooses it (the in-country object
stores its backups may go to are listed there, not in the rules).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlplatform import cli
from mlplatform.engine import plan_program
from mlplatform.policy import runner

REPO = Path(__file__).resolve().parents[2]


def test_dev_passes_the_packs_in_a_first_preview() -> None:
    plan = plan_program(REPO, "dev", preview=True)
    assert plan["preview"] is True
    unknown = [entry for entry in plan["resources"] if entry.get("unknownInputs")]
    assert unknown, "a first preview knows no ARN of what it creates"
    # The CLI's own choice of config for this repository's stack, not a copy of its rule.
    config_path = cli._policy_config_path(argparse.Namespace(config=None, stack="dev"), REPO)
    assert config_path == REPO / "policies" / "dev.policy-config.json"
    config = runner.load_pack_config(config_path)
    report = runner.run_packs(plan, runner.discover_packs(REPO / "policies"), config)
    problems = [
        f"{v.policy} on {v.resource_name} ({v.resource_type}): {v.message}"
        for v in report.mandatory_violations
    ]
    assert problems == [], "\n".join(problems)
