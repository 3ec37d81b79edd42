"""The example GitHub workflow runs what the issue asks for, for every shipped stack."""

from __future__ import annotations

import yaml
from policy_helpers import REPO

WORKFLOW = REPO / ".github" / "workflows" / "policy.yml"


def _load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_lints_tests_and_uploads_sarif_on_pull_requests() -> None:
    workflow = _load()
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the bare key `on` as True
    jobs = workflow["jobs"]
    assert "ruff check" in _runs(jobs["lint-and-test"]) and "make test" in _runs(
        jobs["lint-and-test"]
    )
    offline = jobs["policy-offline"]
    assert offline["permissions"]["security-events"] == "write"
    shipped = sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml")
    )
    assert sorted(offline["strategy"]["matrix"]["stack"]) == shipped
    assert "mlplatform policy --stack" in _runs(offline) and "--format sarif" in _runs(offline)
    uploads = [
        s
        for s in offline["steps"]
        if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    ]
    assert len(uploads) == 1 and "always()" in uploads[0]["if"]


def test_preview_job_uses_the_packs_under_the_pulumi_cli() -> None:
    preview = _load()["jobs"]["pulumi-preview"]
    assert "AWS_ROLE_ARN" in preview["if"]
    action = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert action["with"]["command"] == "preview"
    assert action["with"]["policyPacks"].split() == [
        "policies/uae-residency",
        "policies/zero-trust",
    ]
    for pack in ("uae-residency", "zero-trust"):
        assert (REPO / "policies" / pack / "requirements.txt").is_file()
        assert f"policies/{pack}" in _runs(preview) or "for pack in" in _runs(preview)


def test_policies_readme_lists_every_rule() -> None:
    from policies.rules import residency, zero_trust

    readme = (REPO / "policies" / "README.md").read_text(encoding="utf-8")
    missing = [
        p.name for p in [*residency.POLICIES, *zero_trust.POLICIES] if f"`{p.name}`" not in readme
    ]
    assert missing == []
