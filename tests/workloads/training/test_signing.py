"""Artifact signatures: any change to a signed file, or the wrong key, is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workloads.common.signing import (
    ArtifactVerificationError,
    ensure_dev_key_pair,
    load_private_key,
    load_public_key,
    sign_artifacts,
    verify_artifacts,
    write_key_pair,
)


@pytest.fixture
def signed_dir(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x01onnx-bytes" * 100)
    (folder / "model_card.json").write_text('{"model_version": "1"}')
    key = write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    sign_artifacts(folder, ["model.onnx", "model_card.json"], key)
    return folder, tmp_path / "k.pub.pem"


def test_untouched_artifacts_verify(signed_dir: tuple[Path, Path]) -> None:
    folder, public = signed_dir
    signed = verify_artifacts(folder, load_public_key(public), ["model.onnx"])
    assert set(signed["artifacts"]) == {"model.onnx", "model_card.json"}


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


def test_dev_key_pair_is_private_and_reused(tmp_path: Path) -> None:
    private, public, created = ensure_dev_key_pair(tmp_path)
    assert created
    assert private.parent == tmp_path / ".mlplatform" / "local" / "keys"
    assert private.stat().st_mode & 0o777 == 0o600
    again = ensure_dev_key_pair(tmp_path)
    assert again == (private, public, False)
    load_private_key(private)
