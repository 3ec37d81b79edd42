"""Applies canary decisions to a KServe InferenceService through the Kubernetes API.

Uses the official client (``kubernetes.client.CustomObjectsApi``) against
``serving.kserve.io/v1beta1`` ``inferenceservices``; every change is a JSON merge patch.

What each action does, and why:

- **rollback**: ``spec.predictor.canaryTrafficPercent: 0``. KServe then routes all
  traffic to the last rolled-out revision (the champion) at once, without waiting
  for a new revision to start. When the caller knows the champion's model location,
  ``spec.predictor.model.storageUri`` is restored to it as well, so the spec no longer
  names the bad model and a later edit cannot roll it out again by accident.
- **promote**: ``canaryTrafficPercent`` is removed, so the latest revision (the
  challenger) takes all traffic and becomes the rolled-out revision.
- **set_traffic**: ``canaryTrafficPercent: N`` (a canary step).

Idempotent: the object is read first and patched only when the spec differs from
the target, so a redelivered alert or a retried call makes no second change. Scoped:
an actuator belongs to one tenant namespace and refuses any other before any call.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from workloads.rollout.canary import Action, CanaryDecision

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
PLURAL = "inferenceservices"
ANNOTATION = "serving.mlplatform.ai/last-canary-action"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class TenantScopeError(PermissionError):
    """The requested namespace is not the actuator's tenant namespace."""


class ActuatorError(RuntimeError):
    """The Kubernetes API refused or the object is not a canary-capable InferenceService."""


@dataclass(frozen=True)
class ActuationResult:
    """What the actuator did (``changed`` is False when the object already matched)."""

    action: str
    namespace: str
    name: str
    changed: bool
    patch: dict[str, Any] | None
    canary_percent_before: int | None
    canary_percent_after: int | None


class CanaryActuator:
    """Changes one tenant's InferenceService canaries."""

    def __init__(
        self, api: client.CustomObjectsApi, tenant_namespace: str, actor: str = "mlplatform"
    ) -> None:
        if not _DNS1123.match(tenant_namespace or ""):
            raise ValueError(
                f"tenant_namespace {tenant_namespace!r}: must be a DNS-1123 label "
                "(lowercase letters, digits, '-')"
            )
        self.api = api
        self.tenant_namespace = tenant_namespace
        self.actor = actor

    @classmethod
    def from_configuration(
        cls, configuration: client.Configuration, tenant_namespace: str, actor: str = "mlplatform"
    ) -> CanaryActuator:
        """Build from a client configuration (in-cluster, kubeconfig or a test server)."""
        return cls(
            client.CustomObjectsApi(client.ApiClient(configuration)), tenant_namespace, actor
        )

    def _check_scope(self, namespace: str, name: str) -> None:
        if namespace != self.tenant_namespace:
            raise TenantScopeError(
                f"refusing to act on namespace {namespace!r}: this actuator is scoped to "
                f"tenant namespace {self.tenant_namespace!r}"
            )
        if not _DNS1123.match(name or ""):
            raise ValueError(f"name {name!r}: not a valid InferenceService name")

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """Read the InferenceService."""
        self._check_scope(namespace, name)
        try:
            obj = self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            raise ActuatorError(_api_error("read", namespace, name, exc)) from None
        if not isinstance(obj, dict):
            raise ActuatorError(f"{namespace}/{name}: the API returned {type(obj).__name__}")
        return obj

    def _apply(
        self, action: str, namespace: str, name: str, spec_patch: dict[str, Any], reason: str
    ) -> ActuationResult:
        obj = self.get(namespace, name)
        predictor = obj.get("spec", {}).get("predictor")
        if not isinstance(predictor, dict):
            raise ActuatorError(f"{namespace}/{name}: InferenceService has no spec.predictor")
        before = predictor.get("canaryTrafficPercent")
        if _matches(predictor, spec_patch):
            return ActuationResult(action, namespace, name, False, None, before, before)
        note = {"action": action, "by": self.actor, "reason": reason, "at": int(time.time())}
        patch = {
            "metadata": {"annotations": {ANNOTATION: json.dumps(note, sort_keys=True)}},
            "spec": {"predictor": spec_patch},
        }
        try:
            after_obj = self.api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, patch
            )
        except ApiException as exc:
            raise ActuatorError(_api_error("patch", namespace, name, exc)) from None
        after_spec = after_obj.get("spec", {}) if isinstance(after_obj, dict) else {}
        after = after_spec.get("predictor", {}).get("canaryTrafficPercent")
        return ActuationResult(action, namespace, name, True, patch, before, after)

    def set_traffic(
        self, namespace: str, name: str, percent: int, reason: str = ""
    ) -> ActuationResult:
        """Send ``percent`` of traffic to the canary (latest) revision."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent {percent!r}: must be between 0 and 100")
        return self._apply(
            "set-traffic", namespace, name, {"canaryTrafficPercent": percent}, reason
        )

    def rollback(
        self,
        namespace: str,
        name: str,
        reason: str = "",
        previous_storage_uri: str | None = None,
    ) -> ActuationResult:
        """Stop the canary; optionally point the spec back at the champion's model."""
        spec: dict[str, Any] = {"canaryTrafficPercent": 0}
        if previous_storage_uri:
            spec["model"] = {"storageUri": previous_storage_uri}
        return self._apply("rollback", namespace, name, spec, reason)

    def promote(self, namespace: str, name: str, reason: str = "") -> ActuationResult:
        """Give the challenger all traffic by removing ``canaryTrafficPercent``."""
        return self._apply("promote", namespace, name, {"canaryTrafficPercent": None}, reason)

    def apply_decision(
        self,
        decision: CanaryDecision,
        namespace: str,
        name: str,
        previous_storage_uri: str | None = None,
    ) -> ActuationResult | None:
        """Carry out a :class:`CanaryDecision`; HOLD changes nothing and returns None."""
        reason = "; ".join(decision.reasons)
        if decision.action is Action.ROLLBACK:
            return self.rollback(namespace, name, reason, previous_storage_uri)
        if decision.action is Action.PROMOTE:
            return self.promote(namespace, name, reason)
        self._check_scope(namespace, name)
        return None


def _matches(current: dict[str, Any], patch: dict[str, Any]) -> bool:
    """Whether applying the merge patch would leave ``current`` unchanged."""
    for key, value in patch.items():
        if value is None:
            if key in current:
                return False
        elif isinstance(value, dict):
            sub = current.get(key)
            if not isinstance(sub, dict) or not _matches(sub, value):
                return False
        elif current.get(key) != value:
            return False
    return True


def _api_error(verb: str, namespace: str, name: str, exc: ApiException) -> str:
    message = exc.reason or ""
    with contextlib.suppress(TypeError, ValueError):
        message = json.loads(exc.body or "{}").get("message", message)
    return f"cannot {verb} InferenceService {namespace}/{name}: HTTP {exc.status} {message}"
