"""``mlplatform report``: the compliance evidence report of a stack, before ``pulumi up``.

Writes into ``<out>``: ``report.json`` (validated by ``report.schema.json`` beside this
module), ``controls.csv`` (one row per control x resource, Prowler-like columns) and
``report.html`` (one self-contained file: inline CSS, charts as inline SVG, no scripts).

With ``--registry TENANT=URI`` the report also traces each served model version to its
training data (the "Model lineage" section, :mod:`mlplatform.report.lineage`); without
it that section says "not provided".

Exit 0 when no unwaived mandatory violation (and, with ``--registry``, every champion and
challenger has a verified signature and a lineage block), 1 otherwise, 2 for bad input
(waivers, frameworks mapping, usage, baseline, policy config, registry or model card).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlplatform.report.evidence import (
    DATA_STORE_TYPES,
    PlanIndex,
    data_store_evidence,
    key_properties,
)
from mlplatform.report.lineage import (
    EVIDENCE,
    LineageError,
    check_registries,
    lineage_section,
    plan_verify_keys,
)

SCHEMA_PATH = pathlib.Path(__file__).with_name("report.schema.json")
SCHEMA_VERSION = "1"
CSV_COLUMNS = [
    "AssessmentDate",
    "Requirements_Id",
    "Requirements_Name",
    "Status",
    "StatusExtended",
    "ResourceId",
    "CheckId",
    "Muted",
    "Framework",
    "Project",
    "Stack",
    "Region",
    "ResourceType",
    "WaiverApprover",
    "WaiverExpires",
]
STATUSES = ("pass", "fail", "waived", "not assessed")


class ReportError(ValueError):
    """Bad input to the report (one line naming the file and the field)."""


@dataclass
class ReportInputs:
    """What ``mlplatform report`` was asked for."""

    program: pathlib.Path
    stack: str
    preview: bool
    packs: Sequence[pathlib.Path] | None
    policy_root: pathlib.Path
    config_path: pathlib.Path | None
    waivers_path: pathlib.Path | None
    frameworks_path: pathlib.Path
    usage_path: pathlib.Path | None
    baseline_dir: pathlib.Path | None
    out_dir: pathlib.Path
    registries: Mapping[str, str] = field(default_factory=dict)
    """Tenant -> its model registry (folder or ``s3://``): the lineage section."""
    verify_keys: Mapping[str, str] = field(default_factory=dict)
    """Tenant -> a public key PEM file overriding the plan's (``--verify-key``)."""


# --- the controls mapping ----------------------------------------------------------------


def load_frameworks(path: pathlib.Path) -> dict[str, Any]:
    """The reviewed controls mapping (see ``policies/frameworks.yaml``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ReportError(f"{path}: cannot read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise ReportError(f"{path}: invalid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("frameworks"), list):
        raise ReportError(f"{path}: expected a mapping with 'review_status' and 'frameworks'")
    for index, framework in enumerate(data["frameworks"]):
        where = f"{path}: frameworks[{index}]"
        if not isinstance(framework, Mapping) or not framework.get("name"):
            raise ReportError(f"{where}.name: required")
        if not framework.get("source"):
            raise ReportError(f"{where}.source: required (cite where the control ids come from)")
        for number, control in enumerate(framework.get("controls") or []):
            if not isinstance(control, Mapping) or not control.get("id"):
                raise ReportError(f"{where}.controls[{number}].id: required")
            rules = control.get("rules") or []
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise ReportError(f"{where}.controls[{number}].rules: expected a list of names")
            evidence = control.get("evidence") or []
            if not isinstance(evidence, list) or any(e != EVIDENCE for e in evidence):
                raise ReportError(
                    f"{where}.controls[{number}].evidence: allowed: a list of {EVIDENCE!r}"
                )
    return dict(data)


def evaluate_controls(
    mapping: Mapping[str, Any],
    policy_report: Any,
    index: PlanIndex,
    lineage: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every framework's controls with status, rules and evidence."""
    policies = {p.name: p for pack in policy_report.packs for p in pack.policies}
    declared: dict[tuple[str, str], set[str]] = {}
    for policy in policies.values():
        for tag in policy.frameworks:
            name, _, control = tag.partition(":")
            declared.setdefault((name, control), set()).add(policy.name)
    violations_by_rule: dict[str, list[Any]] = {}
    for violation in policy_report.violations:
        violations_by_rule.setdefault(violation.policy, []).append(violation)
    frameworks = []
    seen_names = set()
    for framework in mapping["frameworks"]:
        name = str(framework["name"])
        seen_names.add(name)
        listed = {str(c["id"]): c for c in framework.get("controls") or []}
        ids = list(listed) + sorted(
            {control for (fw, control) in declared if fw == name} - set(listed), key=_natural
        )
        controls = [
            _with_lineage(
                _control(
                    name, cid, listed.get(cid, {}), declared, policies, violations_by_rule, index
                ),
                listed.get(cid, {}),
                lineage,
            )
            for cid in ids
        ]
        frameworks.append(
            {
                "name": name,
                "title": str(framework.get("title") or ""),
                "source": str(framework.get("source") or ""),
                "controls": controls,
                "summary": {s: sum(1 for c in controls if c["status"] == s) for s in STATUSES},
            }
        )
    for fw in sorted({fw for (fw, _) in declared} - seen_names):
        ids = sorted({control for (name, control) in declared if name == fw}, key=_natural)
        controls = [
            _control(fw, cid, {}, declared, policies, violations_by_rule, index) for cid in ids
        ]
        frameworks.append(
            {
                "name": fw,
                "title": "",
                "source": "declared by the policy packs (not in the reviewed mapping)",
                "controls": controls,
                "summary": {s: sum(1 for c in controls if c["status"] == s) for s in STATUSES},
            }
        )
    return frameworks


def _with_lineage(
    control: dict[str, Any], entry: Mapping[str, Any], lineage: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Add the lineage section's versions as evidence of a control that lists it."""
    if EVIDENCE not in (entry.get("evidence") or []) or not (lineage or {}).get("provided"):
        return control
    for version in lineage["versions"] if lineage else []:
        what = f"{version['tenant']}/{version['model']} {version['version']} ({version['stage']})"
        properties = {
            "signature": version["signature"]["status"],
            "cardSha256": version["cardSha256"],
            "trainingFiles": len((version["lineage"] or {}).get("files") or []),
        }
        if version["status"] == "fail":
            control["findings"].append(
                {
                    "urn": version["card"],
                    "type": "model card",
                    "rule": EVIDENCE,
                    "enforcementLevel": "mandatory",
                    "message": f"{what}: " + "; ".join(version["problems"]),
                    "waived": False,
                    "waiver": None,
                    "region": "",
                    "properties": properties,
                }
            )
        else:
            control["passing"].append(
                {
                    "urn": version["card"],
                    "type": "model card",
                    "rule": EVIDENCE,
                    "region": "",
                    "properties": properties,
                }
            )
    control["rules"] = [*control["rules"], EVIDENCE]
    if any(f["rule"] == EVIDENCE for f in control["findings"]):
        control["status"] = "fail"
    elif control["status"] == "not assessed":
        control["status"] = "pass"
    return control


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _names(type_: str) -> tuple[list[str], str]:
    """Kebab names a rule may start with for ``type_``, and its module-level name.

    ``aws:ec2/securityGroup:SecurityGroup`` -> ``aws-ec2-security-group`` and
    ``aws-security-group``, module ``aws-ec2``; ``kubernetes:rbac.authorization.k8s.io/v1:
    Role`` -> ``kubernetes-role``, module ``kubernetes-rbac``.
    """
    package, _, rest = type_.partition(":")
    module, _, kind = rest.partition(":")
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()
    if package == "kubernetes":
        group = module.split("/")[0].split(".")[0]
        return [f"kubernetes-{kebab}"], f"kubernetes-{group}"
    module = module.split("/")[0]
    return [f"{package}-{module}-{kebab}", f"{package}-{kebab}"], f"{package}-{module}"


def _has_containers(value: Any) -> bool:
    if isinstance(value, Mapping):
        return isinstance(value.get("containers"), list) or any(
            _has_containers(item) for item in value.values()
        )
    if isinstance(value, list):
        return any(_has_containers(item) for item in value)
    return False


def _rule_types(rule: str, index: PlanIndex) -> list[Mapping[str, Any]]:
    """Resources of the type a rule name targets (a heuristic over kebab-case rule names).

    ``aws-s3-bucket-sse-kms`` -> S3 buckets (the longest type name the rule starts
    with); ``aws-iam-no-...`` -> every IAM resource (module level); ``kubernetes-pod-...``
    -> every Kubernetes object that carries a pod spec; ``...-region-...`` -> every AWS
    resource. Used only to list the resources a
    passing control was checked on; failures come from the packs themselves.
    """
    custom = [r for r in index.resources if r.get("custom")]
    if rule.startswith("kubernetes-pod-"):
        return [
            r
            for r in custom
            if str(r.get("type", "")).startswith("kubernetes:") and _has_containers(r.get("inputs"))
        ]
    best: dict[int, list[Mapping[str, Any]]] = {}
    module_level = []
    for resource in custom:
        names, module = _names(str(resource.get("type", "")))
        matched = [len(name) for name in names if rule.startswith(name + "-")]
        if matched:
            best.setdefault(max(matched), []).append(resource)
        elif rule.startswith(module + "-"):
            module_level.append(resource)
    if best:
        return best[max(best)]
    if not module_level and "-region-" in rule:
        # Residency rules judge every cloud resource's region.
        return [r for r in custom if str(r.get("type", "")).startswith("aws:")]
    return module_level


def _control(
    framework: str,
    control_id: str,
    entry: Mapping[str, Any],
    declared: Mapping[tuple[str, str], set[str]],
    policies: Mapping[str, Any],
    violations_by_rule: Mapping[str, list[Any]],
    index: PlanIndex,
) -> dict[str, Any]:
    wanted = sorted(set(entry.get("rules") or []) | declared.get((framework, control_id), set()))
    rules = [rule for rule in wanted if rule in policies]
    missing = [rule for rule in wanted if rule not in policies]
    findings = [v for rule in rules for v in violations_by_rule.get(rule, [])]
    if not rules:
        status = "not assessed"
    elif any(not v.waived for v in findings):
        status = "fail"
    elif findings:
        status = "waived"
    else:
        status = "pass"
    failing = {(v.urn, v.policy) for v in findings}
    checked = []
    for rule in rules:
        for resource in _rule_types(rule, index)[:50]:
            if (resource.get("urn"), rule) in failing:
                continue
            checked.append(
                {
                    "urn": str(resource.get("urn")),
                    "type": str(resource.get("type")),
                    "rule": rule,
                    "region": index.region(resource),
                    "properties": key_properties(resource),
                }
            )
    return {
        "id": control_id,
        "title": str(entry.get("title") or ""),
        "status": status,
        "rules": rules,
        "rulesNotRun": missing,
        "findings": [
            {
                "urn": v.urn,
                "type": v.resource_type,
                "rule": v.policy,
                "enforcementLevel": v.enforcement_level,
                "message": v.message,
                "waived": v.waived,
                "waiver": v.waiver.to_dict() if v.waiver else None,
                "region": index.region(index.by_urn.get(v.urn, {}))
                if v.urn in index.by_urn
                else "",
                "properties": key_properties(index.by_urn.get(v.urn, {})),
            }
            for v in findings
        ],
        "passing": checked,
    }


# --- scope -------------------------------------------------------------------------------


def _git_commit(program: pathlib.Path) -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=program,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = completed.stdout.strip()
    if completed.returncode != 0 or not commit:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=program,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


# --- the document ------------------------------------------------------------------------


def build_document(
    plan: Mapping[str, Any],
    policy_report: Any,
    estimate: Any,
    mapping: Mapping[str, Any],
    program: pathlib.Path,
    baseline: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``report.json``'s content (see ``report.schema.json``).

    ``lineage``: the section :func:`~mlplatform.report.lineage.lineage_section` built
    (None: no registry given, the section says "not provided").
    """
    if lineage is None:
        lineage = lineage_section({}, {}, {}, [])
    index = PlanIndex(plan)
    generated = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    custom = [
        r
        for r in index.resources
        if r.get("custom") and not str(r.get("type")).startswith("pulumi:")
    ]
    residency = [
        {"urn": str(r.get("urn")), "type": str(r.get("type")), "region": index.region(r)}
        for r in custom
    ]
    regions = sorted({row["region"] for row in residency if not row["region"].startswith("n/a")})
    data_stores = [
        data_store_evidence(index, r) for r in custom if r.get("type") in DATA_STORE_TYPES
    ]
    frameworks = evaluate_controls(mapping, policy_report, index, lineage)
    cost = estimate.to_dict()
    tenants = sorted(cost["tenants"])
    rules = [
        {
            "name": policy.name,
            "pack": pack.name,
            "enforcementLevel": policy.enforcement_level,
            "severity": policy.severity,
            "description": policy.description,
            "frameworks": list(policy.frameworks),
            "status": _rule_status(policy.name, policy_report),
            "findings": sum(1 for v in policy_report.violations if v.policy == policy.name),
        }
        for pack in policy_report.packs
        for policy in pack.policies
    ]
    document: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "scope": {
            "project": str(plan.get("project") or ""),
            "stack": str(plan.get("stack") or ""),
            "account": index.account(),
            "regions": regions,
            "gitCommit": _git_commit(program),
            "generatedAt": generated.isoformat().replace("+00:00", "Z"),
            "preview": bool(plan.get("preview", False)),
            "packs": [{"name": p.name, "version": p.version} for p in policy_report.packs],
            "reviewStatus": str(mapping.get("review_status") or ""),
        },
        "verdict": {
            "exitCode": 1 if lineage.get("status") == "fail" else policy_report.exit_code,
            "mandatoryViolations": len(policy_report.mandatory_violations),
            "waived": sum(1 for v in policy_report.violations if v.waived),
            "findings": len(policy_report.violations),
            "resourcesAnalyzed": policy_report.resources_analyzed,
        },
        "tenants": tenants,
        "rules": rules,
        "findings": [v.to_dict() for v in policy_report.violations],
        "frameworks": frameworks,
        "residency": {"resources": residency, "dataStores": data_stores},
        "cost": cost,
        "lineage": dict(lineage),
    }
    if baseline is not None:
        document["diff"] = diff_reports(baseline, document)
    return document


def _rule_status(rule: str, policy_report: Any) -> str:
    findings = [v for v in policy_report.violations if v.policy == rule]
    if any(not v.waived for v in findings):
        return "fail"
    return "waived" if findings else "pass"


def _finding_keys(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f"{f.get('policy')}|{f.get('urn')}": f for f in document.get("findings") or []}


def diff_reports(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """New, fixed and changed findings and control statuses since ``before``."""
    old, new = _finding_keys(before), _finding_keys(after)
    changed = [
        {"key": key, "before": _state(old[key]), "after": _state(new[key])}
        for key in sorted(set(old) & set(new))
        if _state(old[key]) != _state(new[key])
        or old[key].get("message") != new[key].get("message")
    ]

    def statuses(document: Mapping[str, Any]) -> dict[str, str]:
        return {
            f"{fw['name']}:{c['id']}": c["status"]
            for fw in document.get("frameworks") or []
            for c in fw.get("controls") or []
        }

    old_controls, new_controls = statuses(before), statuses(after)
    before_cost = (before.get("cost") or {}).get("total", {}).get("pricedUsd")
    after_cost = (after.get("cost") or {}).get("total", {}).get("pricedUsd")
    return {
        "baselineGeneratedAt": str((before.get("scope") or {}).get("generatedAt") or ""),
        "newFindings": sorted(set(new) - set(old)),
        "fixedFindings": sorted(set(old) - set(new)),
        "changedFindings": changed,
        "controlChanges": [
            {"control": key, "before": old_controls.get(key, "absent"), "after": status}
            for key, status in sorted(new_controls.items())
            if old_controls.get(key) != status
        ],
        "costChangeUsd": None
        if before_cost is None or after_cost is None
        else round(float(after_cost) - float(before_cost), 2),
    }


def _state(finding: Mapping[str, Any]) -> str:
    return "waived" if finding.get("waived") else str(finding.get("enforcementLevel"))


def csv_rows(document: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per control x resource (a control with no resource: one row, empty id)."""
    date = document["scope"]["generatedAt"]
    project, stack = document["scope"]["project"], document["scope"]["stack"]
    rows = []
    for framework in document["frameworks"]:
        for control in framework["controls"]:
            base = {
                "AssessmentDate": date,
                "Requirements_Id": control["id"],
                "Requirements_Name": control["title"],
                "Framework": framework["name"],
                "Project": project,
                "Stack": stack,
            }
            emitted = False
            for finding in control["findings"]:
                waiver = finding.get("waiver") or {}
                rows.append(
                    {
                        **base,
                        "Status": "FAIL",
                        "StatusExtended": finding["message"].splitlines()[0]
                        if finding["message"]
                        else "",
                        "ResourceId": finding["urn"],
                        "CheckId": finding["rule"],
                        "Muted": "True" if finding["waived"] else "False",
                        "Region": finding.get("region", ""),
                        "ResourceType": finding.get("type", ""),
                        "WaiverApprover": str(waiver.get("approver", "")),
                        "WaiverExpires": str(waiver.get("expires", "")),
                    }
                )
                emitted = True
            for passing in control["passing"]:
                rows.append(
                    {
                        **base,
                        "Status": "PASS",
                        "StatusExtended": f"no finding from {passing['rule']}",
                        "ResourceId": passing["urn"],
                        "CheckId": passing["rule"],
                        "Muted": "False",
                        "Region": passing["region"],
                        "ResourceType": passing["type"],
                        "WaiverApprover": "",
                        "WaiverExpires": "",
                    }
                )
                emitted = True
            if not emitted:
                status = {"not assessed": "MANUAL"}.get(
                    control["status"], control["status"].upper()
                )
                rows.append(
                    {
                        **base,
                        "Status": status,
                        "StatusExtended": "no rule maps to this control: assess manually"
                        if control["status"] == "not assessed"
                        else f"rules {', '.join(control['rules'])}: no finding (stack-level or "
                        "no resource of the targeted type)",
                        "ResourceId": "",
                        "CheckId": ";".join(control["rules"]),
                        "Muted": "False",
                        "Region": "",
                        "ResourceType": "",
                        "WaiverApprover": "",
                        "WaiverExpires": "",
                    }
                )
    return rows


def write_outputs(document: Mapping[str, Any], out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write report.json, controls.csv and report.html into ``out_dir``."""
    from mlplatform.report.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "controls.csv", out_dir / "report.html"]
    paths[0].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    with paths[1].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(document))
    paths[2].write_text(render_html(document), encoding="utf-8")
    return paths


def load_baseline_report(folder: pathlib.Path) -> dict[str, Any]:
    path = folder / "report.json" if folder.is_dir() else folder
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ReportError(f"--baseline {path}: cannot read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"--baseline {path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or "frameworks" not in data or "scope" not in data:
        raise ReportError(f"--baseline {path}: not a report.json of `mlplatform report`")
    return data


def build_report(inputs: ReportInputs) -> int:
    """Run everything and write the report; the exit code."""
    from mlplatform.cost.estimate import CostError, estimate_plan, load_usage
    from mlplatform.engine import UsageError
    from mlplatform.engine.isolated import plan_isolated
    from mlplatform.policy import runner
    from mlplatform.policy.waivers import WaiverError, apply_waivers, load_waivers

    try:
        waivers = load_waivers(inputs.waivers_path) if inputs.waivers_path else []
        mapping = load_frameworks(inputs.frameworks_path)
        usage = load_usage(inputs.usage_path)
        baseline = load_baseline_report(inputs.baseline_dir) if inputs.baseline_dir else None
        config = runner.load_pack_config(inputs.config_path) if inputs.config_path else None
        check_registries(inputs.registries)
    except (WaiverError, ReportError, CostError, runner.PackError, LineageError) as exc:
        raise UsageError(str(exc)) from None
    packs = list(inputs.packs or runner.discover_packs(inputs.policy_root))
    for pack in packs:
        if not (pack / "PulumiPolicy.yaml").is_file():
            raise UsageError(
                f"--pack {pack}: no PulumiPolicy.yaml there (not a policy pack folder)"
            )
    plan = plan_isolated(inputs.program, inputs.stack, preview=inputs.preview)
    try:
        policy_report = apply_waivers(runner.run_packs(plan, packs, config), waivers)
        estimate = estimate_plan(plan, usage)
    except (runner.PackError, WaiverError, CostError) as exc:
        print(f"mlplatform report: error: {exc}", file=sys.stderr)
        return 2
    try:
        tenants = sorted(estimate.to_dict()["tenants"])
        lineage = lineage_section(
            inputs.registries, plan_verify_keys(plan, tenants), inputs.verify_keys, tenants
        )
    except LineageError as exc:
        print(f"mlplatform report: error: {exc}", file=sys.stderr)
        return 2
    document = build_document(
        plan, policy_report, estimate, mapping, inputs.program, baseline, lineage=lineage
    )
    paths = write_outputs(document, inputs.out_dir)
    verdict = document["verdict"]
    state = "FAILED" if verdict["exitCode"] else "PASSED"
    print(
        f"{state}: {verdict['mandatoryViolations']} unwaived mandatory violation(s), "
        f"{verdict['waived']} waived; {len(document['tenants'])} tenants; estimate "
        f"${document['cost']['total']['pricedUsd']:,.2f}/month priced, "
        f"{document['cost']['total']['unpricedItems']} unpriced item(s)"
    )
    if lineage.get("provided"):
        print(
            f"model lineage: {len(lineage['versions'])} served version(s), "
            f"{lineage['failed']} failed (no lineage or signature not verified)"
        )
    for path in paths:
        print(f"wrote {path}")
    return int(verdict["exitCode"])
