"""Stack settings: every shipped stack validates; every bad stack file is one clear line, exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from components.settings import PROJECT, ConfigError, Mode, settings_from_config
from contracts.names import Tier
from mlplatform.cli import main
from mlplatform.engine import load_project

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml")
)


def load(stack: str, root: Path = REPO):
    project = load_project(root, stack)
    return settings_from_config(
        {**project.raw_config},
        project=PROJECT,
        stack=stack,
        stack_file=project.display(project.stack_file),
    )


def test_the_example_stacks_are_shipped() -> None:
    assert set(SHIPPED) >= {"dev", "staging", "prod", "onprem"}


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_stack_validates(stack: str) -> None:
    s = load(stack)
    assert s.tenants
    assert s.mode is Mode.HYBRID or s.region == "me-central-1"
    if s.mode is Mode.AWS:
        assert len(s.zone_ids) >= 2


def test_prod_has_two_tenants_of_each_tier_and_prod_profile() -> None:
    s = load("prod")
    tiers = [t.tier for t in s.tenants]
    assert tiers.count(Tier.SMB) >= 2 and tiers.count(Tier.ENTERPRISE) >= 2
    assert s.profile.nat_per_az and s.profile.protect_stateful
    assert "mec1-az2" not in s.zone_ids


def test_dev_is_one_smb_tenant_without_protection() -> None:
    s = load("dev")
    assert [t.tier for t in s.tenants] == [Tier.SMB]
    assert not s.profile.nat_per_az and not s.profile.protect_stateful


def test_presets_fill_the_tier_table() -> None:
    s = load("prod")
    smb = next(t for t in s.tenants if t.tier is Tier.SMB)
    ent = next(t for t in s.tenants if t.tier is Tier.ENTERPRISE)
    assert smb.gpu_pool is None and smb.quota.gpus == 0 and not smb.dedicated_nodes
    assert smb.online_store == "dynamodb" and smb.training_pool.capacity_type == "SPOT"
    assert ent.dedicated_nodes and ent.gpu_pool is not None and ent.gpu_pool.min_size == 0
    assert ent.inference.min_replicas >= 2 and ent.inference.pdb and ent.inference.canary
    assert ent.online_store == "redis" and ent.object_lock


VERIFY_PEM = """\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAvmNLx2M1ycSWUf/IStkUNXyR5rgn4vO2O2nXBPOOoic=
-----END PUBLIC KEY-----
"""


def key_block(pem: str, indent: str = "  ") -> str:
    """A PEM as the YAML block scalar a stack file holds it in."""
    return "|\n" + textwrap.indent(pem, indent)


BASE = f"""\
aws:region: me-central-1
sovereign-ml-platform:environment: dev
sovereign-ml-platform:model_signing_public_key: {key_block(VERIFY_PEM)}\
sovereign-ml-platform:tenants:
  - name: acme
    tier: smb
