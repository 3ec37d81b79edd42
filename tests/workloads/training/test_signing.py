"""Artifact signatures: any change to a signed file, the wrong key, or another model's
identity is refused; the verifier hands back the bytes it checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workloads.common.signing import (
    SIGNATURE_VERSION,
    ArtifactVerificationError,
    ensure_dev_key_pair,
    load_private_key,
    load_public_key,
    public_key_from_pem,
    read_verified,
    sign_artifacts,
    signature_version,
    verify_artifacts,
    write_key_pair,
)

CREATED = "2026-11-30T10:00:00.000001+00:00"


@pytest.fixture
def signed_dir(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x01onnx-bytes" * 100)
    (folder / "model_card.json").write_text('{"model_version": "1"}')
    key = write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    sign_artifacts(
        folder,
        ["model.onnx", "model_card.json"],
        key,
        model_name="churn",
        model_version="1",
        created_at=CREATED,
    )
    return folder, tmp_path / "k.pub.pem"


def test_untouched_artifacts_verify(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    signed = verify_artifacts(folder, load_public_key(public), ["model.onnx"])
    assert set(signed["artifacts"]) == {"model.onnx", "model_card.json"}
    assert signed["version"] == SIGNATURE_VERSION == signature_version(folder) == 2
    assert signed["model"] == {"name": "churn", "version": "1", "created_at": CREATED}


def test_verified_bytes_are_returned(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    verified = read_verified(folder, load_public_key(public), ["model.onnx"], model_name="churn")
    assert verified.contents == {
        "model.onnx": (folder / "model.onnx").read_bytes(),
        "model_card.json": (folder / "model_card.json").read_bytes(),
    }
    assert (verified.name, verified.version, verified.created_at.isoformat()) == (
        "churn",
        "1",
        CREATED,
    )


def test_a_model_signed_for_another_name_is_refused(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    with pytest.raises(ArtifactVerificationError, match="signed for model 'churn', not 'fraud'"):
        verify_artifacts(folder, load_public_key(public), ["model.onnx"], model_name="fraud")


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "fraud"), ("version", "2"), ("created_at", "2027-01-01T00:00:00+00:00")],
)
def test_a_rewritten_identity_is_refused(
    signed_dir: tuple[Path, Path], field: str, value: str
) -> None:
    folder, public = signed_dir
    manifest = json.loads((folder / "signature.json").read_text())
    manifest["model"][field] = value
    (folder / "signature.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactVerificationError, match="signature does not verify"):
        verify_artifacts(folder, load_public_key(public), ["model.onnx"])


def test_a_digest_only_signature_is_refused(signed_dir: tuple[Path, Path], tmp_path: Path) -> None:
    """Format 1 (digests, no identity) could be replayed under any name or version."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder, public = signed_dir
    manifest = json.loads((folder / "signature.json").read_text())
    body = {k: manifest[k] for k in ("algorithm", "key_id", "artifacts")} | {"version": 1}
    key = load_private_key(tmp_path / "k.pem")
    assert isinstance(key, Ed25519PrivateKey)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    legacy = {**body, "signature": base64.b64encode(key.sign(canonical)).decode()}
    (folder / "signature.json").write_text(json.dumps(legacy))
    with pytest.raises(ArtifactVerificationError, match="unsupported format version 1"):
        verify_artifacts(folder, load_public_key(public), ["model.onnx"])


def test_identity_is_required_and_checked_when_signing(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    key = write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    with pytest.raises(ValueError, match="needs a time zone"):
        sign_artifacts(
            tmp_path, ["a"], key, model_name="m", model_version="1", created_at="2026-01-01"
        )
    with pytest.raises(ValueError, match="model_name and model_version are required"):
        sign_artifacts(tmp_path, ["a"], key, model_name="", model_version="1", created_at=CREATED)


def test_flipped_byte_is_refused(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    data = bytearray((folder / "model.onnx").read_bytes())
    data[10] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ArtifactVerificationError, match=r"model\.onnx: digest does not match"):
        verify_artifacts(folder, load_public_key(public), ["model.onnx"])


def test_rewritten_manifest_is_refused(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    (folder / "model.onnx").write_bytes(b"evil")
    manifest = json.loads((folder / "signature.json").read_text())
    manifest["artifacts"]["model.onnx"] = {"sha256": "0" * 64, "bytes": 4}
    (folder / "signature.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactVerificationError, match="signature does not verify"):
        verify_artifacts(folder, load_public_key(public), ["model.onnx"])


def test_other_key_missing_signature_and_unsigned_required(
    signed_dir: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = signed_dir
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub.pem")
    with pytest.raises(ArtifactVerificationError, match="signature does not verify"):
        verify_artifacts(folder, load_public_key(tmp_path / "other.pub.pem"), ["model.onnx"])
    with pytest.raises(ArtifactVerificationError, match=r"required artifact reference_stats\.json"):
        verify_artifacts(folder, load_public_key(signed_dir[1]), ["reference_stats.json"])
    unsigned = tmp_path / "unsigned"
    shutil.copytree(folder, unsigned)
    (unsigned / "signature.json").unlink()
    with pytest.raises(ArtifactVerificationError, match="missing; refusing an unsigned model"):
        verify_artifacts(unsigned, load_public_key(signed_dir[1]), ["model.onnx"])
    assert signature_version(unsigned) is None


def test_public_key_from_pem_text(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    key = public_key_from_pem(public.read_bytes(), "$MLPLATFORM_VERIFY_KEY_PEM")
    verify_artifacts(folder, key, ["model.onnx"])
    with pytest.raises(ValueError, match=r"\$MLPLATFORM_VERIFY_KEY_PEM: not a PEM public key"):
        public_key_from_pem(b"nope", "$MLPLATFORM_VERIFY_KEY_PEM")


def test_dev_key_pair_is_private_and_reused(tmp_path: Path) -> None:
    private, public, created = ensure_dev_key_pair(tmp_path)
    assert created
    assert private.parent == tmp_path / ".mlplatform" / "local" / "keys"
    assert private.stat().st_mode & 0o777 == 0o600
    again = ensure_dev_key_pair(tmp_path)
    assert again == (private, public, False)
    load_private_key(private)
