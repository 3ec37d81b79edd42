"""The in-country site runs the whole loop: online store, feature repo, broker, receiver,
drift monitors and retraining controller per tenant, on the in-country object store."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.k8s import invariants
from components.k8s.catalog import CHARTS, IMAGES, Registry, charts_for, images_for
from components.k8s.catalog import PlatformFeatures as Features
from components.k8s.drift_monitor import drift_monitor_cronjob
from components.k8s.nats import queue_client
from components.k8s.objectstore import (
    ObjectStoreClient,
    add_object_store_client,
    object_store_client,
)
from components.k8s.retraining import CPU_RUN, training_run_template
from components.k8s.serving import ModelServingArgs, serving_manifests
from components.k8s.valkey import AUTH_KEY, valkey_values
from contracts.names import Tier
from contracts.objectstore import CREDENTIALS_SECRET, SSE_ENV, SSE_STORE
from mlplatform.engine.output import manifests
from tests.components.test_chart_values import chart_defaults, values_findings

REG = Registry("registry.onprem.example.ae")
VALUES_FILE = "valkey-0.11.0.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _values() -> dict[str, Any]:
    return valkey_values(
        REG, auth_secret="acme-feast-redis", tls_secret="acme-valkey-tls", storage_class="ceph"
    )


# --- the chart's values -----------------------------------------------------------------


def test_every_values_key_exists_in_the_pinned_chart() -> None:
    defaults, header = chart_defaults(VALUES_FILE)
    assert CHARTS["valkey"].version in VALUES_FILE
    assert values_findings(_values(), defaults) == []
    # The chart's image tag defaults to its appVersion: the pin must be that version.
    assert defaults["image"]["repository"] == "valkey/valkey" and defaults["image"]["tag"] == ""
    assert IMAGES["valkey"].upstream == "docker.io/valkey/valkey"
    assert IMAGES["valkey"].tag == header["Chart.yaml appVersion"] == "9.1.1"


def test_store_is_tls_only_authenticated_persistent_and_restricted() -> None:
    values = _values()
    assert values["tls"]["enabled"] and values["tls"]["existingSecret"] == "acme-valkey-tls"
    auth = values["auth"]
    assert auth["enabled"] and auth["usersExistingSecret"] == "acme-feast-redis"
    # The default user has the generated password; no inline password anywhere.
    assert auth["aclUsers"] == {"default": {"permissions": "~* &* +@all", "passwordKey": AUTH_KEY}}
    assert "password" not in str(values).lower().replace("passwordkey", "")
    storage = values["dataStorage"]
    assert storage["enabled"] and storage["className"] == "ceph" and storage["keepPvc"]
    assert "appendonly yes" in values["valkeyConfig"]
    ctx = values["securityContext"]
    assert ctx["runAsNonRoot"] and ctx["readOnlyRootFilesystem"]
    assert ctx["capabilities"] == {"drop": ["ALL"]} and not ctx["allowPrivilegeEscalation"]
    assert values["serviceAccount"]["automount"] is False
    assert values["image"]["registry"] == REG.host
    # The same checks every pinned release gets (mirrored images, hardened contexts).
    assert invariants.helm_value_images(values)
    assert invariants.helm_values_findings(values, REG.host) == []
    with pytest.raises(ValueError, match="storage_gib"):
        valkey_values(REG, auth_secret="a", tls_secret="b", storage_class="c", storage_gib=0)


def test_the_mirror_list_carries_the_chart_and_image_with_the_broker() -> None:
    features = Features(gpu=False, serving_image_tag="0.1.0", broker=True)
    assert "valkey" in charts_for(features) and "valkey" in images_for(features)
    lean = Features(gpu=False, serving_image_tag="0.1.0")
    assert "valkey" not in charts_for(lean) and "valkey" not in images_for(lean)


# --- the site's object-store access -------------------------------------------------------


def test_store_credentials_are_a_mounted_file_never_environment_values() -> None:
    job = drift_monitor_cronjob(
        "acme", "tenant-acme", Tier.SMB, REG, "0.1.0", model="churn", version="1",
        bucket="mlplatform-acme", kms_key_arn=None, queue_url="nats:tls://h:4222/S/s",
    )  # fmt: skip
    add_object_store_client(job, object_store_client("https://s3.dc1.example.ae"))
    spec = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "https://s3.dc1.example.ae"
    assert env[SSE_ENV]["value"] == SSE_STORE
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert not [e for e in env.values() if "valueFrom" in e]
    secret = next(v for v in spec["volumes"] if "secret" in v)["secret"]
    assert secret["secretName"] == CREDENTIALS_SECRET and secret["defaultMode"] == 0o400
    mount = next(
        m for m in spec["containers"][0]["volumeMounts"] if m["name"] == secret_volume(spec)
    )
    assert env["AWS_SHARED_CREDENTIALS_FILE"]["value"].startswith(mount["mountPath"] + "/")
    assert mount["readOnly"]
    args = spec["containers"][0]["args"]
    assert "--queue=nats:tls://h:4222/S/s" in args
    assert not [a for a in args if a.startswith("--kms_key")]
    with pytest.raises(ValueError, match="https"):
        object_store_client("http://s3.dc1.example.ae")


def secret_volume(spec: dict[str, Any]) -> str:
    return str(next(v for v in spec["volumes"] if "secret" in v)["name"])


# --- the onprem plan ----------------------------------------------------------------------


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    obj = next(m for m in objects if m["kind"] == kind and m["metadata"]["name"] == name)
    spec = obj["spec"]
    template = spec.get("template") or spec["jobTemplate"]["spec"]["template"]
    return dict(template["spec"]["containers"][0])


def test_onprem_plan_runs_the_whole_loop_for_every_tenant(
    stack_plan: Callable[[str], dict[str, Any]],
) -> None:
    plan = stack_plan("onprem")
    assert not [
        r["type"] for r in plan["resources"] if r["type"].startswith(("aws:", "aws-native:"))
    ]
    tenants = (
        {t["name"]: t for t in plan["config"]["mlplatform:settings"]["tenants"]}
        if isinstance(plan["config"].get("mlplatform:settings"), dict)
        else None
    )
    objects = [m for _, m in manifests(plan)]
    namespaces = sorted(
        m["metadata"]["namespace"]
        for m in objects
        if m["kind"] == "ResourceQuota" and m["metadata"]["name"] == "tenant-quota"
    )
    assert len(namespaces) >= 2, tenants
    releases = [r for r in plan["resources"] if r["type"] == RELEASE]
    for ns in namespaces:
        tenant = ns.removeprefix("tenant-")
        in_ns = [m for m in objects if m["metadata"].get("namespace") == ns]
        kinds = {(m["kind"], m["metadata"]["name"]) for m in in_ns}
        # Feature store: the online store (pinned Valkey, TLS, AUTH from the Secret), the
        # feature repo config, the feature server and materialisation.
        valkey = [r for r in releases if r["inputs"]["namespace"] == ns
                  and r["inputs"]["chart"].endswith("/valkey")]  # fmt: skip
        assert len(valkey) == 1 and valkey[0]["inputs"]["version"] == CHARTS["valkey"].version
        values = valkey[0]["inputs"]["values"]
        assert values["tls"]["enabled"] and values["auth"]["enabled"]
        assert values["auth"]["usersExistingSecret"] == f"{tenant}-feast-redis"
        assert ("Secret", f"{tenant}-feast-redis") in kinds
        assert ("Deployment", f"{tenant}-feature-server") in kinds
        assert ("CronJob", f"{tenant}-feast-materialize") in kinds
        repo = next(m for m in in_ns if m["kind"] == "ConfigMap"
                    and m["metadata"]["name"] == f"{tenant}-feature-repo")  # fmt: skip
        config = yaml.safe_load(repo["data"]["feature_store.yaml"])
        connection = config["online_store"]["connection_string"]
        assert connection.startswith(f"{tenant}-valkey.{ns}.svc.cluster.local:6379,ssl=true,")
        assert "password=${FEAST_REDIS_PASSWORD}" in connection and "ssl_ca_certs=" in connection
        assert "s3_additional_kwargs" not in config["registry"]  # the store encrypts at rest
        server = _container(objects, "Deployment", f"{tenant}-feature-server")
        server_env = {e["name"] for e in server["env"]}
        assert {"FEAST_S3_ENDPOINT_URL", "AWS_SHARED_CREDENTIALS_FILE", "FEAST_REDIS_PASSWORD"} <= (
            server_env
        )
        # Broker access and the alert receiver on it.
        assert ("Secret", f"{tenant}-nats-credentials") in kinds
        assert ("NetworkPolicy", "allow-egress-nats") in kinds
        assert ("Deployment", f"{tenant}-alert-receiver") in kinds
        receiver = _container(objects, "Deployment", f"{tenant}-alert-receiver")
        assert f"--registry=s3://mlplatform-{tenant}/registry/" in receiver["args"]
        assert {e["name"]: e.get("value") for e in receiver["env"]}[SSE_ENV] == SSE_STORE
        # The retraining controller and a drift monitor per served model, on the
        # tenant's stream and the in-country store (no KMS key, no AWS credentials).
        drift = [
            m for m in in_ns if m["kind"] == "CronJob" and m["metadata"]["name"].endswith("-drift")
        ]
        served = {m["metadata"]["name"].removesuffix("-champion") for m in in_ns
                  if m["kind"] == "InferenceService"
                  and not m["metadata"]["name"].endswith("-challenger")}  # fmt: skip
        assert served and {m["metadata"]["name"].removesuffix("-drift") for m in drift} == served
        controller = _container(objects, "Deployment", f"{tenant}-retraining-controller")
        for container in [controller, *(_container(in_ns, "CronJob", m["metadata"]["name"])
                                         for m in drift)]:  # fmt: skip
            args = container["args"]
            assert [a for a in args if a.startswith("--queue=nats:tls://")], args
            assert not [a for a in args if a.startswith("--kms_key")]
            env = {e["name"]: e for e in container["env"]}
            assert env[SSE_ENV]["value"] == SSE_STORE
            broker = {e["name"] for e in queue_client(tenant)["env"]}
            assert broker and broker | {"AWS_ENDPOINT_URL_S3"} <= set(env)
            assert "AWS_ACCESS_KEY_ID" not in env
        # The monitors read the prediction log where the servers ship it.
        for monitor in drift:
            args = _container(in_ns, "CronJob", monitor["metadata"]["name"])["args"]
            assert f"--log_uri=s3://mlplatform-{tenant}/predictions/" in args
        _assert_servers_log_to_the_store(tenant, in_ns)
        _assert_runs_reach_the_store(tenant, in_ns)


def _assert_store_client(env: dict[str, Any], volumes: list[Any], mounts: list[Any]) -> None:
    """The in-country store's client: endpoint, credentials file, CA, store mode."""
    client = object_store_client(env["AWS_ENDPOINT_URL_S3"]["value"])
    want_env = {e["name"]: e["value"] for e in client["env"]}
    assert {name: env[name].get("value") for name in want_env if name in env} == want_env
    assert not [e for e in env.values() if "valueFrom" in e or e["name"].startswith("AWS_SECRET")]
    for volume in client["volumes"]:
        assert volume in volumes
    for mount in client["volume_mounts"]:
        assert mount in mounts


