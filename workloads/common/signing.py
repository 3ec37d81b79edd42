"""Artifact digests and Ed25519 signatures: a server refuses a model that was altered.

``signature.json`` (``version`` 2)::

    {"version": 2, "algorithm": "ed25519", "key_id": "<sha256 of the raw public key, 16 hex>",
     "model": {"name": "churn", "version": "sha-...", "created_at": "<ISO 8601, UTC>"},
     "artifacts": {"model.onnx": {"sha256": "...", "bytes": N}, ...},
     "signature": "<base64 Ed25519 signature over the canonical JSON of the other fields>"}

The signature binds the model's name, version and creation time to the artifact
digests, so a model signed as ``churn`` does not verify as ``fraud``, and a server can
order the versions it is given by their signed creation time (anti-rollback, see
``workloads.serving.rollback``). Version 1 (digests only) is refused.

Canonical JSON is ``json.dumps(..., sort_keys=True, separators=(",", ":"))``. The
verifier checks the signature with the public key it was given (never one shipped next
to the model), then that the signed model name is the expected one, then reads every
listed artifact once and checks the size and SHA-256 of exactly those bytes, which it
returns (:func:`read_verified`): a caller loads what was verified, never a second read
of the file (no window to swap it in between). Every artifact the caller requires must
be listed.

Keys are PEM files: PKCS#8 private key (unencrypted, file mode 0600) and
SubjectPublicKeyInfo public key. Training reads the private key from
``--signing-key`` or ``$MLPLATFORM_SIGNING_KEY``; the server reads the public key from
``--public_key`` or ``$MLPLATFORM_VERIFY_KEY``. For local use only,
:func:`ensure_dev_key_pair` creates a pair under ``.mlplatform/local/keys/`` of the
working directory (git-ignored).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.model_card import (
    SIGNATURE_FILE,
    SIGNATURE_VERSION,
    SignatureError,
    canonical,
    key_id,
    verify_signature,
)

DEV_KEY_DIR = Path(".mlplatform/local/keys")
DEV_PRIVATE_KEY = "dev_signing_key.pem"
DEV_PUBLIC_KEY = "dev_signing_key.pub.pem"
_CHUNK = 1 << 20


class ArtifactVerificationError(Exception):
    """The artifacts or their signature cannot be trusted; the message is one line."""


class SigningKeyError(ValueError):
    """A key file is missing or unusable; the message is one line."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_digests(directory: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` for files in ``directory``."""
    digests: dict[str, dict[str, Any]] = {}
    for name in names:
        path = directory / name
        digests[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return digests


def _parse_pem(
    path: Path, parse: Callable[[bytes], object], *, file_name: str, expected: str
) -> object:
    """Parse a PEM key file; raise :class:`SigningKeyError` with the path in one line."""
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        raise SigningKeyError(f"{path}: {file_name} file not found") from None
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not {expected} ({exc})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a PKCS#8 PEM Ed25519 private key; raise :class:`SigningKeyError` with the path."""
    key = _parse_pem(
        path,
        lambda pem: serialization.load_pem_private_key(pem, password=None),
        file_name="signing key",
        expected="an unencrypted PEM private key",
    )
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: must be an Ed25519 private key, got {type(key).__name__}")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a PEM Ed25519 public key; raise :class:`SigningKeyError` with the path."""
    key = _parse_pem(
        path,
        serialization.load_pem_public_key,
        file_name="public key",
        expected="a PEM public key",
    )
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: must be an Ed25519 public key, got {type(key).__name__}")
    return key


def public_key_from_pem(pem: bytes, where: str) -> Ed25519PublicKey:
    """Parse PEM text of an Ed25519 public key; raise :class:`SigningKeyError` naming ``where``."""
    try:
        key = serialization.load_pem_public_key(pem.strip())
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: must be an Ed25519 public key, got {type(key).__name__}")
    return key


def write_key_pair(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """Create a new key pair; the private file is created with mode 0600."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def ensure_dev_key_pair(
    base: Path | None = None, *, key_dir: Path | None = None
) -> tuple[Path, Path, bool]:
    """Return (private, public, created) of the local dev pair, creating it if missing.

    The pair lives in ``key_dir`` if given, else ``<base or cwd>/.mlplatform/local/keys``.
    """
    folder = key_dir or (base or Path.cwd()) / DEV_KEY_DIR
    private_path, public_path = folder / DEV_PRIVATE_KEY, folder / DEV_PUBLIC_KEY
    if private_path.exists() and public_path.exists():
        return private_path, public_path, False
    private_path.unlink(missing_ok=True)
    write_key_pair(private_path, public_path)
    return private_path, public_path, True


def signature_version(directory: Path) -> int | None:
    """The format version of ``directory``'s ``signature.json`` (None: missing or unreadable)."""
    try:
        version = json.loads((directory / SIGNATURE_FILE).read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) else None


def _timestamp(value: Any, where: str) -> datetime:
    """An ISO 8601 timestamp with a time zone; raise ``ValueError`` naming ``where``."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{where}: timestamp needs a time zone: {value!r}")
    return parsed


def sign_artifacts(
    directory: Path,
    names: Iterable[str],
    private_key: Ed25519PrivateKey,
    *,
    model_name: str,
    model_version: str,
    created_at: str,
) -> dict[str, Any]:
    """Write ``signature.json`` binding the model's identity to the named artifacts; return it.

    ``created_at`` is an ISO 8601 timestamp with a time zone (the model card's).
    """
    if not model_name or not model_version:
        raise ValueError("sign_artifacts: model_name and model_version are required")
    _timestamp(created_at, "created_at")
    body = {
        "version": SIGNATURE_VERSION,
        "algorithm": "ed25519",
        "key_id": key_id(private_key.public_key()),
        "model": {"name": model_name, "version": model_version, "created_at": created_at},
        "artifacts": artifact_digests(directory, names),
    }
    signed = {**body, "signature": base64.b64encode(private_key.sign(canonical(body))).decode()}
    (directory / SIGNATURE_FILE).write_text(json.dumps(signed, indent=2) + "\n", encoding="utf-8")
    return signed


@dataclass(frozen=True)
class VerifiedModel:
    """A verified signature and the exact artifact bytes it was checked against."""

    name: str
    """The signed model name."""
    version: str
    """The signed model version."""
    created_at: datetime
    """The signed creation time (time-zone aware)."""
    signed: dict[str, Any]
    """The whole ``signature.json``."""
    contents: dict[str, bytes]
    """Artifact name -> the bytes whose digest matched; load these, do not read again."""


def read_verified(
    directory: Path,
    public_key: Ed25519PublicKey,
    required: Iterable[str],
    *,
    model_name: str | None = None,
) -> VerifiedModel:
    """Verify ``signature.json`` and every artifact; return the verified bytes.

    ``model_name``: refuse a signature made for another model. Raises
    :class:`ArtifactVerificationError` with one line.
    """
    sig_path = directory / SIGNATURE_FILE
    try:
        signed = json.loads(sig_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactVerificationError(
            f"{sig_path}: missing; refusing an unsigned model"
        ) from None
    except (OSError, ValueError) as exc:
        raise ArtifactVerificationError(f"{sig_path}: unreadable ({exc})") from None
    contents: dict[str, bytes] = {}

    def read(artifact: str) -> bytes | None:
        path = directory / artifact
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        except OSError as exc:
            raise ArtifactVerificationError(f"{path}: unreadable ({exc})") from None
        contents[artifact] = data
        return data

    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    try:
        identity = verify_signature(signed, pem, read)
    except SignatureError as exc:
        raise ArtifactVerificationError(f"{sig_path}: {exc}") from None
    name, version = identity["name"], identity["version"]
    try:
        created_at = _timestamp(signed["model"].get("created_at"), "model.created_at")
    except (TypeError, ValueError) as exc:
        raise ArtifactVerificationError(f"{sig_path}: malformed model identity ({exc})") from None
    if model_name is not None and name != model_name:
        raise ArtifactVerificationError(
            f"{sig_path}: signed for model {name!r}, not {model_name!r}; refusing to serve"
            " it under another name"
        )
    for required_name in required:
        if required_name not in contents:
            raise ArtifactVerificationError(
                f"{sig_path}: required artifact {required_name} is not signed"
            )
    return VerifiedModel(name, version, created_at, signed, contents)


def verify_artifacts(
    directory: Path,
    public_key: Ed25519PublicKey,
    required: Iterable[str],
    *,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Check ``signature.json`` in ``directory``; return it or raise a one-line error.

    A caller that goes on to load artifacts should use :func:`read_verified` and load
    the bytes it returns.
    """
    return read_verified(directory, public_key, required, model_name=model_name).signed
