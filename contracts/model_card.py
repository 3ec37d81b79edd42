"""A signed model version as it is stored, and how anyone checks its signature.

A model version is a folder (``s3://<bucket>/models/<model>/<version>/`` or a local
folder) holding :data:`MODEL_FILE`, :data:`CARD_FILE` (the model card, whose
``lineage`` block names the exact training data), ``reference_stats.json`` and
:data:`SIGNATURE_FILE`. The tenant's registry (``s3://<bucket>/registry/``) holds one
index per model, ``<model>.json``: ``{"model", "champion", "challenger", "versions":
{<version>: {"uri", "status", ...}}}``.

The card's :data:`LINEAGE` block (``workloads.training.lineage``)::

    {"version": 1, "feature_service": "...", "labels": "<uri>",
     "feature_views": [{"name", "version": "<sha256 of the view's spec>", "source",
                        "features", "ttl_seconds"}, ...],
     "files": [{"uri", "sha256", "bytes", "rows", "view" (absent for labels)}, ...],
     "point_in_time_cutoff": "<ISO 8601>"}

``signature.json`` (format :data:`SIGNATURE_VERSION`) is Ed25519 over the canonical JSON
(:func:`canonical`) of its fields ``version``, ``algorithm``, ``key_id``, ``model``
(name, version, created_at) and ``artifacts`` (name -> sha256, bytes). Training writes
it (``workloads.common.signing``); model servers and the compliance report
(``mlplatform report --registry``) verify it with the tenant's public key:
:func:`verify_signature` is the check without any file access (the caller reads).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

MODEL_FILE = "model.onnx"
CARD_FILE = "model_card.json"
SIGNATURE_FILE = "signature.json"
SIGNATURE_VERSION = 2
LINEAGE = "lineage"
"""The model card's key of the training data lineage block."""
SIGNED_FIELDS = ("version", "algorithm", "key_id", "model", "artifacts")
"""The fields of ``signature.json`` the signature covers."""


class SignatureError(ValueError):
    """The signature or a signed artifact does not check out (one line)."""


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def key_id(public_key: Any) -> str:
    """Fingerprint of an Ed25519 public key: 16 hex digits of SHA-256 of its raw bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(
    signed: Any, public_key_pem: str, read: Callable[[str], bytes | None]
) -> dict[str, Any]:
    """Check a parsed ``signature.json`` and every artifact it lists.

    ``read(name)`` returns an artifact's bytes (None: missing). Returns ``{"name",
    "version", "created_at", "key_id", "artifacts"}``; raises :class:`SignatureError`.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public_key = load_pem_public_key(public_key_pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"verify key: not a PEM public key ({exc})") from None
    if not isinstance(public_key, Ed25519PublicKey):
        raise SignatureError("verify key: not an Ed25519 public key")
    if not isinstance(signed, Mapping) or signed.get("version") != SIGNATURE_VERSION:
        found = signed.get("version") if isinstance(signed, Mapping) else None
        raise SignatureError(
            f"unsupported format version {found!r} (want {SIGNATURE_VERSION}: a signature"
            " binding the model name, version and creation time; re-sign it)"
        )
    if signed.get("algorithm") != "ed25519":
        raise SignatureError("algorithm must be ed25519")
    body = {field: signed.get(field) for field in SIGNED_FIELDS}
    try:
        signature = base64.b64decode(str(signed.get("signature", "")), validate=True)
        public_key.verify(signature, canonical(body))
    except (InvalidSignature, ValueError):
        raise SignatureError(
            f"signature does not verify with the given public key (key id {key_id(public_key)}, "
            f"signed by {signed.get('key_id')})"
        ) from None
    model, artifacts = signed.get("model"), signed.get("artifacts")
    if not isinstance(model, Mapping) or not isinstance(artifacts, Mapping):
        raise SignatureError("signed model identity or artifacts are malformed")
    for name, expected in artifacts.items():
        if not isinstance(expected, Mapping) or "/" in str(name) or name in ("", ".", ".."):
            raise SignatureError(f"artifact {name!r} is malformed")
        data = read(str(name))
        if data is None:
            raise SignatureError(f"signed artifact {name} is missing")
        if len(data) != expected.get("bytes") or (
            hashlib.sha256(data).hexdigest() != expected.get("sha256")
        ):
            raise SignatureError(f"{name}: digest does not match signature.json (modified)")
    return {
        "name": str(model.get("name")),
        "version": str(model.get("version")),
        "created_at": str(model.get("created_at")),
        "key_id": key_id(public_key),
        "artifacts": sorted(str(name) for name in artifacts),
    }
