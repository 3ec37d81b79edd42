"""Which model version each InferenceService serves: the loop's half of a rollout.

The router's weights move through :class:`~workloads.rollout.actuator.CanaryActuator`;
this module moves versions. Both act only in the tenant's namespace and on the names
the serving component gives a model (``<model>-champion``, ``<model>-challenger``).

- :meth:`ModelDeployer.deploy_challenger`: serve a registered challenger. If the stack
  declared ``<model>-challenger`` it gets the new ``storageUri``; otherwise a copy of the
  champion's InferenceService is created under that name (role ``challenger``),
  annotated as the controller's own.
- :meth:`ModelDeployer.adopt`: after a promotion, ``<model>-champion`` serves the new
  version (KServe rolls its pods; the old ones serve until the new are ready) and a
  challenger the controller created is deleted.

The stack marks ``storageUri`` as runtime-owned (``ignoreChanges``), so ``pulumi up``
never rolls these changes back.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from contracts.names import CHALLENGER, ROLE_LABEL, challenger_of, champion_of
from workloads.rollout.actuator import KSERVE_GROUP, KSERVE_VERSION, MERGE_PATCH, ActuatorError

OWNER_ANNOTATION = "mlplatform.io/created-by"
"""On InferenceServices the retraining controller created (and so may delete)."""
OWNER = "retraining-controller"


class ModelDeployer:
    """Points a tenant's InferenceServices at model versions."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            obj = self.custom.get_namespaced_custom_object(
                KSERVE_GROUP, KSERVE_VERSION, self.namespace, "inferenceservices", name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ActuatorError(
                f"cannot read InferenceService {self.namespace}/{name}: HTTP {exc.status}"
            ) from None
        return obj if isinstance(obj, dict) else None

    def _set_uri(self, name: str, storage_uri: str) -> bool:
        current = self._get(name)
        if current is None:
            raise ActuatorError(f"InferenceService {self.namespace}/{name} not found")
        if current["spec"]["predictor"]["model"].get("storageUri") == storage_uri:
            return False
        body = {"spec": {"predictor": {"model": {"storageUri": storage_uri}}}}
        try:
            self.custom.patch_namespaced_custom_object(
                KSERVE_GROUP, KSERVE_VERSION, self.namespace, "inferenceservices", name, body,
                _content_type=MERGE_PATCH,
            )  # fmt: skip
        except ApiException as exc:
            raise ActuatorError(
                f"cannot patch InferenceService {self.namespace}/{name}: HTTP {exc.status}"
            ) from None
        return True

    def follow(self, isvc: str, storage_uri: str) -> bool:
        """Point ``isvc`` (an SMB model's single InferenceService) at ``storage_uri`` if
        it serves another; return whether it changed (False when there is no such
        service)."""
        if self._get(isvc) is None:
            return False
        return self._set_uri(isvc, storage_uri)

    def serving_uri(self, model: str, role: str = "champion") -> str | None:
        """The ``storageUri`` the model's champion (or challenger) serves now."""
        obj = self._get(champion_of(model) if role == "champion" else challenger_of(model))
        return None if obj is None else obj["spec"]["predictor"]["model"].get("storageUri")

    def deploy_challenger(self, model: str, storage_uri: str) -> str:
        """Serve ``storage_uri`` as ``<model>-challenger``; return what was done."""
        name = challenger_of(model)
        if self._get(name) is not None:
            return "patched" if self._set_uri(name, storage_uri) else "unchanged"
        champion = self._get(champion_of(model))
        if champion is None:
            raise ActuatorError(
                f"InferenceService {self.namespace}/{champion_of(model)} not found: "
                "canary rollouts need the enterprise champion/challenger layout"
            )
        meta = champion["metadata"]
        predictor = copy.deepcopy(champion["spec"]["predictor"])
        predictor["model"]["storageUri"] = storage_uri
        predictor.setdefault("labels", {})
        predictor["labels"] = {**predictor["labels"], ROLE_LABEL: CHALLENGER}
        predictor["labels"]["mlplatform.io/inferenceservice"] = name
        body = {
            "apiVersion": f"{KSERVE_GROUP}/{KSERVE_VERSION}",
            "kind": "InferenceService",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(meta.get("labels") or {}),
                "annotations": {**(meta.get("annotations") or {}), OWNER_ANNOTATION: OWNER},
            },
            "spec": {"predictor": predictor},
        }
        try:
            self.custom.create_namespaced_custom_object(
                KSERVE_GROUP, KSERVE_VERSION, self.namespace, "inferenceservices", body
            )
        except ApiException as exc:
            if exc.status != 409:
                raise ActuatorError(
                    f"cannot create InferenceService {self.namespace}/{name}: HTTP {exc.status}"
                ) from None
            return "patched" if self._set_uri(name, storage_uri) else "unchanged"
        return "created"

    def adopt(self, model: str, storage_uri: str) -> list[str]:
        """The champion serves ``storage_uri``; a controller-made challenger is removed."""
        done = []
        if self._set_uri(champion_of(model), storage_uri):
            done.append(f"{champion_of(model)} -> {storage_uri}")
        done += self.remove_challenger(model)
        return done

    def remove_challenger(self, model: str) -> list[str]:
        """Delete ``<model>-challenger`` if the controller created it (the stack's stays)."""
        challenger = self._get(challenger_of(model))
        annotations = (challenger or {}).get("metadata", {}).get("annotations") or {}
        if challenger is None or annotations.get(OWNER_ANNOTATION) != OWNER:
            return []
        try:
            self.custom.delete_namespaced_custom_object(
                KSERVE_GROUP,
                KSERVE_VERSION,
                self.namespace,
                "inferenceservices",
                challenger_of(model),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise ActuatorError(
                    f"cannot delete InferenceService {self.namespace}/{challenger_of(model)}: HTTP {exc.status}"
                ) from None
        return [f"{challenger_of(model)} deleted"]
