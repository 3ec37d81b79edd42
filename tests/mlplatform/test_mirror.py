"""`mlplatform mirror`: every image and chart, read from the plan itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlplatform.cli import main
from mlplatform.mirror import artifacts_from_plan
from tests.mlplatform.oci_registry import Registry


def test_images_and_charts_are_found_in_every_shape() -> None:
    plan = {
        "resources": [
            {
                "type": "kubernetes:apps/v1:Deployment",
                "name": "d",
                "inputs": {
                    "spec": {
                        "template": {
                            "spec": {
                                "initContainers": [
                                    {"name": "i", "image": "reg.example.ae/init:1.0"}
                                ],
                                "containers": [{"name": "c", "image": "reg.example.ae/app:2.0"}],
                            }
                        }
                    }
                },
            },
            {
                "type": "kubernetes:helm.sh/v3:Release",
                "name": "kps",
                "inputs": {
                    "chart": "kube-prometheus-stack",
                    "version": "82.12.0",
                    "repositoryOpts": {"repo": "oci://reg.example.ae/charts"},
                    "values": {
                        "prometheus": {
                            "image": {
                                "registry": "reg.example.ae",
                                "repository": "prom/prometheus",
                                "tag": "v3.1.0",
                            }
                        },
                        "kserve": {
                            "controller": {
                                "image": "reg.example.ae/kserve-controller",
                                "tag": "v0.16.0",
                                "rbacProxyImage": "reg.example.ae/kube-rbac-proxy:v0.18.0",
                            }
                        },
                    },
                },
            },
            {"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {"image": "not-a-k8s-image"}},
        ]
    }
    refs = {(artifact.kind, artifact.ref) for artifact in artifacts_from_plan(plan)}
    assert refs == {
        ("image", "reg.example.ae/init:1.0"),
        ("image", "reg.example.ae/app:2.0"),
        ("image", "reg.example.ae/prom/prometheus:v3.1.0"),
        ("image", "reg.example.ae/kserve-controller:v0.16.0"),
        ("image", "reg.example.ae/kube-rbac-proxy:v0.18.0"),
        ("chart", "oci://reg.example.ae/charts/kube-prometheus-stack:82.12.0"),
    }


@pytest.mark.parametrize("stack", ["prod", "onprem"])
def test_mirror_lists_every_image_of_the_shipped_stack(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mirror", "--stack", stack, "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["images"], "a platform stack deploys images"
    for image in listing["images"]:
        assert ":" in image["ref"].rsplit("/", 1)[-1] or "@sha256:" in image["ref"], (
            f"unpinned: {image['ref']}"
        )
        assert not image["ref"].endswith(":latest"), image["ref"]


def test_mirror_works_on_any_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent("""
        import pulumi_kubernetes as k8s
        k8s.core.v1.Pod("p", spec={"containers": [{"name": "c", "image": "ghcr.io/acme/app:1.2.3"}]})
    """)
    )
    assert main(["mirror", "--stack", "test", "--program", str(tmp_path)]) == 0
    assert "ghcr.io/acme/app:1.2.3" in capsys.readouterr().out.splitlines()


# -- copying into the in-region registry and the digest lock ------------------------------------
def _client(*registries: Any, credentials: Any = None) -> Any:
    from mlplatform.mirror import RegistryClient

    return RegistryClient(credentials, plain_http=[r.host for r in registries])


@pytest.mark.parametrize("index", [False, True])
def test_copy_keeps_the_upstream_digest_and_writes_the_lock(tmp_path: Path, index: bool) -> None:
    from mlplatform.mirror import mirror_images, read_lock

    with Registry(auth="bearer") as upstream, Registry(auth="basic") as mirror:
        digest = upstream.push_image("acme/app", "1.2.3", [b"layer-1" * 100, b"layer-2"], index)
        planned = f"{mirror.host}/mirror/{upstream.host}/acme/app:1.2.3"
        lock = tmp_path / "images.lock.json"
        client = _client(upstream, mirror, credentials={mirror.host: ("AWS", "pw")})
        outcomes = mirror_images([planned], client, lock)
        assert [(o.digest, o.note) for o in outcomes] == [
            (digest, f"copied from {upstream.host}/acme/app:1.2.3")
        ]
        # Byte for byte: the mirror's tag resolves to the upstream digest, blobs included.
        repo = f"mirror/{upstream.host}/acme/app"
        assert mirror.manifests[(repo, "1.2.3")] == upstream.manifests[("acme/app", "1.2.3")]
        assert set(upstream.blobs) <= set(mirror.blobs)
        assert read_lock(lock) == {
            f"{repo}:1.2.3": {"digest": digest, "source": f"{upstream.host}/acme/app:1.2.3"}
        }
        # A second run copies no blob again and keeps the lock stable.
        before = len([r for r in mirror.requests if r[0] == "PUT"])
        mirror_images([planned], client, lock)
        puts = [r for r in mirror.requests if r[0] == "PUT"][before:]
        assert all("/manifests/" in path for _, path in puts)
        assert json.loads(lock.read_text())["version"] == 1


def test_built_images_are_resolved_and_missing_ones_reported(tmp_path: Path) -> None:
    from mlplatform.mirror import mirror_images, read_lock

    with Registry() as mirror:
        digest = mirror.push_image("mlplatform/loop", "0.4.0", [b"code"])
        lock = tmp_path / "images.lock.json"
        outcomes = mirror_images(
            [
                f"{mirror.host}/mlplatform/loop:0.4.0",
                f"{mirror.host}/mlplatform/onnx-serving:0.4.0",
            ],
            _client(mirror),
            lock,
        )
        notes = {o.image.rsplit("/", 1)[-1]: (o.digest, o.note) for o in outcomes}
        assert notes["loop:0.4.0"] == (digest, "built image, digest read")
        assert notes["onnx-serving:0.4.0"] == (None, "not in the registry: build and push it")
        assert read_lock(lock) == {"mlplatform/loop:0.4.0": {"digest": digest, "source": "built"}}


def test_a_corrupt_upstream_blob_is_not_copied_or_locked(tmp_path: Path) -> None:
    from mlplatform.mirror import mirror_images, read_lock

    with Registry() as upstream, Registry() as mirror:
        upstream.push_image("acme/app", "1.0.0", [b"good"])
        layer = next(d for d, blob in upstream.blobs.items() if blob == b"good")
        upstream.blobs[layer] = b"evil"
        lock = tmp_path / "images.lock.json"
        planned = f"{mirror.host}/mirror/{upstream.host}/acme/app:1.0.0"
        [outcome] = mirror_images([planned], _client(upstream, mirror), lock)
        assert outcome.digest is None and "does not match its digest" in outcome.note
        assert read_lock(lock) == {}
        assert layer not in mirror.blobs


def test_lock_file_errors_are_one_line(tmp_path: Path) -> None:
    from mlplatform.mirror import MirrorError, read_lock

    lock = tmp_path / "images.lock.json"
    lock.write_text('{"version": 1, "images": {"a:1": {"digest": "sha256:00"}}}')
    with pytest.raises(MirrorError, match=r"images\.a:1\.digest: expected sha256:<64 hex>"):
        read_lock(lock)
    lock.write_text("{nope")
    with pytest.raises(MirrorError, match="not a JSON image lock"):
        read_lock(lock)


def test_mirror_copy_command_on_a_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlplatform.mirror import read_lock

    with Registry(auth="bearer") as upstream, Registry(auth="basic") as mirror:
        digest = upstream.push_image("acme/app", "1.2.3", [b"x"])
        auth = tmp_path / "auth.json"
        token = __import__("base64").b64encode(b"AWS:pw").decode()
        auth.write_text(json.dumps({"auths": {mirror.host: {"auth": token}}}))
        (tmp_path / "p").mkdir()
        (tmp_path / "p" / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
        (tmp_path / "p" / "Pulumi.test.yaml").write_text("config: {}\n")
        image = f"{mirror.host}/mirror/{upstream.host}/acme/app:1.2.3"
        (tmp_path / "p" / "__main__.py").write_text(
            "import pulumi_kubernetes as k8s\n"
            f'k8s.core.v1.Pod("p", spec={{"containers": [{{"name": "c", "image": "{image}"}}]}})\n'
        )
        lock = tmp_path / "images.lock.json"
        argv = ["mirror", "--stack", "test", "--program", str(tmp_path / "p"), "--copy"]
        argv += ["--lock", str(lock), "--auth", str(auth)]
        argv += ["--plain-http", upstream.host, "--plain-http", mirror.host]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"{image} {digest}" in out
        assert read_lock(lock)[f"mirror/{upstream.host}/acme/app:1.2.3"]["digest"] == digest
        # Nothing to copy from: exit 1, the image named.
        upstream.manifests.clear()
        lock.unlink()
        assert main(argv) == 1
        assert "MANIFEST_UNKNOWN" in capsys.readouterr().out
