"""The report's "Model lineage" section: each served model version traced back to its data.

Given a tenant's model registry (``--registry TENANT=URI``: a folder, or ``s3://bucket/
prefix/`` read with boto3 and the caller's credentials), every model's champion and
challenger are listed with their card's location and digest, the signature's status and
the card's ``lineage`` block (training files with SHA-256 and rows, feature views with
versions, the point-in-time cut-off). The signature is checked with the tenant's public
key the plan gives its model servers (the ``MLPLATFORM_VERIFY_KEY_PEM`` of the tenant's
ServingRuntime) unless ``--verify-key TENANT=FILE`` names one; the check is the
servers' own (:func:`contracts.model_card.verify_signature`). A version with no
lineage, or whose signature does not verify, fails the section (exit 1); a registry,
index or card that cannot be read or parsed is bad input (exit 2). Layout:
:mod:`contracts.model_card`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.model_card import (
    CARD_FILE,
    LINEAGE,
    SIGNATURE_FILE,
    SignatureError,
    verify_signature,
)
from contracts.names import CHALLENGER, CHAMPION, tenant_namespace
from contracts.signing import VERIFY_KEY_PEM_ENV
from mlplatform.report.evidence import leaves

EVIDENCE = "model-lineage"
"""The evidence name a control lists in ``policies/frameworks.yaml`` (``evidence:``)."""
NOT_PROVIDED = (
    "not provided: run `mlplatform report --registry TENANT=URI` after training to trace "
    "each served model version to its training data"
)
STAGES = (CHAMPION, CHALLENGER)


class LineageError(ValueError):
    """A registry, index or card that cannot be read (one line naming path and field)."""


def parse_pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    """``["TENANT=VALUE", ...]`` -> ``{tenant: value}``; one line on a malformed item."""
    pairs: dict[str, str] = {}
    for value in values or []:
        tenant, sep, rest = value.partition("=")
        if not sep or not tenant or not rest:
            raise LineageError(f"{option} {value!r}: expected TENANT=VALUE")
        if tenant in pairs:
            raise LineageError(f"{option} {value!r}: tenant {tenant!r} given twice")
        pairs[tenant] = rest
    return pairs


def check_registries(registries: Mapping[str, str]) -> None:
    """Fail early (before planning) on a local registry that is not a folder."""
    for uri in registries.values():
        if not uri.startswith("s3://") and not pathlib.Path(uri).is_dir():
            raise LineageError(f"--registry {uri}: not a folder (or s3:// URI)")


# --- where objects are read from ---------------------------------------------------------


@dataclass
class Source:
    """A folder or an S3 prefix: read objects by relative key."""

    uri: str
    client: Any = None

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def _split(self) -> tuple[str, str]:
        bucket, _, prefix = self.uri.removeprefix("s3://").partition("/")
        return bucket, prefix.strip("/")

    def describe(self, key: str = "") -> str:
        if self.is_s3:
            return self.uri.rstrip("/") + "/" + key if key else self.uri
        return str(pathlib.Path(self.uri) / key) if key else self.uri

    def child(self, uri: str) -> Source:
        """Another location; a relative folder is taken from this folder."""
        if uri.startswith("s3://"):
            return Source(uri, self.client)
        if self.is_s3:
            raise LineageError(f"{self.uri}: version uri {uri!r}: expected an s3:// URI")
        return Source(os.path.normpath(pathlib.Path(self.uri) / uri), self.client)

    def _s3(self) -> Any:
        if self.client is None:
            import boto3

            self.client = boto3.client("s3")
        return self.client

    def list_json(self) -> list[str]:
        """Keys of the ``*.json`` objects directly under this location."""
        if not self.is_s3:
            folder = pathlib.Path(self.uri)
            if not folder.is_dir():
                raise LineageError(f"--registry {self.uri}: not a folder (or s3:// URI)")
            return sorted(p.name for p in folder.glob("*.json") if p.is_file())
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = self._split()
        keys: list[str] = []
        try:
            pages = self._s3().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
                for item in page.get("Contents") or []:
                    name = str(item["Key"])[len(prefix) + 1 if prefix else 0 :]
                    if name.endswith(".json") and "/" not in name:
                        keys.append(name)
        except (BotoCoreError, ClientError) as exc:
            raise LineageError(f"--registry {self.uri}: cannot list ({_one_line(exc)})") from None
        return sorted(keys)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, None when it does not exist; LineageError when unreadable."""
        if not self.is_s3:
            path = pathlib.Path(self.uri) / key
            try:
                return path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                raise LineageError(f"{path}: cannot read ({exc.strerror or exc})") from None
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = self._split()
        full = f"{prefix}/{key}" if prefix else key
        try:
            return bytes(self._s3().get_object(Bucket=bucket, Key=full)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise LineageError(f"{self.describe(key)}: cannot read ({_one_line(exc)})") from None
        except BotoCoreError as exc:
            raise LineageError(f"{self.describe(key)}: cannot read ({_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _json(source: Source, key: str, what: str) -> Any:
    raw = source.get(key)
    if raw is None:
        raise LineageError(f"{source.describe(key)}: {what} not found")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LineageError(f"{source.describe(key)}: {what} is not JSON ({exc})") from None


# --- the tenant's public key -------------------------------------------------------------


def plan_verify_keys(plan: Mapping[str, Any], tenants: Sequence[str]) -> dict[str, str]:
    """Tenant -> the public key PEM its model servers are given in the plan."""
    namespaces = {tenant_namespace(t): t for t in tenants}
    keys: dict[str, str] = {}
    for resource in plan.get("resources") or []:
        if not isinstance(resource, Mapping):
            continue
        inputs = resource.get("inputs") or {}
        metadata = inputs.get("metadata") if isinstance(inputs, Mapping) else None
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        tenant = namespaces.get(str(namespace))
        if tenant is None or tenant in keys:
            continue
        found = dict(leaves(inputs))
        for path, value in found.items():
            if value == VERIFY_KEY_PEM_ENV and path.endswith(".name"):
                pem = found.get(path.removesuffix(".name") + ".value")
                if isinstance(pem, str) and "BEGIN PUBLIC KEY" in pem:
                    keys[tenant] = pem
                    break
    return keys


# --- the section -------------------------------------------------------------------------


def _version_entry(
    tenant: str,
    registry: Source,
    model: str,
    version: str,
    stage: str,
    record: Any,
    key_pem: str | None,
    key_source: str,
) -> dict[str, Any]:
    where = f"{registry.describe(model + '.json')}: versions.{version}"
    if not isinstance(record, Mapping) or not isinstance(record.get("uri"), str):
        raise LineageError(f"{where}.uri: required (where the version's signed folder is)")
    folder = registry.child(str(record["uri"]))
    raw_card = folder.get(CARD_FILE)
    if raw_card is None:
        raise LineageError(f"{folder.describe(CARD_FILE)}: model card not found ({where}.uri)")
    try:
        card = json.loads(raw_card)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LineageError(f"{folder.describe(CARD_FILE)}: not JSON ({exc})") from None
    if not isinstance(card, Mapping):
        raise LineageError(f"{folder.describe(CARD_FILE)}: expected a JSON object")
    problems: list[str] = []
    signature: dict[str, Any] = {"status": "unverified", "detail": "", "keySource": key_source}
    if key_pem is None:
        signature["detail"] = (
            f"no public key for tenant {tenant} (not in the plan; give --verify-key)"
        )
        problems.append(signature["detail"])
    else:
        signed_raw = folder.get(SIGNATURE_FILE)
        try:
            if signed_raw is None:
                raise SignatureError(f"{SIGNATURE_FILE} missing: an unsigned model")
            try:
                signed = json.loads(signed_raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise SignatureError(f"{SIGNATURE_FILE} is not JSON") from None
            identity = verify_signature(signed, key_pem, folder.get)
            if (identity["name"], identity["version"]) != (model, version):
                raise SignatureError(
                    f"signed as {identity['name']} {identity['version']}, registered as "
                    f"{model} {version}"
                )
            if CARD_FILE not in identity["artifacts"]:
                raise SignatureError(f"{CARD_FILE} is not among the signed artifacts")
            signature.update(status="verified", keyId=identity["key_id"])
            signature["detail"] = f"Ed25519, key id {identity['key_id']}; {CARD_FILE} signed"
        except SignatureError as exc:
            signature.update(status="failed", detail=str(exc))
            problems.append(f"signature: {exc}")
    lineage = card.get(LINEAGE)
    entry_lineage: dict[str, Any] | None = None
    if not isinstance(lineage, Mapping):
        problems.append(f"{CARD_FILE} has no {LINEAGE} block")
    else:
        entry_lineage = {
            "featureService": str(lineage.get("feature_service") or ""),
            "featureViews": [
                {"name": str(v.get("name")), "version": str(v.get("version"))}
                for v in lineage.get("feature_views") or []
                if isinstance(v, Mapping)
            ],
            "files": [
                {
                    "uri": str(f.get("uri")),
                    "sha256": str(f.get("sha256")),
                    "rows": f.get("rows") if isinstance(f.get("rows"), int) else None,
                    "view": str(f.get("view") or ""),
                }
                for f in lineage.get("files") or []
                if isinstance(f, Mapping)
            ],
            "pointInTimeCutoff": str(lineage.get("point_in_time_cutoff") or ""),
        }
        if not entry_lineage["files"]:
            problems.append(f"{CARD_FILE} lineage names no training files")
    return {
        "tenant": tenant,
        "model": model,
        "version": version,
        "stage": stage,
        "card": folder.describe(CARD_FILE),
        "cardSha256": hashlib.sha256(raw_card).hexdigest(),
        "signature": signature,
        "lineage": entry_lineage,
        "status": "fail" if problems else "pass",
        "problems": problems,
    }


def lineage_section(
    registries: Mapping[str, str],
    plan_keys: Mapping[str, str],
    key_files: Mapping[str, str],
    tenants: Sequence[str],
    client: Any = None,
) -> dict[str, Any]:
    """The report's ``lineage`` section (``provided: false`` when no registry is given).

    ``client``: the boto3 S3 client for ``s3://`` registries (default: boto3's, with the
    caller's credentials and ``AWS_ENDPOINT_URL_S3``).
    """
    if not registries:
        return {"provided": False, "note": NOT_PROVIDED}
    for option, given in (("--registry", registries), ("--verify-key", key_files)):
        for tenant in given:
            if tenant not in tenants:
                raise LineageError(
                    f"{option} {tenant}=...: no tenant {tenant!r} in this stack; allowed: "
                    + ", ".join(tenants)
                )
    keys: dict[str, tuple[str, str]] = {t: (pem, "plan") for t, pem in plan_keys.items()}
    for tenant, file in key_files.items():
        try:
            keys[tenant] = (pathlib.Path(file).read_text(encoding="utf-8"), file)
        except (OSError, UnicodeDecodeError) as exc:
            raise LineageError(f"--verify-key {file}: cannot read ({exc})") from None
    versions = []
    for tenant, uri in sorted(registries.items()):
        registry = Source(uri, client)
        pem, key_source = keys.get(tenant, (None, "none"))
        for name in registry.list_json():
            index = _json(registry, name, "registry index")
            model = name.removesuffix(".json")
            where = registry.describe(name)
            if not isinstance(index, Mapping) or index.get("model") != model:
                raise LineageError(f"{where}: model: expected {model!r} (a registry index)")
            records = index.get("versions")
            if not isinstance(records, Mapping):
                raise LineageError(f"{where}: versions: expected a mapping")
            for stage in STAGES:
                version = index.get(stage)
                if version is None:
                    continue
                if not isinstance(version, str) or version not in records:
                    raise LineageError(f"{where}: {stage}: {version!r} is not in versions")
                versions.append(
                    _version_entry(
                        tenant, registry, model, version, stage, records[version], pem, key_source
                    )
                )
    failed = sum(1 for v in versions if v["status"] == "fail")
    return {
        "provided": True,
        "registries": [{"tenant": t, "uri": u} for t, u in sorted(registries.items())],
        "versions": versions,
        "status": "fail" if failed else "pass",
        "failed": failed,
    }
