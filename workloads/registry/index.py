"""A model registry per tenant: ``registry/<model>.json`` in the tenant's bucket.

One index per model holds every version the loop has seen (where it lives, its metrics
and artifact digests, its status) and the history of every change (who, what, when,
why). Statuses: ``champion`` (serves the model's stable endpoint), ``challenger``
(registered by a training run that passed the gate; gets the tier's canary share),
``retired`` (a former champion), ``rolled-back`` (a challenger the analysis rejected).
At most one champion and one challenger at a time.

Writers are the retraining controller (registers, promotes, rolls back), the training
run (registers its challenger) and the alert receiver (rolls back). Each write is a
read-modify-write of one small object; the controller is the only frequent writer, and
a lost update would show as a missing history entry, never as a wrong champion,
because every change re-reads the index and checks the state it expects first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from contracts.names import MODEL_NAME, MODEL_VERSION
from workloads.common.objectstore import ObjectStore

Status = Literal["champion", "challenger", "retired", "rolled-back"]
RunEnd = Literal["succeeded", "failed", "missing"]


class RegistryError(ValueError):
    """The change does not fit the registry's state (one line, names the model)."""


@dataclass
class ModelRegistry:
    """Reads and changes the indexes of one tenant's models."""

    store: ObjectStore
    """The registry's root (``s3://<tenant bucket>/registry/``, or a folder locally)."""
    who: str = "mlplatform"
    """Who is acting (written to every history entry)."""

    @staticmethod
    def key(model: str) -> str:
        """Object key of a model's index."""
        if not MODEL_NAME.match(model or ""):
            raise RegistryError(f"model {model!r}: not a model name")
        return f"{model}.json"

    def load(self, model: str) -> dict[str, Any]:
        """The model's index (an empty one when the model was never registered)."""
        raw = self.store.get(self.key(model))
        if raw is None:
            return {
                "model": model,
                "champion": None,
                "challenger": None,
                "versions": {},
                "runs": {},
                "history": [],
            }
        index = json.loads(raw)
        if not isinstance(index, dict) or index.get("model") != model:
            raise RegistryError(f"{self.store.describe(self.key(model))}: not an index of {model}")
        index.setdefault("runs", {})  # indexes written before runs were recorded
        return index

    def _save(self, index: dict[str, Any]) -> None:
        body = json.dumps(index, indent=1, sort_keys=True, allow_nan=False).encode()
        self.store.put(self.key(index["model"]), body)

    def _record(
        self, index: dict[str, Any], what: str, version: str, why: str, **extra: Any
    ) -> None:
        entry = {"at": time.time(), "who": self.who, "what": what, "version": version, "why": why}
        index["history"].append(entry | extra)

    def champion(self, model: str) -> str | None:
        """The champion version, or None."""
        return self.load(model).get("champion")

    def challenger(self, model: str) -> str | None:
        """The challenger version, or None."""
        return self.load(model).get("challenger")

    def ensure_champion(self, model: str, version: str, uri: str, why: str) -> dict[str, Any]:
        """Record the deployed version as champion when the index has none (first deploy)."""
        index = self.load(model)
        if index.get("champion"):
            return index
        _check_version(version)
        entry = index["versions"].setdefault(version, {"uri": uri, "registered_at": time.time()})
        entry["status"] = "champion"
        index["champion"] = version
        self._record(index, "adopt-champion", version, why)
        self._save(index)
        return index

    def register_challenger(
        self,
        model: str,
        version: str,
        *,
        uri: str,
        metrics: dict[str, Any],
        digests: dict[str, str],
        trigger: str | None,
        why: str,
    ) -> dict[str, Any]:
        """Register a gated, signed, uploaded version as the model's challenger.

        Registering the same version again changes nothing (a retried run); another
        version while a challenger is pending is refused: one canary at a time.
        """
        _check_version(version)
        index = self.load(model)
        if version in index["versions"]:
            return index
        pending = index.get("challenger")
        if pending:
            raise RegistryError(
                f"{model}: challenger {pending} is still pending; decide it before registering "
                f"{version}"
            )
        index["versions"][version] = {
            "uri": uri,
            "status": "challenger",
            "metrics": metrics,
            "digests": digests,
            "trigger": trigger,
            "registered_at": time.time(),
            "registered_by": self.who,
        }
        index["challenger"] = version
        self._record(index, "register-challenger", version, why, trigger=trigger)
        self._save(index)
        return index

    def promote(self, model: str, version: str, why: str) -> dict[str, Any]:
        """The challenger becomes champion; the old champion is retired."""
        index = self.load(model)
        if index.get("champion") == version:
            return index
        if index.get("challenger") != version:
            raise RegistryError(
                f"{model}: {version} is not the challenger ({index.get('challenger')})"
            )
        old = index.get("champion")
        if old:
            index["versions"][old]["status"] = "retired"
        index["versions"][version]["status"] = "champion"
        index["champion"], index["challenger"] = version, None
        self._record(index, "promote", version, why, previous_champion=old)
        self._save(index)
        return index

    def roll_back(self, model: str, version: str, why: str) -> dict[str, Any]:
        """The challenger is rejected; the champion keeps serving."""
        index = self.load(model)
        if index["versions"].get(version, {}).get("status") == "rolled-back":
            return index
        if index.get("challenger") != version:
            raise RegistryError(
                f"{model}: {version} is not the challenger ({index.get('challenger')})"
            )
        index["versions"][version]["status"] = "rolled-back"
        index["challenger"] = None
        self._record(index, "roll-back", version, why)
        self._save(index)
        return index

    # --- training runs the controller started (followed by name: it may not list) --

    def record_run(self, model: str, run: str, version: str, trigger: str) -> dict[str, Any]:
        """Record a started run (``active``); recording it again changes nothing."""
        _check_version(version)
        index = self.load(model)
        if run in index["runs"]:
            return index
        index["runs"][run] = {
            "version": version,
            "trigger": trigger,
            "state": "active",
            "started_at": time.time(),
        }
        self._record(index, "training-run-started", version, f"run {run}", run=run)
        self._save(index)
        return index

    def runs(self, model: str) -> dict[str, dict[str, Any]]:
        """The model's recorded runs (name -> version, trigger, state, times)."""
        return dict(self.load(model)["runs"])

    def finish_run(self, model: str, run: str, state: RunEnd, why: str) -> dict[str, Any]:
        """Record how a run ended (``succeeded``, ``failed``, ``missing``)."""
        index = self.load(model)
        entry = index["runs"].get(run)
        if entry is None:
            raise RegistryError(f"{model}: no run {run} recorded")
        if entry["state"] == state:
            return index
        entry["state"], entry["finished_at"] = state, time.time()
        self._record(index, f"training-run-{state}", entry["version"], why, run=run)
        self._save(index)
        return index


def _check_version(version: str) -> None:
    if not MODEL_VERSION.match(version or ""):
        raise RegistryError(f"version {version!r}: one path segment of letters, digits, '._-'")
