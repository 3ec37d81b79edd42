"""Applies canary decisions to a model's Envoy router through the Kubernetes API.

Why the router and not the InferenceService: the platform pins KServe 0.16, whose
RawDeployment mode silently ignores ``spec.predictor.canaryTrafficPercent``
(kserve/kserve#4074, #5335). So ``components.k8s.serving`` deploys each enterprise
model as two InferenceServices, ``<model>-champion`` and ``<model>-challenger``,
behind ConfigMap + Deployment ``<model>-router`` (Envoy, weighted clusters) and Service
``<model>``. This actuator patches exactly those two router objects, with the same pure
builders the component renders them from (:mod:`contracts.router`), using the
official client (``CoreV1Api``, ``AppsV1Api``; ``CustomObjectsApi`` only to read).

Every action is two JSON merge patches, in this order: the ConfigMap's Envoy
bootstrap, then the Deployment's pod-template annotation
(``mlplatform.io/traffic-weights``), whose change rolls the router pods onto the new
file (Envoy reads a static bootstrap only at start; ``maxUnavailable: 0`` and a PDB keep
capacity while they roll). The Deployment also gets a metadata annotation (not on the
pod template, so it rolls nothing) saying who changed traffic, when and why.

- **rollback**: the ConfigMap becomes byte-for-byte what a deploy with no challenger
  renders (``champion=100``): every request to ``<model>-champion``.
- **set_traffic**: ``percent`` (1..99) to the challenger, the rest to the champion;
  0 is a rollback and 100 a promotion.
- **promote**: every request to ``<model>-challenger`` (annotation ``challenger=100``).
  Nothing is renamed or deleted: the champion InferenceService keeps running, so a
  later ``rollback`` still restores it at once. Finishing a promotion is the next
  deploy's job: set the model's ``storage_uri`` to the challenger's and drop
  ``challenger_storage_uri``; that rolls ``<model>-champion`` onto the new model,
  removes the challenger and renders the router as ``champion=100`` again. Until then
  the stack still declares the old split, so a deploy that re-applies the router (or
  ``pulumi up --refresh``) reverts this patch.

Before sending traffic to the challenger (set_traffic, promote), its InferenceService
must exist and report ``Ready``. Idempotent: each object is read first and patched only
when it differs from the target, so a redelivered alert or a retry after a half-done
action makes no second change. Scoped: an actuator belongs to one tenant namespace and
refuses any other before any call. API failures become one-line :class:`ActuatorError`
messages (401, 403 and 404 say what to check).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts.names import DNS1123_LABEL, MODEL_NAME, challenger_of, champion_of
from contracts.router import (
    ROUTER_CONFIG_KEY,
    WEIGHTS_ANNOTATION,
    promotion_patch,
    routed_backends,
    router_name,
    router_traffic_patch,
)
from workloads.rollout.canary import Action, CanaryDecision

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"
CHANGE_ANNOTATION = "mlplatform.io/last-traffic-change"
"""Deployment metadata annotation: who moved traffic, when and why (JSON)."""
MERGE_PATCH = "application/merge-patch+json"
_HINTS = {
    401: "the API server rejected the credentials (service account token)",
    403: "RBAC: the receiver's Role must allow this verb on this object by name",
    404: "not found: is this an enterprise model deployed with a canary router?",
}


class TenantScopeError(PermissionError):
    """The requested namespace is not the actuator's tenant namespace."""


class ActuatorError(RuntimeError):
    """The Kubernetes API refused, or the objects are not a canary router this platform made."""