"""
_ED25519 = Ed25519PrivateKey.generate()
PRIVATE_PEM = _ED25519.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
OTHER_PEM = (
    _ED25519.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
)


def run_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str) -> list[str]:
    """Plan our own program with a bad stack file; return the error lines."""
    (tmp_path / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime: python\nmain: {REPO / 'stacks'}\nstackConfigDir: .\n"
    )
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n" + textwrap.indent(config, "  "))
    out = tmp_path / "out"
    code = main(["plan", "--stack", "bad", "--program", str(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert not (out / "plan.json").exists(), "no plan may be written for a bad stack"
    return [line for line in err.splitlines() if line]


CASES = {
    "region-outside-allowed": (
        BASE.replace("me-central-1", "eu-west-1"),
        "Pulumi.bad.yaml: aws:region: 'eu-west-1' is not allowed; allowed: me-central-1",
    ),
    "bahrain-is-not-the-uae": (
        BASE.replace("me-central-1", "me-south-1"),
        "me-south-1 is Bahrain, not the UAE",
    ),
    "unknown-tier": (
        BASE.replace("tier: smb", "tier: gold"),
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].tier: 'gold' is not allowed; allowed: 'smb', 'enterprise'",
    ),
    "unknown-top-level-key": (
        BASE + "sovereign-ml-platform:enviroment: dev\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:enviroment: unknown key",
    ),
    "unknown-nested-key": (
        BASE + "sovereign-ml-platform:network:\n  cidr: 10.1.0.0/16\n  nat: true\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:network.nat: unknown key",
    ),
    "unknown-override-key": (
        BASE + "    overrides:\n      gpus: 4\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].overrides.gpus: unknown key",
    ),
    "name-not-dns-label": (
        BASE.replace("name: acme", "name: Acme_Bank"),
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].name: 'Acme_Bank' is not a DNS-1123 label",
    ),
    "duplicate-names": (
        BASE + "  - name: acme\n    tier: enterprise\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants: duplicate tenant names: acme",
    ),
    "smb-asks-for-gpus": (
        BASE + "    overrides:\n      gpu_instance_types: [g6.xlarge]\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].overrides.gpu_instance_types: SMB tenants run on CPU; GPU pools are enterprise-only",
    ),
    "instance-type-not-offered": (
        BASE.replace("tier: smb", "tier: enterprise")
        + "    overrides:\n      gpu_instance_types: [p4d.24xlarge]\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].overrides.gpu_instance_types: 'p4d.24xlarge' is not offered in me-central-1 (offerings of 2026-03-16); GPU types offered: g5.*, g6.*, g6e.*, p5en.48xlarge",
    ),
    "t3-gone-from-offerings": (
        BASE + "    overrides:\n      training_instance_types: [t3.large]\n",
        "'t3.large' is not offered in me-central-1",
    ),
    "p5en-without-reservation": (
        BASE.replace("tier: smb", "tier: enterprise")
        + "    overrides:\n      training_instance_types: [p5en.48xlarge]\n",
        "training_capacity_reservation_id: p5en pools need an EC2 capacity reservation id",
    ),
    "zone-name-instead-of-id": (
        BASE + "sovereign-ml-platform:network:\n  excluded_zone_ids: [me-central-1b]\n",
        "sovereign-ml-platform:network.excluded_zone_ids: 'me-central-1b' is not a zone id of me-central-1; allowed: mec1-az1, mec1-az2, mec1-az3",
    ),
    "one-zone-left": (
        BASE + "sovereign-ml-platform:network:\n  excluded_zone_ids: [mec1-az2, mec1-az3]\n",
        "stateful data must span at least two healthy zones",
    ),
    "eks-version-leaving-support": (
        BASE + "sovereign-ml-platform:cluster:\n  kubernetes_version: '1.34'\n",
        "sovereign-ml-platform:cluster.kubernetes_version: '1.34' is not supported; allowed: 1.35, 1.36",
    ),
    "signing-key-missing": (
        BASE.replace(
            f"sovereign-ml-platform:model_signing_public_key: {key_block(VERIFY_PEM)}", ""
        ),
        "Pulumi.bad.yaml: sovereign-ml-platform:model_signing_public_key: required but missing; "
        "give the PEM of the Ed25519 public key that verifies signed models (tenants serving "
        "models without their own key: acme)",
    ),
    "signing-key-not-pem": (
        BASE.replace(VERIFY_PEM.splitlines()[1], "bm90IGEga2V5"),
        "Pulumi.bad.yaml: sovereign-ml-platform:model_signing_public_key: is not a PEM public "
        "key; allowed: the PEM text of an Ed25519 public key",
    ),
    "signing-key-not-ed25519": (
        BASE.replace(textwrap.indent(VERIFY_PEM, "  "), textwrap.indent(EC_PEM, "  ")),
        "Pulumi.bad.yaml: sovereign-ml-platform:model_signing_public_key: is a public key of "
        "type EC, not Ed25519",
    ),
    "signing-key-is-private": (
        BASE.replace(textwrap.indent(VERIFY_PEM, "  "), textwrap.indent(PRIVATE_PEM, "  ")),
        "Pulumi.bad.yaml: sovereign-ml-platform:model_signing_public_key: is a private key; "
        "give only the Ed25519 public key PEM",
    ),
    "tenant-signing-key-not-pem": (
        BASE + "    overrides:\n      model_signing_public_key: ssh-ed25519 AAAAC3Nza\n",
        "Pulumi.bad.yaml: sovereign-ml-platform:tenants[0].overrides.model_signing_public_key: "
        "is not a PEM public key",
    ),
    "no-tenants": (
        "aws:region: me-central-1\nsovereign-ml-platform:environment: dev\n",
        "sovereign-ml-platform:tenants: required but missing",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_configuration_is_one_clear_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, expected = CASES[case]
    lines = run_bad(tmp_path, capsys, config)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("error: ") for line in lines), lines


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (
        BASE.replace("tier: smb", "tier: gold").replace("name: acme", "name: ACME")
        + "sovereign-ml-platform:colour: blue\n"
    )
    lines = run_bad(tmp_path, capsys, config)
    assert len([line for line in lines if "Pulumi.bad.yaml" in line]) == 3, lines


def test_malformed_yaml_names_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run_bad(tmp_path, capsys, BASE + "sovereign-ml-platform:tags: {a: [1, 2}\n")
    assert any("Pulumi.bad.yaml: malformed YAML at line" in line for line in lines), lines


def test_unknown_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "qa"]) == 2
    err = capsys.readouterr().err
    assert (
        "unknown stack 'qa': no stacks/Pulumi.qa.yaml; available: dev, onprem, prod, staging" in err
    )


def test_config_error_is_a_config_error_in_python_too() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_config(
            {"aws:region": "me-central-1"}, project=PROJECT, stack="x", stack_file="f.yaml"
        )
    assert info.value.lines == [
        "f.yaml: sovereign-ml-platform:environment: required but missing",
        "f.yaml: sovereign-ml-platform:tenants: required but missing",
    ]


def test_a_tenant_may_verify_with_its_own_key() -> None:
    config = {
        "aws:region": "me-central-1",
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:tenants": [
            {"name": "acme", "tier": "smb"},
            {"name": "own", "tier": "smb", "overrides": {"model_signing_public_key": OTHER_PEM}},
        ],
    }
    with pytest.raises(ConfigError) as info:
        settings_from_config(config, project=PROJECT, stack="x", stack_file="f.yaml")
    # Only the tenant without a key of its own needs the stack's key.
    assert info.value.lines == [
        "f.yaml: sovereign-ml-platform:model_signing_public_key: required but missing; give "
        "the PEM of the Ed25519 public key that verifies signed models (tenants serving "
        "models without their own key: acme)"
    ]
    config[f"{PROJECT}:model_signing_public_key"] = VERIFY_PEM
    s = settings_from_config(config, project=PROJECT, stack="x", stack_file="f.yaml")
    keys = {t.name: t.model_signing_public_key for t in s.tenants}
    assert keys == {"acme": VERIFY_PEM, "own": OTHER_PEM}


@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_carry_an_ed25519_verify_key(stack: str) -> None:
    s = load(stack)
    for tenant in s.tenants:
        assert tenant.model_signing_public_key.startswith("-----BEGIN PUBLIC KEY-----\n")
        assert "PRIVATE" not in (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text()
