"""What a policy run produces (policies, violations, per-pack details) and how it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PackError(Exception):
    """A pack could not be run: it crashed, hung, or its configuration is invalid.

    The message is one line, followed (when there is one) by the tail of the pack's stderr.
    """


class PackConfigError(PackError):
    """The policy-pack configuration is malformed or does not match a policy's schema."""


@dataclass(frozen=True)
class PolicyInfo:
    """A policy as the pack describes it (``GetAnalyzerInfo``)."""

    name: str
    description: str
    enforcement_level: str
    severity: str
    remediation: str
    frameworks: tuple[str, ...]
    policy_type: str


@dataclass(frozen=True)
class WaiverMatch:
    """The waiver that covers a violation (see :mod:`mlplatform.policy.waivers`)."""

    rule: str
    resource: str
    reason: str
    approver: str
    expires: str
    ticket: str
    expired: bool
    """Past its expiry: the violation counts again."""
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule": self.rule,
            "resource": self.resource,
            "reason": self.reason,
            "approver": self.approver,
            "expires": self.expires,
            "ticket": self.ticket,
            "expired": self.expired,
            "source": self.source,
        }


@dataclass(frozen=True)
class Violation:
    """One policy violation reported by a pack."""

    urn: str
    resource_type: str
    resource_name: str
    policy: str
    pack: str
    pack_version: str
    enforcement_level: str
    severity: str
    message: str
    description: str
    remediation: str
    frameworks: tuple[str, ...]
    waiver: WaiverMatch | None = None
    """The waiver covering it, if any (an expired one does not waive it)."""

    @property
    def mandatory(self) -> bool:
        """Whether this violation blocks a deployment (its level, and no valid waiver)."""
        return self.enforcement_level in ("mandatory", "remediate") and not self.waived

    @property
    def waived(self) -> bool:
        """Covered by a waiver that has not expired: listed, but it does not count."""
        return self.waiver is not None and not self.waiver.expired

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "urn": self.urn,
            "resourceType": self.resource_type,
            "resourceName": self.resource_name,
            "policy": self.policy,
            "pack": self.pack,
            "packVersion": self.pack_version,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
            "message": self.message,
            "description": self.description,
            "remediation": self.remediation,
            "frameworks": list(self.frameworks),
            **({"waiver": self.waiver.to_dict()} if self.waiver else {}),
            "waived": self.waived,
        }


@dataclass
class PackInfo:
    """A pack that ran, with its policies and timings."""

    name: str
    version: str
    path: str
    policies: list[PolicyInfo]
    resources_analyzed: int
    start_seconds: float
    analyze_seconds: float
    stack_seconds: float
    log: list[str] = field(default_factory=list)


@dataclass
class PolicyReport:
    """Everything one ``run_packs`` call found."""

    project: str
    stack: str
    violations: list[Violation]
    packs: list[PackInfo]
    resources_analyzed: int
    seconds: float

    @property
    def mandatory_violations(self) -> list[Violation]:
        """Violations that block a deployment."""
        return [violation for violation in self.violations if violation.mandatory]

    @property
    def exit_code(self) -> int:
        """1 when any mandatory violation was found, else 0."""
        return 1 if self.mandatory_violations else 0
