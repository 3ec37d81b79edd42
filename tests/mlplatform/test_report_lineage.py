"""``mlplatform report --registry``: each served model version traced back to its data.

One small model is trained and signed once per module (the real training run, the real
Ed25519 signature); registries in folders and in moto's S3 server point at it, at a
tampered copy and at a re-signed copy without lineage.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq
import pytest

from contracts.model_card import CARD_FILE, SIGNATURE_FILE, SignatureError, verify_signature
from mlplatform.cli import REPO_ROOT, main
from mlplatform.report import SCHEMA_PATH
from mlplatform.report.lineage import LineageError, lineage_section
from tests.mlplatform.test_report import _browse
from tests.model_fixtures import TrainedModel

TENANTS = ["desert-logistics", "emirates-health", "gulf-bank", "souk-analytics"]
MODEL = "churn"


@dataclass(frozen=True)
class Trained:
    folder: Path
    card: dict[str, Any]
    version: str
    public_key: Path
    private_key: Path


@pytest.fixture(scope="module")
def trained(trained_model: TrainedModel) -> Trained:
    """The session's trained and signed model (``tests/model_fixtures.py``)."""
    card = trained_model.card
    return Trained(
        trained_model.out,
        card,
        str(card["model_version"]),
        trained_model.keys.public,
        trained_model.keys.private,
    )


def _registry(root: Path, model_folder: Path, version: str, uri: str | None = None) -> Path:
    """A folder registry whose churn champion is a copy of ``model_folder``."""
    shutil.copytree(model_folder, root / "models" / MODEL / version)
    index: dict[str, Any] = {
        "model": MODEL,
        "champion": version,
        "challenger": None,
        "versions": {version: {"uri": uri or f"../models/{MODEL}/{version}", "status": "champion"}},
        "runs": {},
        "history": [],
    }
    (root / "registry").mkdir(parents=True)
    (root / "registry" / f"{MODEL}.json").write_text(json.dumps(index))
    return root / "registry"


def _card_path(registry: Path, version: str) -> Path:
    return registry.parent / "models" / MODEL / version / CARD_FILE