def _assert_servers_log_to_the_store(tenant: str, in_ns: list[dict[str, Any]]) -> None:
    """Every model server ships its prediction log, and keeps its anti-rollback record,
    in the tenant bucket on the in-country store: no KMS key, the store's client."""
    runtimes = {m["metadata"]["name"]: m for m in in_ns if m["kind"] == "ServingRuntime"}
    isvcs = [m for m in in_ns if m["kind"] == "InferenceService"]
    assert runtimes and isvcs
    assert {m["spec"]["predictor"]["model"]["runtime"] for m in isvcs} <= set(runtimes)
    for runtime in runtimes.values():
        server = runtime["spec"]["containers"][0]
        args = server["args"]
        assert f"--prediction_log_uri=s3://mlplatform-{tenant}/predictions/" in args
        assert f"--served_state=s3://mlplatform-{tenant}/serving-state/" in args
        spool = next(a for a in args if a.startswith("--prediction_log_dir="))
        mounts = server["volumeMounts"]
        assert spool.split("=", 1)[1] in {m["mountPath"] for m in mounts}
        assert not [a for a in args if "kms_key" in a], args
        env = {e["name"]: e for e in server["env"]}
        assert env[SSE_ENV]["value"] == SSE_STORE
        _assert_store_client(env, runtime["spec"]["volumes"], mounts)