@dataclass(frozen=True)
class AppliedPatch:
    """One PATCH the actuator sent."""

    kind: str
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ActuationResult:
    """What the actuator did (``changed`` is False when the router already matched)."""

    action: str
    namespace: str
    model: str
    traffic_before: dict[str, int]
    """InferenceService -> weight, as the router's ConfigMap read before any change."""
    traffic_after: dict[str, int]
    """InferenceService -> weight, as the API server returned the ConfigMap."""
    patches: list[AppliedPatch] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any PATCH was sent."""
        return bool(self.patches)

    @property
    def patch(self) -> dict[str, Any] | None:
        """The patches keyed ``Kind/name`` (for the audit log); None when nothing changed."""
        return {f"{patch.kind}/{patch.name}": patch.body for patch in self.patches} or None


class CanaryActuator:
    """Moves one tenant's canary traffic by patching its models' Envoy routers."""

    def __init__(
        self, api_client: client.ApiClient, tenant_namespace: str, actor: str = "mlplatform"
    ) -> None:
        if not DNS1123_LABEL.match(tenant_namespace or ""):
            raise ValueError(
                f"tenant_namespace {tenant_namespace!r}: must be a DNS-1123 label "
                "(lowercase letters, digits, '-')"
            )
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.tenant_namespace = tenant_namespace
        self.actor = actor

    @classmethod
    def from_configuration(
        cls, configuration: client.Configuration, tenant_namespace: str, actor: str = "mlplatform"
    ) -> CanaryActuator:
        """Build from a client configuration (in-cluster, kubeconfig or a test server)."""
        return cls(client.ApiClient(configuration), tenant_namespace, actor)

    def check_namespace(self, namespace: str) -> None:
        """Refuse any namespace but the tenant's."""
        if namespace != self.tenant_namespace:
            raise TenantScopeError(
                f"refusing to act on namespace {namespace!r}: this actuator is scoped to "
                f"tenant namespace {self.tenant_namespace!r}"
            )

    def check_scope(self, namespace: str, model: str) -> None:
        """Refuse other namespaces and names that cannot be a model's."""
        self.check_namespace(namespace)
        if not MODEL_NAME.match(model or ""):
            raise ValueError(
                f"model {model!r}: must be a DNS-1123 label of at most 40 characters "
                "(lowercase letters, digits, '-')"
            )

    # --- actions ----------------------------------------------------------------------

    def rollback(self, namespace: str, model: str, reason: str = "") -> ActuationResult:
        """Send every request to ``<model>-champion``."""
        self.check_scope(namespace, model)
        patches = router_traffic_patch(namespace, champion_of(model), None, 0)
        return self._move("rollback", namespace, model, patches, reason)

    def promote(self, namespace: str, model: str, reason: str = "") -> ActuationResult:
        """Send every request to ``<model>-challenger`` (see the module docstring)."""
        self.check_scope(namespace, model)
        self._require_ready(namespace, challenger_of(model))
        return self._move(
            "promote", namespace, model, promotion_patch(namespace, challenger_of(model)), reason
        )

    def set_traffic(
        self, namespace: str, model: str, percent: int, reason: str = ""
    ) -> ActuationResult:
        """Send ``percent`` of requests to the challenger (0: rollback, 100: promotion)."""
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"percent {percent!r}: must be a whole number between 0 and 100")
        self.check_scope(namespace, model)
        if percent == 0:
            patches = router_traffic_patch(namespace, champion_of(model), None, 0)
        else:
            self._require_ready(namespace, challenger_of(model))
            if percent == 100:
                patches = promotion_patch(namespace, challenger_of(model))
            else:
                patches = router_traffic_patch(
                    namespace, champion_of(model), challenger_of(model), percent
                )
        return self._move("set-traffic", namespace, model, patches, reason)

    def apply_decision(
        self, decision: CanaryDecision, namespace: str, model: str
    ) -> ActuationResult | None:
        """Carry out a :class:`CanaryDecision`; HOLD changes nothing and returns None."""
        reason = "; ".join(decision.reasons)
        if decision.action is Action.ROLLBACK:
            return self.rollback(namespace, model, reason)
        if decision.action is Action.PROMOTE:
            return self.promote(namespace, model, reason)
        self.check_scope(namespace, model)
        return None

    def traffic(self, namespace: str, model: str) -> dict[str, int]:
        """InferenceService -> weight, as the model's router ConfigMap says now."""
        self.check_scope(namespace, model)
        return self._read_config(namespace, model)[1]

    # --- mechanics --------------------------------------------------------------------

    def _call(
        self,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        api_method: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        try:
            return api_method(*args, **kwargs)
        except ApiException as exc:
            raise ActuatorError(_api_error(verb, kind, namespace, name, exc)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise ActuatorError(
                f"cannot {verb} {kind} {namespace}/{name}: Kubernetes API unreachable "
                f"({type(exc).__name__})"
            ) from None

    def _require_ready(self, namespace: str, isvc: str) -> None:
        service = self._call(
            "read", "InferenceService", namespace, isvc,
            self.custom.get_namespaced_custom_object,
            KSERVE_GROUP, KSERVE_VERSION, namespace, "inferenceservices", isvc,
        )  # fmt: skip
        status = service.get("status") if isinstance(service, dict) else None
        conditions = (status.get("conditions") if isinstance(status, dict) else None) or []
        ready = [
            condition
            for condition in conditions
            if isinstance(condition, dict) and condition.get("type") == "Ready"
        ]
        if not ready or ready[0].get("status") != "True":
            state = ready[0].get("status") if ready else "not reported"
            raise ActuatorError(
                f"refusing to send traffic to InferenceService {namespace}/{isvc}: Ready is {state}"
            )

    def _read_config(self, namespace: str, model: str) -> tuple[Any, dict[str, int]]:
        name = router_name(model)
        config_map = self._call(
            "read", "ConfigMap", namespace, name,
            self.core.read_namespaced_config_map, name, namespace,
        )  # fmt: skip
        text = (config_map.data or {}).get(ROUTER_CONFIG_KEY)
        if not isinstance(text, str):
            raise ActuatorError(
                f"ConfigMap {namespace}/{name}: no {ROUTER_CONFIG_KEY} key, not a canary router"
            )
        try:
            parsed = yaml.safe_load(text)
            return parsed, routed_backends(namespace, parsed)
        except (yaml.YAMLError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ActuatorError(
                f"ConfigMap {namespace}/{name}: {ROUTER_CONFIG_KEY} is not a router this "
                f"platform wrote: {first}"
            ) from None

    def _move(
        self,
        action: str,
        namespace: str,
        model: str,
        patches: dict[str, dict[str, Any]],
        reason: str,
    ) -> ActuationResult:
        name = router_name(model)
        current, before = self._read_config(namespace, model)
        target_text = patches["configmap"]["data"][ROUTER_CONFIG_KEY]
        applied: list[AppliedPatch] = []
        after = before
        # Compared as data, not text: a router written by hand with other YAML
        # formatting but the same meaning needs no patch.
        if current != yaml.safe_load(target_text):
            config_map = self._call(
                "patch", "ConfigMap", namespace, name,
                self.core.patch_namespaced_config_map, name, namespace, patches["configmap"],
                _content_type=MERGE_PATCH,
            )  # fmt: skip
            applied.append(AppliedPatch("ConfigMap", name, patches["configmap"]))
            patched = (config_map.data or {})[ROUTER_CONFIG_KEY]
            after = routed_backends(namespace, yaml.safe_load(patched))
        deployment = self._call(
            "read", "Deployment", namespace, name,
            self.apps.read_namespaced_deployment, name, namespace,
        )  # fmt: skip
        spec = deployment.spec
        template_meta = spec.template.metadata if spec and spec.template else None
        annotations = (template_meta.annotations if template_meta else None) or {}
        target_label = patches["deployment"]["spec"]["template"]["metadata"]["annotations"][
            WEIGHTS_ANNOTATION
        ]
        if annotations.get(WEIGHTS_ANNOTATION) != target_label:
            note = {
                "action": action,
                "by": self.actor,
                "reason": reason,
                "weights": target_label,
                "at": int(time.time()),
            }
            body = {
                "metadata": {"annotations": {CHANGE_ANNOTATION: json.dumps(note, sort_keys=True)}},
                **patches["deployment"],
            }
            self._call(
                "patch", "Deployment", namespace, name,
                self.apps.patch_namespaced_deployment, name, namespace, body,
                _content_type=MERGE_PATCH,
            )  # fmt: skip
            applied.append(AppliedPatch("Deployment", name, body))
        return ActuationResult(action, namespace, model, before, after, applied)


def _api_error(verb: str, kind: str, namespace: str, name: str, exc: ApiException) -> str:
    message = exc.reason or ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(exc.body or "{}").get("message", message)
    line = f"cannot {verb} {kind} {namespace}/{name}: HTTP {exc.status} {message}"
    hint = _HINTS.get(exc.status or 0)
    return " ".join(f"{line} ({hint})".split()) if hint else " ".join(line.split())