@pytest.fixture(scope="module")
def good(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _registry(tmp_path_factory.mktemp("good"), trained.folder, trained.version)


@pytest.fixture(scope="module")
def tampered(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    registry = _registry(tmp_path_factory.mktemp("tampered"), trained.folder, trained.version)
    card_path = _card_path(registry, trained.version)
    card = json.loads(card_path.read_text())
    card["lineage"]["files"][0]["sha256"] = "0" * 64  # hide which data it was trained on
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return registry


@pytest.fixture(scope="module")
def no_lineage(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A validly signed card without a lineage block (re-signed with the tenant's key)."""
    from workloads.common.signing import load_private_key, sign_artifacts

    registry = _registry(tmp_path_factory.mktemp("nolineage"), trained.folder, trained.version)
    folder = _card_path(registry, trained.version).parent
    card = json.loads((folder / CARD_FILE).read_text())
    del card["lineage"]
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    signed = json.loads((folder / SIGNATURE_FILE).read_text())
    sign_artifacts(
        folder,
        list(signed["artifacts"]),
        load_private_key(trained.private_key),
        model_name=MODEL,
        model_version=trained.version,
        created_at=signed["model"]["created_at"],
    )
    return registry


def _section(registry: str, trained: Trained, **extra: Any) -> dict[str, Any]:
    return lineage_section(
        {"gulf-bank": registry}, {}, {"gulf-bank": str(trained.public_key)}, TENANTS, **extra
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_section_lists_the_training_files_with_their_real_digests(
    trained: Trained, good: Path
) -> None:
    section = _section(str(good), trained)
    assert (section["provided"], section["status"], section["failed"]) == (True, "pass", 0)
    [version] = section["versions"]
    assert (version["tenant"], version["model"], version["version"], version["stage"]) == (
        "gulf-bank",
        MODEL,
        trained.version,
        "champion",
    )
    card_path = _card_path(good, trained.version)
    assert version["card"] == str(card_path)
    assert version["cardSha256"] == _sha256(card_path)
    assert version["signature"]["status"] == "verified"
    lineage = version["lineage"]
    # Feature files of every view and the labels file, each with its real digest and rows.
    assert {f["view"] for f in lineage["files"]} == {
        v["name"] for v in trained.card["lineage"]["feature_views"]
    } | {""}
    for entry in lineage["files"]:
        path = Path(entry["uri"])
        assert entry["sha256"] == _sha256(path), path
        assert entry["rows"] == pq.ParquetFile(path).metadata.num_rows > 0
    assert [(v["name"], v["version"]) for v in lineage["featureViews"]] == [
        (v["name"], v["version"]) for v in trained.card["lineage"]["feature_views"]
    ]
    assert all(len(v["version"]) == 64 for v in lineage["featureViews"])
    assert lineage["pointInTimeCutoff"] == trained.card["lineage"]["point_in_time_cutoff"]


def test_a_tampered_card_fails_its_signature(trained: Trained, tampered: Path) -> None:
    section = _section(str(tampered), trained)
    [version] = section["versions"]
    assert (section["status"], version["status"]) == ("fail", "fail")
    assert version["signature"]["status"] == "failed"
    assert "model_card.json: digest does not match" in version["signature"]["detail"]


def test_a_card_without_lineage_fails_even_when_signed(trained: Trained, no_lineage: Path) -> None:
    [version] = _section(str(no_lineage), trained)["versions"]
    assert version["signature"]["status"] == "verified"
    assert (version["status"], version["lineage"]) == ("fail", None)
    assert version["problems"] == ["model_card.json has no lineage block"]


def test_another_tenants_key_does_not_verify(trained: Trained, good: Path) -> None:
    from workloads.common.signing import write_key_pair

    other = good.parent / "other"
    other.mkdir(exist_ok=True)
    write_key_pair(other / "k.pem", other / "k.pub.pem")
    section = lineage_section(
        {"gulf-bank": str(good)}, {"gulf-bank": (other / "k.pub.pem").read_text()}, {}, TENANTS
    )
    [version] = section["versions"]
    assert version["signature"]["keySource"] == "plan"
    assert "does not verify with the given public key" in version["signature"]["detail"]
    assert version["status"] == "fail"
    # No key at all: unverified, and a failure too.
    [version] = lineage_section({"gulf-bank": str(good)}, {}, {}, TENANTS)["versions"]
    assert (version["signature"]["status"], version["status"]) == ("unverified", "fail")


def test_contracts_verification_matches_the_servers(trained: Trained) -> None:
    from workloads.common.signing import ArtifactVerificationError, load_public_key, read_verified

    folder = trained.folder
    pem = trained.public_key.read_text()
    signed = json.loads((folder / SIGNATURE_FILE).read_text())
    identity = verify_signature(signed, pem, lambda name: (folder / name).read_bytes())
    server = read_verified(folder, load_public_key(trained.public_key), [CARD_FILE])
    assert (identity["name"], identity["version"]) == (server.name, server.version)
    # One flipped bit in a signed artifact: both refuse it.
    contents = {name: (folder / name).read_bytes() for name in signed["artifacts"]}
    contents[CARD_FILE] = contents[CARD_FILE].replace(b"{", b"[", 1)
    with pytest.raises(SignatureError, match="digest does not match"):
        verify_signature(signed, pem, contents.get)
    copy = folder.parent / "flipped"
    shutil.copytree(folder, copy)
    (copy / CARD_FILE).write_bytes(contents[CARD_FILE])
    with pytest.raises(ArtifactVerificationError, match="digest does not match"):
        read_verified(copy, load_public_key(trained.public_key), [CARD_FILE])


def test_an_s3_registry_is_read_with_boto3(
    trained: Trained, good: Path, object_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "me-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", object_store)
    s3 = boto3.client("s3")
    bucket = "mlp-prod-gulf-bank-data"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "me-central-1"}
    )
    uri = f"s3://{bucket}/models/{MODEL}/{trained.version}/"
    for path in trained.folder.iterdir():
        s3.put_object(
            Bucket=bucket,
            Key=f"models/{MODEL}/{trained.version}/{path.name}",
            Body=path.read_bytes(),
        )
    index = json.loads((good / f"{MODEL}.json").read_text())
    index["versions"][trained.version]["uri"] = uri
    s3.put_object(Bucket=bucket, Key=f"registry/{MODEL}.json", Body=json.dumps(index).encode())

    section = _section(f"s3://{bucket}/registry/", trained)  # boto3's own client
    [version] = section["versions"]
    assert (version["status"], version["signature"]["status"]) == ("pass", "verified")
    assert version["card"] == uri + CARD_FILE
    assert version["lineage"] == _section(str(good), trained)["versions"][0]["lineage"]

    s3.put_object(Bucket=bucket, Key=f"registry/{MODEL}.json", Body=b"{not json")
    with pytest.raises(LineageError, match=rf"s3://{bucket}/registry/{MODEL}.json: .*not JSON"):
        _section(f"s3://{bucket}/registry/", trained)


def test_bad_registry_input_is_one_line_naming_path_and_field(
    trained: Trained, good: Path, tmp_path: Path
) -> None:
    with pytest.raises(LineageError, match="not a folder"):
        _section(str(tmp_path / "missing"), trained)
    bad = _registry(tmp_path / "bad", trained.folder, trained.version)
    (bad / f"{MODEL}.json").write_text("{")
    with pytest.raises(LineageError, match=rf"{MODEL}.json: registry index is not JSON"):
        _section(str(bad), trained)
    (bad / f"{MODEL}.json").write_text(json.dumps({"model": MODEL, "champion": "v9"}))
    with pytest.raises(LineageError, match="versions: expected a mapping"):
        _section(str(bad), trained)
    index = json.loads((good / f"{MODEL}.json").read_text())
    (bad / f"{MODEL}.json").write_text(json.dumps(index))
    _card_path(bad, trained.version).write_text("not json")
    with pytest.raises(LineageError, match=r"model_card.json: not JSON"):
        _section(str(bad), trained)
    with pytest.raises(
        LineageError, match="no tenant 'acme' in this stack; allowed: desert-logistics"
    ):
        lineage_section({"acme": str(good)}, {}, {}, TENANTS)


def test_cli_bad_registry_exits_2_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in (["--registry", "no-tenant"], ["--registry", f"gulf-bank={tmp_path / 'x'}"]):
        code = main(["report", "--stack", "prod", "--out", str(tmp_path / "out"), *option])
        errors = [e for e in capsys.readouterr().err.splitlines() if e.startswith("error:")]
        assert code == 2
        assert len(errors) == 1 and "--registry" in errors[0], errors
    assert not (tmp_path / "out").exists()


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads(SCHEMA_PATH.read_text()), format_checker=jsonschema.FormatChecker()
    )


def test_prod_report_with_a_good_registry_passes_and_links_the_card(
    trained: Trained, good: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "report",
            "--stack",
            "prod",
            "--program",
            str(REPO_ROOT),
            "--out",
            str(out),
            "--registry",
            f"gulf-bank={good}",
            "--verify-key",
            f"gulf-bank={trained.public_key}",
        ]
    )
    assert code == 0
    document = json.loads((out / "report.json").read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(document)]
    assert not errors, errors[:5]
    assert document["lineage"]["status"] == "pass"
    card = _card_path(good, trained.version)
    html = (out / "report.html").read_text()
    assert f'<a href="{card.as_uri()}">' in html
    assert 'id="lineage"' in html and trained.card["lineage"]["files"][0]["sha256"] in html
    dom, console = _browse(out / "report.html", tmp_path, "--dump-dom")  # a real browser
    assert console == [], console
    assert f'href="{card.as_uri()}"' in dom
    rows = [
        r for r in csv.DictReader((out / "controls.csv").open()) if r["CheckId"] == "model-lineage"
    ]
    assert {(r["Framework"], r["Requirements_Id"], r["Status"]) for r in rows} == {
        ("UAE PDPL", "Art. 20", "PASS"),
        ("DIFC DPL", "Art. 14", "PASS"),
    }
    assert {r["ResourceId"] for r in rows} == {str(card)}


def test_prod_report_with_a_tampered_card_fails_the_pdpl_control(
    trained: Trained, tampered: Path, good: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "report",
            "--stack",
            "prod",
            "--out",
            str(out),
            "--registry",
            f"gulf-bank={tampered}",
            "--verify-key",
            f"gulf-bank={trained.public_key}",
            # The plan's key for souk-analytics did not sign this model: a failure too.
            "--registry",
            f"souk-analytics={good}",
        ]
    )
    assert code == 1
    document = json.loads((out / "report.json").read_text())
    assert _validator().is_valid(document)
    assert document["verdict"]["exitCode"] == 1
    lineage = document["lineage"]
    assert (lineage["status"], lineage["failed"]) == ("fail", 2)
    assert {v["tenant"]: v["signature"]["keySource"] for v in lineage["versions"]} == {
        "gulf-bank": str(trained.public_key),
        "souk-analytics": "plan",
    }
    controls = {(f["name"], c["id"]): c for f in document["frameworks"] for c in f["controls"]}
    for key in (("UAE PDPL", "Art. 20"), ("DIFC DPL", "Art. 14")):
        assert controls[key]["status"] == "fail"
        lineage_findings = [f for f in controls[key]["findings"] if f["rule"] == "model-lineage"]
        assert sorted(f["message"].split(":")[0] for f in lineage_findings) == [
            f"gulf-bank/{MODEL} {trained.version} (champion)",
            f"souk-analytics/{MODEL} {trained.version} (champion)",
        ]


def test_frameworks_mapping_names_only_known_evidence(tmp_path: Path) -> None:
    from mlplatform.report import ReportError, load_frameworks

    shipped = load_frameworks(REPO_ROOT / "policies" / "frameworks.yaml")
    mapped = {
        (f["name"], c["id"])
        for f in shipped["frameworks"]
        for c in f.get("controls") or []
        if "model-lineage" in (c.get("evidence") or [])
    }
    assert mapped == {("UAE PDPL", "Art. 20"), ("DIFC DPL", "Art. 14")}
    bad = tmp_path / "frameworks.yaml"
    bad.write_text(
        "frameworks:\n  - name: X\n    source: s\n    controls:\n"
        "      - id: A\n        evidence: [model-lineag]\n"
    )
    with pytest.raises(ReportError, match=r"frameworks\[0\].controls\[0\].evidence: allowed"):
        load_frameworks(bad)
