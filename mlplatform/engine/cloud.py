"""A deterministic stand-in for the cloud: what it knows, shared by its answers.

Real programs read computed outputs (ARNs, ids, the EKS OIDC issuer) and call data
sources (availability zones, caller identity, policy documents). Offline, these are
answered the way AWS and the Kubernetes provider would answer, deterministically: the
same program and stack always produce the same plan. Ids and ARNs are made in the
stack's region and a fixed offline account.

- ``computed.py``: the id and state a provider reports after creating a resource
  (table ``OUTPUTS``, type token -> function);
- ``invokes.py``: answers to data sources (table ``INVOKES``, token -> function).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

OFFLINE_ACCOUNT_ID = "123456789012"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's sentinel for a value not known yet (``UnknownStringValue`` on the wire)."""

EKS_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "-----END CERTIFICATE-----\n"
)
EKS_CA_DATA = base64.b64encode(EKS_CA_PEM.encode()).decode()
"""The certificate authority data an EKS cluster reports (base64 of a PEM)."""


def digest(*parts: str, length: int = 17) -> str:
    """A stable hex digest of ``parts`` (ids are derived from URNs, never random)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


class UnanswerableInvokeError(Exception):
    """An invoke the offline cloud cannot answer faithfully."""


@dataclass
class CloudContext:
    """What the stand-in cloud knows: account, default region, provider regions."""

    account_id: str = OFFLINE_ACCOUNT_ID
    default_region: str = "me-central-1"
    provider_regions: dict[str, str] = field(default_factory=dict)
    eks_clusters: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(region, name) -> the state of each EKS cluster this run created (for ``getCluster``)."""

    def region_for(self, inputs: dict[str, Any], provider_ref: str | None) -> str:
        """pulumi-aws v7 per-resource ``region`` input, else the provider's, else the stack's."""
        region = inputs.get("region")
        if isinstance(region, str) and region:
            return region
        if provider_ref and provider_ref in self.provider_regions:
            return self.provider_regions[provider_ref]
        return self.default_region
