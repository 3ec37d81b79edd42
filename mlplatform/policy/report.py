"""Renderings of a :class:`~mlplatform.policy.runner.PolicyReport`: text, JSON and SARIF.

SARIF (2.1.0) is what GitHub code scanning ingests: one rule per policy (with its
remediation as help and its frameworks as tags), one result per violation, the
resource URN as the logical location. Results point at the line of the program that
registered the resource when the plan records it (``source``), else at the program's
``Pulumi.yaml`` (or the artifact the caller names).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from mlplatform.policy.model import PolicyInfo, PolicyReport, Violation

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "mlplatform-policy"
TOOL_URI = "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/"

_SARIF_LEVEL = {
    "mandatory": "error",
    "remediate": "error",
    "advisory": "warning",
    "disabled": "none",
}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "unspecified": 4}


def _grouped(report: PolicyReport) -> dict[str, list[Violation]]:
    groups: dict[str, list[Violation]] = defaultdict(list)
    for violation in report.violations:
        groups[violation.urn].append(violation)
    for violations in groups.values():
        violations.sort(
            key=lambda violation: (
                not violation.mandatory,
                _SEVERITY_ORDER.get(violation.severity, 9),
                violation.policy,
            )
        )
    return dict(sorted(groups.items()))


def render_text(report: PolicyReport) -> str:
    """Human-readable report: violations grouped by resource, then a summary line."""
    lines = []
    packs = ", ".join(
        f"{pack.name} {pack.version} ({len(pack.policies)} policies)" for pack in report.packs
    )
    lines.append(
        f"Policy check of {report.project}/{report.stack}: {report.resources_analyzed} "
        f"resources, packs: {packs}"
    )
    for urn, violations in _grouped(report).items():
        first = violations[0]
        kind = f" ({first.resource_type})" if first.resource_type else ""
        lines.append("")
        lines.append(f"{urn or '(stack)'}{kind}")
        for violation in violations:
            lines.append(
                f"  [{violation.enforcement_level}] [{violation.severity}] {violation.policy} "
                f"({violation.pack}){_waiver_note(violation)}"
            )
            for message_line in violation.message.splitlines() or [violation.description]:
                lines.append(f"      {message_line}")
            if violation.remediation:
                lines.append(f"      Remediation: {violation.remediation}")
            if violation.frameworks:
                lines.append(f"      Frameworks: {'; '.join(violation.frameworks)}")
    mandatory = len(report.mandatory_violations)
    waived = sum(1 for violation in report.violations if violation.waived)
    other = len(report.violations) - mandatory - waived
    resources = len({violation.urn for violation in report.violations})
    verdict = "FAILED" if report.exit_code else "PASSED"
    lines.append("")
    if report.violations:
        found = (
            f"{mandatory} mandatory and {other} advisory violation(s) on {resources} resource(s)"
        )
        if waived:
            found += f", {waived} waived"
    else:
        found = "no violations"
    lines.append(
        f"{verdict}: {found}; {report.resources_analyzed} resources analyzed "
        f"in {report.seconds:.2f}s."
    )
    return "\n".join(lines) + "\n"


def _waiver_note(violation: Violation) -> str:
    waiver = violation.waiver
    if waiver is None:
        return ""
    if waiver.expired:
        return f" [waiver EXPIRED on {waiver.expires}: counts again; {waiver.source}]"
    return f" [WAIVED until {waiver.expires}, approved by {waiver.approver}: {waiver.reason}]"


def _policy_dict(policy: PolicyInfo) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "enforcementLevel": policy.enforcement_level,
        "severity": policy.severity,
        "type": policy.policy_type,
        "frameworks": list(policy.frameworks),
        "remediation": policy.remediation,
    }


def render_json(report: PolicyReport) -> str:
    """Machine-readable report (stable key order, violations sorted by resource)."""
    document = {
        "project": report.project,
        "stack": report.stack,
        "exitCode": report.exit_code,
        "resourcesAnalyzed": report.resources_analyzed,
        "seconds": round(report.seconds, 3),
        # Waived findings stay in "violations" (each with its waiver) but not in the counts.
        "waived": sum(1 for violation in report.violations if violation.waived),
        "summary": {
            "mandatory": len(report.mandatory_violations),
            "advisory": sum(
                1
                for violation in report.violations
                if not violation.mandatory and not violation.waived
            ),
            "resources": len({violation.urn for violation in report.violations}),
        },
        "packs": [
            {
                "name": pack.name,
                "version": pack.version,
                "path": pack.path,
                "policies": [_policy_dict(policy) for policy in pack.policies],
            }
            for pack in report.packs
        ],
        "violations": [violation.to_dict() for violation in report.violations],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def _source_location(resource: Mapping[str, Any] | None, default_uri: str) -> tuple[str, int]:
    """Where the program registered a resource (file relative to the cwd, line), if known."""
    source = (resource or {}).get("source")
    if isinstance(source, Mapping) and isinstance(source.get("uri"), str):
        uri = source["uri"]
        line = source.get("line")
        path = pathlib.Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
        try:
            relative = path.resolve().relative_to(pathlib.Path.cwd().resolve()).as_posix()
        except ValueError:
            relative = uri
        return relative, line if isinstance(line, int) and line > 0 else 1
    return default_uri, 1


def _fingerprint(violation: Violation) -> str:
    text = "\x1f".join((violation.urn, violation.pack, violation.policy, violation.message))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sarif_rules(report: PolicyReport) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One SARIF rule per policy (first pack wins), and each policy's index among them."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for pack in report.packs:
        for policy in pack.policies:
            if policy.name in index:
                continue
            index[policy.name] = len(rules)
            tags = ["security", f"pack:{pack.name}", *policy.frameworks]
            properties: dict[str, Any] = {"tags": tags, "precision": "very-high"}
            if policy.severity in _SECURITY_SEVERITY:
                properties["security-severity"] = _SECURITY_SEVERITY[policy.severity]
            rule: dict[str, Any] = {
                "id": policy.name,
                "name": "".join(part.capitalize() for part in policy.name.split("-")),
                "shortDescription": {"text": policy.description},
                "fullDescription": {"text": policy.description},
                "defaultConfiguration": {
                    "level": _SARIF_LEVEL.get(policy.enforcement_level, "warning")
                },
                "properties": properties,
            }
            if policy.remediation:
                rule["help"] = {
                    "text": policy.remediation,
                    "markdown": f"**Remediation.** {policy.remediation}",
                }
            rules.append(rule)
    return rules, index


def _sarif_result(
    violation: Violation, resource: Mapping[str, Any] | None, artifact_uri: str
) -> dict[str, Any]:
    """One SARIF result: the violation, located at the line that registered the resource."""
    uri, line = _source_location(resource, artifact_uri)
    return {
        "ruleId": violation.policy,
        "level": _SARIF_LEVEL.get(violation.enforcement_level, "warning"),
        "message": {
            "text": f"{violation.resource_name or 'stack'} ({violation.resource_type or 'stack'})"
            f": {violation.message or violation.description}"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line},
                },
                "logicalLocations": [
                    {
                        "name": violation.resource_name or "stack",
                        "fullyQualifiedName": violation.urn or "stack",
                        "kind": "resource",
                    }
                ],
            }
        ],
        "partialFingerprints": {"mlplatformPolicyViolation/v1": _fingerprint(violation)},
        **_sarif_suppressions(violation),
        "properties": {
            "urn": violation.urn,
            "pack": violation.pack,
            "enforcementLevel": violation.enforcement_level,
            "severity": violation.severity,
            "frameworks": list(violation.frameworks),
        },
    }


def _sarif_suppressions(violation: Violation) -> dict[str, Any]:
    """A waived result carries an accepted external suppression (SARIF 2.1.0 §3.35)."""
    waiver = violation.waiver
    if waiver is None or waiver.expired:
        return {}
    return {
        "suppressions": [
            {
                # "state" as in the 2.1.0 schema of json.schemastore.org that tests validate
                # against (the OASIS errata renamed it "status").
                "kind": "external",
                "state": "accepted",
                "justification": f"{waiver.reason} (approved by {waiver.approver}, "
                f"expires {waiver.expires}; {waiver.source})",
                "properties": {
                    "approver": waiver.approver,
                    "expires": waiver.expires,
                    "waiver": waiver.source,
                },
            }
        ]
    }


def render_sarif(
    report: PolicyReport, plan: Mapping[str, Any], artifact_uri: str = "Pulumi.yaml"
) -> str:
    """SARIF 2.1.0 log for GitHub code scanning (one run, one rule per policy)."""
    rules, index = _sarif_rules(report)
    by_urn = {
        resource.get("urn"): resource
        for resource in plan.get("resources") or []
        if isinstance(resource, Mapping)
    }
    results = []
    for violation in report.violations:
        result = _sarif_result(violation, by_urn.get(violation.urn), artifact_uri)
        if violation.policy in index:
            result["ruleIndex"] = index[violation.policy]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "informationUri": TOOL_URI,
                        "version": "+".join(f"{pack.name}-{pack.version}" for pack in report.packs)
                        or "0",
                        "rules": rules,
                    }
                },
                "automationDetails": {
                    "id": f"mlplatform-policy/{plan.get('project', '')}/{plan.get('stack', '')}/"
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "exitCode": report.exit_code,
                    }
                ],
                "results": results,
                "properties": {
                    "project": report.project,
                    "stack": report.stack,
                    "resourcesAnalyzed": report.resources_analyzed,
                },
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
