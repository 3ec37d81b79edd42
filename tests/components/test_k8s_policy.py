"""The whole Kubernetes layer, as a Pulumi program, through ``mlplatform plan`` and ``policy``.

A throwaway program (one SMB and one enterprise tenant, every component of this layer)
is written to ``tmp_path`` and run by the CLI exactly as a user would run it with
``--program``: the plan's manifests must be schema-valid and pass the invariants, and
both policy packs must report zero mandatory violations.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from components.k8s import invariants
from tests.components import k8s_validation as validation

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("k8s_data")
REG = "123456789012.dkr.ecr.me-central-1.amazonaws.com"

PROGRAM = """
import sys
sys.path[:0] = [{repo!r}, {data!r}]
import pulumi
import samples
import components.k8s as K
from components.aws.queues import TenantQueues
from components.featurestore import FeatureStore

REG = samples.REGISTRY
CIDRS = samples.CLUSTER_CIDRS
KEY = {key!r}
K.GpuEnablement("gpu", {{"registry_host": REG}})
K.KServeInstall("kserve", {{"registry_host": REG, "cluster_cidrs": CIDRS}})
K.MonitoringStack("monitoring", {{
    "registry_host": REG, "retention_days": 15, "cluster_cidrs": CIDRS,
    "grafana_admin_password": pulumi.Output.secret("grafana-password-0123"),
}})
for tier in samples.TIERS:
    t = samples.tenant(tier)
    FeatureStore(f"{{t}}-features", samples.feature_store_args(tier))
    K.ModelServing(f"{{t}}-serving", {{**samples.serving_args(tier), "verify_key_pem": KEY}})
    K.TenantMonitoring(f"{{t}}-monitoring", samples.monitoring_args(tier))
    queues = TenantQueues(f"{{t}}-queues", samples.queue_args(tier))
    K.TenantAutomation(f"{{t}}-automation", {{
        "tenant": t, "namespace": t, "registry_host": REG, "image_tag": "0.1.0",
        "retraining_queue_url": queues.queue_urls.apply(lambda u: u["retraining"]),
        "webhook_token": pulumi.Output.secret("webhook-token-0123456789"),
        "role_arn": f"arn:aws:iam::123456789012:role/{{t}}-automation",
        "canary_models": ["churn"] if tier == "enterprise" else [],
    }})
"""


def _verify_key_pem() -> str:
    """A throwaway Ed25519 public key: the serving component mounts whatever valid key it gets."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("k8s-layer")
    (root / "Pulumi.yaml").write_text("name: k8s-layer\nruntime:\n  name: python\nmain: .\n")
    (root / "Pulumi.test.yaml").write_text("config:\n  aws:region: me-central-1\n")
    (root / "__main__.py").write_text(
        textwrap.dedent(PROGRAM.format(repo=str(REPO), data=str(DATA), key=_verify_key_pem()))
    )
    return root


@pytest.mark.slow
def test_plan_manifests_are_valid(program: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = _cli("plan", "--program", str(program), "--stack", "test", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    checked = kserve = 0
    for path in sorted((out / "manifests").rglob("*.yaml")):
        for manifest in yaml.safe_load_all(path.read_text()):
            if not manifest:
                continue
            assert invariants.all_findings(manifest, REG, {"nvidia.com/gpu.present": "true"}) == []
            if validation.is_kserve(manifest):
                assert validation.kserve_findings(manifest) == [], path.name
                kserve += 1
            group = manifest["apiVersion"].rpartition("/")[0]
            if "." in group and not group.endswith(".k8s.io"):
                continue
            if manifest["kind"] == "Secret":
                # The plan masks a secret input as a whole ("[secret]"); keep the shape.
                for key in ("stringData", "data"):
                    if manifest.get(key) == "[secret]":
                        manifest[key] = {"masked": "[secret]"}
            assert validation.kubernetes_findings(manifest) == [], path.name
            checked += 1
    assert kserve == 8  # 3 SMB + 5 enterprise ServingRuntimes/InferenceServices
    assert checked >= 60


@pytest.mark.slow
def test_both_policy_packs_pass_without_mandatory_violations(program: Path) -> None:
    result = _cli("policy", "--program", str(program), "--stack", "test", "--format", "json")
    report = json.loads(result.stdout)
    violations = [
        f"{v['policy']} {v['resourceName']}: {v['message']}"
        for v in report["violations"]
        if v["enforcementLevel"] == "mandatory"
    ]
    assert violations == []
    assert result.returncode == 0
    assert {p["name"] for p in report["packs"]} >= {"uae-residency", "zero-trust"}
    assert report["resourcesAnalyzed"] > 100
