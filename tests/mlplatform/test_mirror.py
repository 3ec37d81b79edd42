"""`mlplatform mirror`: every image and chart, read from the plan itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlplatform.cli import main
from mlplatform.mirror import artifacts_from_plan


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