def _assert_runs_reach_the_store(tenant: str, in_ns: list[dict[str, Any]]) -> None:
    """The TrainJob template the controller instantiates uploads and registers through
    the store's client (no ``--kms_key``): env, credentials-file volume and CA."""
    template_map = next(m for m in in_ns if m["kind"] == "ConfigMap"
                        and m["metadata"]["name"] == f"{tenant}-training-run-template")  # fmt: skip
    template = json.loads(template_map["data"]["run.json"])
    assert template["kind"] == "TrainJob"
    assert not [a for a in template["spec"]["trainer"]["args"] if a.startswith("--kms_key")]
    assert f"--models_uri=s3://mlplatform-{tenant}/models/" in template["spec"]["trainer"]["args"]
    (patch,) = template["spec"]["runtimePatches"]
    (job,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = job["template"]["spec"]["template"]["spec"]
    (node,) = pod["containers"]
    env = {e["name"]: e for e in node["env"]}
    assert env[SSE_ENV]["value"] == SSE_STORE
    _assert_store_client(env, pod["volumes"], node["volumeMounts"])


def test_keyless_writers_need_the_store_client() -> None:
    """Prediction logging and training runs without a KMS key exist only with the
    in-country store's client; the builders refuse the combination with neither."""
    serving: ModelServingArgs = {
        "registry_host": REG.host, "tenant": "acme", "namespace": "tenant-acme",
        "tier": Tier.SMB, "image_tag": "0.1.0",
        "models": [{"name": "churn", "storage_uri": "s3://mlplatform-acme/models/churn/1/"}],
        "verify_key_pem": "", "min_replicas": 1, "max_replicas": 2,
        "prediction_log_uri": "s3://mlplatform-acme/predictions/",
    }  # fmt: skip
    with pytest.raises(ValueError, match="prediction_log_uri needs kms_key_arn"):
        serving_manifests(serving)
    client = object_store_client("https://s3.dc1.example.ae")
    (runtime,) = [m for m in serving_manifests({**serving, "object_store": client})
                  if m["kind"] == "ServingRuntime"]  # fmt: skip
    assert (
        "--prediction_log_uri=s3://mlplatform-acme/predictions/"
        in (runtime["spec"]["containers"][0]["args"])
    )

    def run_template(store: ObjectStoreClient | None) -> dict[str, Any]:
        return training_run_template(
            "acme", "tenant-acme", REG, "0.1.0", placement=CPU_RUN, bucket="mlplatform-acme",
            kms_key_arn=None, feature_repo_config_map="acme-feature-repo", object_store=store,
        )  # fmt: skip

    with pytest.raises(ValueError, match="kms_key_arn is required"):
        run_template(None)
    assert "--kms_key" not in json.dumps(run_template(client)["spec"]["trainer"])


def test_aws_plans_keep_kms_and_sqs_in_the_loop(
    stack_plan: Callable[[str], dict[str, Any]],
) -> None:
    objects = [m for _, m in manifests(stack_plan("dev"))]
    loop = [m for m in objects if m["kind"] in {"CronJob", "Deployment"}
            and m["metadata"]["name"].endswith(("-drift", "-retraining-controller"))]  # fmt: skip
    assert loop
    for obj in loop:
        spec = obj["spec"].get("template") or obj["spec"]["jobTemplate"]["spec"]["template"]
        container = spec["spec"]["containers"][0]
        assert [a for a in container["args"] if a.startswith("--queue=sqs:https://")]
        assert [a for a in container["args"] if a.startswith("--kms_key=arn:aws:kms:")]
        assert SSE_ENV not in {e["name"] for e in container.get("env", [])}
    repos = [m for m in objects if m["kind"] == "ConfigMap"
             and m["metadata"]["name"].endswith("-feature-repo")]  # fmt: skip
    assert repos
    for repo in repos:
        registry = yaml.safe_load(repo["data"]["feature_store.yaml"])["registry"]
        assert registry["s3_additional_kwargs"]["ServerSideEncryption"] == "aws:kms"
