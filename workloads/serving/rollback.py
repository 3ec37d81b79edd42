"""Anti-rollback: a server never goes back to a model older than one it has served.

Every signature binds the model's name, version and creation time
(:mod:`workloads.common.signing`), so versions are ordered by their *signed* creation
time, whatever their names (``sha-…`` or a run id). Each server slot (in the cluster:
one InferenceService, ``<model>-champion`` or ``<model>-challenger``; locally: one model
directory) records the newest model it loaded in a small JSON object:

``{"model", "slot", "version", "created_at", "recorded_at"}``

Before serving, the server compares the model it verified with that record:

- same version, or signed later: served, and the record moves forward;
- signed earlier (an old signed model copied over the current one, or a
  ``storageUri`` pointed back at an old version): refused with one line, unless the
  operator sets ``--allow_rollback`` (``$MLPLATFORM_ALLOW_ROLLBACK``) for that start;
- the record cannot be read or written: refused (fail closed).

Where the record lives (``--served_state``): in the cluster, the tenant's bucket under
``serving-state/`` (``s3://<bucket>/serving-state/``, SSE-KMS with the tenant key; on the
in-country site the store's own encryption, in the explicit store mode the on-prem
ServingRuntime sets, :func:`workloads.common.s3.sse_arguments`), because
a pod's model directory is an ``emptyDir`` filled by KServe's storage initializer at
every start and would forget it; locally, by default, a file next to the model directory
(``<model_dir>.served.json``), which a copy *into* the model directory does not touch.
Rollbacks of the loop go through the router (traffic back to the champion, whose
server keeps its version), so the record only ever moves forward in normal operation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workloads.common.objectstore import ObjectStore, ObjectStoreError, open_store

STATE_PREFIX = "serving-state"
"""Key prefix of the records in the tenant bucket (``s3://<bucket>/serving-state/``)."""
ALLOW_ROLLBACK_ENV = "MLPLATFORM_ALLOW_ROLLBACK"
"""Operator override: ``true`` lets this start serve an older model than the record."""


class RollbackRefusedError(Exception):
    """The model is older than the one this slot served; the message is one line."""


@dataclass(frozen=True)
class ServedState:
    """Where one slot's record lives: an object store and a key in it."""

    store: ObjectStore
    key: str

    @classmethod
    def open(cls, uri: str | None, model_dir: Path, slot: str, kms_key: str | None) -> ServedState:
        """The record of ``slot`` under ``uri`` (``s3://…/``, ``file://…`` or a folder).

        Without ``uri``: ``<model_dir>.served.json`` next to the model directory.
        """
        if uri is None:
            resolved = Path(model_dir).resolve()
            return cls(open_store(str(resolved.parent)), f"{resolved.name}.served.json")
        return cls(open_store(uri, kms_key), f"{slot}.json")

    def describe(self) -> str:
        """The record's URI, for messages."""
        return self.store.describe(self.key)

    def read(self) -> dict[str, Any] | None:
        """The record, or None when this slot has served nothing yet."""
        try:
            raw = self.store.get(self.key)
        except (ObjectStoreError, OSError) as exc:
            raise RollbackRefusedError(f"served-version record unreadable ({exc})") from None
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            datetime.fromisoformat(record["created_at"])
            str(record["version"])
        except (ValueError, KeyError, TypeError):
            raise RollbackRefusedError(
                f"{self.describe()}: malformed served-version record; an operator must"
                " repair or remove it"
            ) from None
        return dict(record)

    def check_and_record(
        self,
        model: str,
        slot: str,
        version: str,
        created_at: datetime,
        *,
        allow_rollback: bool,
    ) -> str | None:
        """Refuse an older model (unless ``allow_rollback``); record this one.

        Returns a note when an override let an older model through.
        """
        record = self.read()
        note = None
        if record is not None and record["version"] != version:
            last = datetime.fromisoformat(record["created_at"])
            if created_at < last:
                if not allow_rollback:
                    raise RollbackRefusedError(
                        f"version {version} of {model} (signed {created_at.isoformat()}) is"
                        f" older than version {record['version']} (signed {last.isoformat()})"
                        f" that {slot} last served ({self.describe()}); refusing a rollback"
                        f" (an operator may allow it once with --allow_rollback or"
                        f" {ALLOW_ROLLBACK_ENV}=true)"
                    )
                note = (
                    f"rollback allowed by the operator: {record['version']} -> {version}"
                    f" ({self.describe()})"
                )
        if record is not None and record["version"] == version and note is None:
            return None
        payload = {
            "model": model,
            "slot": slot,
            "version": version,
            "created_at": created_at.isoformat(),
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self.store.put(self.key, json.dumps(payload, indent=2).encode() + b"\n")
        except (ObjectStoreError, OSError) as exc:
            raise RollbackRefusedError(
                f"{self.describe()}: cannot record the served version ({exc})"
            ) from None
        return note
