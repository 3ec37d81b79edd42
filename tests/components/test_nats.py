"""The in-country site's broker: chart values, security, and what the onprem plan holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.k8s.catalog import CHARTS, IMAGES, Registry
from components.k8s.nats import add_queue_client, credentials_secret, nats_values, queue_client
from components.settings import PROJECT, settings_from_config
from contracts.messaging import (
    DEAD_LETTERS,
    NATS_CLIENT_PORT,
    NATS_CREDENTIALS_MOUNT,
    NATS_NAMESPACE,
    nats_dead_letter_spec,
    nats_spec_has_consumer,
    nats_spec_max_age_days,
    nats_spec_replicas,
    parse_nats_stream_spec,
    server_accounts,
    stream_name,
    subject,
    tenant_permissions,
)
from mlplatform.engine.output import manifests
from tests.components.test_chart_values import (
    _docker,
    chart_defaults,
    documented_keys,
    values_findings,
)

REG = Registry("registry.onprem.example.ae")
VALUES_FILE = "nats-2.14.2.yaml"
TENANTS = ["gulf-bank", "souk-analytics"]


def _values() -> dict[str, Any]:
    return nats_values(REG, TENANTS, storage_class="standard", storage_gib=20,
                       tenant_storage_bytes=1 << 30)  # fmt: skip


def test_every_values_key_exists_in_the_pinned_chart() -> None:
    defaults, header = chart_defaults(VALUES_FILE)
    assert CHARTS["nats"].version in VALUES_FILE
    assert header["Chart.yaml appVersion"] == "2.14.2"
    assert values_findings(_values(), defaults, conditions=documented_keys(VALUES_FILE)) == []


@pytest.mark.parametrize(
    ("key", "path"),
    [("nats", ("container", "image")), ("nats-config-reloader", ("reloader", "image"))],
)
def test_image_pins_are_the_charts_own(key: str, path: tuple[str, str]) -> None:
    defaults, _ = chart_defaults(VALUES_FILE)
    image = defaults[path[0]][path[1]]
    assert (IMAGES[key].upstream, IMAGES[key].tag) == (_docker(image["repository"]), image["tag"])


def test_broker_is_tls_only_private_and_restricted() -> None:
    values = _values()
    config = values["config"]
    assert config["nats"]["tls"] == {"enabled": True, "secretName": "nats-server-tls"}
    for listener in ("leafnodes", "websocket", "mqtt", "gateway", "profiling"):
        assert config[listener]["enabled"] is False
    assert config["jetstream"]["fileStore"]["pvc"]["storageClassName"] == "standard"
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    assert values["natsBox"]["enabled"] is False
    assert values["promExporter"]["enabled"] is False
    for part in (values["container"]["merge"], values["reloader"]["merge"]):
        ctx = part["securityContext"]
        assert ctx["runAsNonRoot"] and ctx["readOnlyRootFilesystem"]
        assert ctx["capabilities"] == {"drop": ["ALL"]} and not ctx["allowPrivilegeEscalation"]
    pod = values["podTemplate"]["merge"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # Passwords reach the server only as environment variables from a Secret.
    text = json.dumps(values)
    users = [a["users"][0] for a in config["merge"]["accounts"].values()]
    assert [u["password"] for u in users] == [
        "<< $NATS_PW_GULF_BANK >>",
        "<< $NATS_PW_SOUK_ANALYTICS >>",
    ]
    assert "secretKeyRef" in text
    with pytest.raises(ValueError, match="at least 3"):
        nats_values(REG, TENANTS, storage_class="s", storage_gib=1, replicas=1,
                    tenant_storage_bytes=1)  # fmt: skip


def test_a_tenant_may_use_only_its_own_subjects_and_streams() -> None:
    perms = tenant_permissions("acme")
    allowed = perms["publish"]["allow"] + perms["subscribe"]["allow"]
    assert all("beta" not in subject.lower() for subject in allowed)
    assert all(
        s.startswith(("acme.", "_INBOX_acme.", "$JS.API.INFO")) or "ACME_" in s for s in allowed
    )
    assert not any("DELETE" in s or "PURGE" in s for s in allowed)
    accounts = server_accounts({"acme": "x", "beta": "y"}, max_file_bytes=10)
    assert sorted(accounts) == ["TENANT_ACME", "TENANT_BETA"]
    assert accounts["TENANT_ACME"]["jetstream"] == {"max_file": 10, "max_mem": 0}


def test_dead_letters_are_a_stream_the_tenant_appends_to_and_reads_but_cannot_consume() -> None:
    perms = tenant_permissions("acme")["publish"]["allow"]
    dead = stream_name("acme", DEAD_LETTERS)
    assert dead == "ACME_INGESTION_DLQ" and subject("acme", DEAD_LETTERS) == "acme.ingestion-dlq"
    assert sorted(p for p in perms if dead in p) == [
        f"$JS.API.STREAM.CREATE.{dead}",
        f"$JS.API.STREAM.INFO.{dead}",
        f"$JS.API.STREAM.MSG.GET.{dead}",
    ]
    spec = nats_dead_letter_spec("tls://nats.example:4222", "acme", max_age_days=14, replicas=3)
    assert spec == (
        "nats:tls://nats.example:4222/ACME_INGESTION_DLQ/acme.ingestion-dlq?max_age_days=14"
        "&replicas=3"
    )
    target = spec.removeprefix("nats:")
    assert parse_nats_stream_spec(target) == (
        "tls://nats.example:4222",
        "ACME_INGESTION_DLQ",
        "acme.ingestion-dlq",
    )
    assert nats_spec_max_age_days(target) == 14 and nats_spec_replicas(target) == 3
    assert not nats_spec_has_consumer(target)
    with pytest.raises(ValueError, match="max_age_days must be 1-3650"):
        nats_dead_letter_spec("nats://h:4222", "acme", max_age_days=0)
    with pytest.raises(ValueError, match="max_age_days must be 1-3650, got 'x'"):
        nats_spec_max_age_days("nats://h:4222/S/s?max_age_days=x")
    with pytest.raises(ValueError, match="expected 'nats:nats://host:port/STREAM/subject"):
        parse_nats_stream_spec("nats://h:4222/only-stream")


def test_queue_client_mounts_the_ca_and_the_credentials_secret_as_files() -> None:
    deployment: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    add_queue_client(deployment, queue_client("acme"))
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    # Secrets as read-only files the environment names, never as environment values.
    assert not any("valueFrom" in e for e in container["env"])
    assert "NATS_USER" not in env and "NATS_PASSWORD" not in env
    assert env["NATS_USER_FILE"]["value"] == f"{NATS_CREDENTIALS_MOUNT}/user"
    assert env["NATS_PASSWORD_FILE"]["value"] == f"{NATS_CREDENTIALS_MOUNT}/password"
    assert env["NATS_INBOX_PREFIX"]["value"] == "_INBOX_acme"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["nats-ca"]["configMap"]["name"] == "nats-ca"
    assert volumes["nats-credentials"]["secret"] == {
        "secretName": "acme-nats-credentials",
        "items": [{"key": "user", "path": "user"}, {"key": "password", "path": "password"}],
        "defaultMode": 0o400,
    }
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["nats-credentials"] == {
        "name": "nats-credentials",
        "mountPath": NATS_CREDENTIALS_MOUNT,
        "readOnly": True,
    }
    # The Secret the component writes has exactly the keys the volume projects.
    assert sorted(credentials_secret("acme", "tenant-acme")["stringData"]) == [
        "password",
        "user",
    ]


def test_onprem_plan_has_the_broker_and_a_receiver_on_it_for_every_tenant(
    stack_plan: Callable[[str], dict[str, Any]],
) -> None:
    plan = stack_plan("onprem")
    assert not [
        r["type"] for r in plan["resources"] if r["type"].startswith(("aws:", "aws-native:"))
    ]
    releases = [r for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"]
    nats = [r for r in releases if r["inputs"].get("namespace") == NATS_NAMESPACE]
    assert len(nats) == 1 and nats[0]["inputs"]["version"] == CHARTS["nats"].version
    objects = [m for _, m in manifests(plan)]
    tenants = {
        m["metadata"]["namespace"]
        for m in objects
        if m["kind"] == "ResourceQuota" and m["metadata"]["name"] == "tenant-quota"
    }
    assert tenants
    stack_file = "stacks/Pulumi.onprem.yaml"
    with open(stack_file, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)["config"]
    settings = settings_from_config(config, project=PROJECT, stack="onprem", stack_file=stack_file)
    queue_days = {t.name: t.retention.queue_messages_days for t in settings.tenants}
    for ns in sorted(tenants):
        kinds = {(m["kind"], m["metadata"]["name"]) for m in objects
                 if m["metadata"].get("namespace") == ns}  # fmt: skip
        tenant = ns.removeprefix("tenant-")
        assert ("Secret", f"{tenant}-nats-credentials") in kinds
        assert ("NetworkPolicy", "allow-egress-nats") in kinds
        receiver = next(m for m in objects if m["kind"] == "Deployment"
                        and m["metadata"]["name"] == f"{tenant}-alert-receiver")  # fmt: skip
        container = receiver["spec"]["template"]["spec"]["containers"][0]
        queue = [a for a in container["args"] if a.startswith("--queue=")]
        # The stream keeps a trigger as long as the tenant's queue retention (SQS: the
        # queue's message retention), then the broker deletes it.
        assert queue == [
            f"--queue=nats:tls://nats.{NATS_NAMESPACE}.svc.cluster.local:{NATS_CLIENT_PORT}/"
            f"{tenant.upper().replace('-', '_')}_RETRAINING/{tenant}.retraining"
            f"?consumer={tenant}-retraining-workers&replicas=3"
            f"&max_age_days={queue_days[tenant]}"
        ]
        assert {"NATS_USER_FILE", "NATS_PASSWORD_FILE", "NATS_CA_FILE"} <= {
            e["name"] for e in container["env"]
        }
        assert not any("valueFrom" in e for e in container["env"])
