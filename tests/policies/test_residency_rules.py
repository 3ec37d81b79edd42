"""uae-residency rules: a compliant case, each violation, missing and unknown values."""

from __future__ import annotations

import pytest
from policy_helpers import ECR, UNKNOWN, aws_provider, stack_resource, validate, validate_stack
from pulumi_policy import PolicyProviderResource
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import residency as r
from policies.rules.residency import regions as residency_regions

BUCKET = "aws:s3/bucket:Bucket"


# --- region of every AWS resource ------------------------------------------------------


def test_region_from_default_provider_passes(stack_region) -> None:
    assert validate(r.aws_resource_region_allowed, BUCKET, {}) == []


def test_region_from_stack_config_for_default_provider_without_region(stack_region) -> None:
    provider = aws_provider(region=None)
    assert validate(r.aws_resource_region_allowed, BUCKET, {}, provider=provider) == []
    stack_region("eu-west-1")
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {}, provider=provider)
    assert "'eu-west-1'" in message
    assert "stack's 'aws:region'" in message


def test_per_resource_region_input_wins_over_provider(stack_region) -> None:
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {"region": "eu-west-1"})
    assert "'eu-west-1', outside the allowed regions ['me-central-1']" in message
    assert (
        validate(
            r.aws_resource_region_allowed,
            BUCKET,
            {"region": "me-central-1"},
            provider=aws_provider("eu-west-1", name="eu"),
        )
        == []
    )


def test_explicit_provider_in_other_region_is_caught(stack_region) -> None:
    provider = aws_provider("me-south-1", name="bahrain")
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {}, provider=provider)
    assert "provider 'bahrain'" in message and "'me-south-1'" in message


def test_explicit_provider_without_region_does_not_inherit_stack_region(stack_region) -> None:
    provider = aws_provider(region=None, name="explicit")
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {}, provider=provider)
    assert "could not be determined" in message


def test_unknown_region_is_a_violation_not_a_pass(stack_region) -> None:
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {"region": UNKNOWN})
    assert "could not be determined" in message
    (message,) = validate(
        r.aws_resource_region_allowed, BUCKET, {}, provider=aws_provider(UNKNOWN, "p")
    )
    assert "could not be determined" in message


def test_no_region_anywhere_is_a_violation(stack_region) -> None:
    stack_region(None)
    (message,) = validate(r.aws_resource_region_allowed, BUCKET, {}, provider=None)
    assert "could not be determined" in message


def test_global_services_exempt_only_through_config(stack_region) -> None:
    provider = aws_provider("us-east-1", name="global")
    assert validate(r.aws_resource_region_allowed, "aws:iam/role:Role", {}, provider=provider) == []
    assert (
        validate(r.aws_resource_region_allowed, "aws:route53/record:Record", {}, provider=provider)
        == []
    )
    # CloudFront is not exempt by default: it caches content outside the UAE.
    assert validate(
        r.aws_resource_region_allowed,
        "aws:cloudfront/distribution:Distribution",
        {},
        provider=provider,
    )
    # An operator can narrow the list; IAM then needs an allowed region like anything else.
    assert validate(
        r.aws_resource_region_allowed,
        "aws:iam/role:Role",
        {},
        provider=provider,
        config={"exemptServices": ["route53"]},
    )


def test_allowed_regions_are_configurable(stack_region) -> None:
    config = {"allowedRegions": ["me-central-1", "me-south-1"]}
    assert (
        validate(r.aws_resource_region_allowed, BUCKET, {"region": "me-south-1"}, config=config)
        == []
    )


def test_non_aws_resources_are_ignored(stack_region) -> None:
    assert validate(r.aws_resource_region_allowed, "kubernetes:core/v1:Namespace", {}) == []


def _native_provider(region: str | None, name: str) -> PolicyProviderResource:
    props = {} if region is None else {"region": region}
    return PolicyProviderResource(
        "pulumi:providers:aws-native",
        unknown_checking_proxy(props),
        f"urn:pulumi:test::proj::pulumi:providers:aws-native::{name}",
        name,
    )


def test_aws_native_resources_read_the_aws_native_region(monkeypatch) -> None:
    regions = {"aws": "me-central-1", "aws-native": "eu-west-1"}
    monkeypatch.setattr(residency_regions, "stack_region", lambda package="aws": regions[package])
    queue = "aws-native:sqs:Queue"
    default = _native_provider(None, "default_1_0_0")
    (message,) = validate(r.aws_resource_region_allowed, queue, {}, provider=default)
    assert "stack's 'aws-native:region'" in message and "'eu-west-1'" in message
    # An explicit provider in the UAE wins; one without a region proves nothing.
    uae = _native_provider("me-central-1", "uae")
    assert validate(r.aws_resource_region_allowed, queue, {}, provider=uae) == []
    (message,) = validate(
        r.aws_resource_region_allowed, queue, {}, provider=_native_provider(None, "bare")
    )
    assert "could not be determined" in message
    # Global control planes are exempt for aws-native as for pulumi-aws.
    assert (
        validate(r.aws_resource_region_allowed, "aws-native:iam:Role", {}, provider=default) == []
    )
    # The default aws-native provider itself is judged from the stack's aws-native:region.
    (message,) = validate(
        r.aws_provider_region_allowed,
        "pulumi:providers:aws-native",
        {},
        provider=None,
        name="default_1_0_0",
    )
    assert "'eu-west-1'" in message


@pytest.mark.parametrize(
    ("props", "name", "expected"),
    [
        ({"region": "me-central-1"}, "explicit", None),
        ({"region": "eu-west-1"}, "explicit", "'eu-west-1'"),
        ({}, "explicit", "could not be determined"),
        ({"region": UNKNOWN}, "explicit", "could not be determined"),
        ({}, "default_7_51_1", None),
    ],
)
def test_provider_region(stack_region, props, name, expected) -> None:
    found = validate(
        r.aws_provider_region_allowed, "pulumi:providers:aws", props, provider=None, name=name
    )
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


# --- copies out of the region ----------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        ([], []),
        ([{"regionName": "me-central-1"}], []),
        ([{"regionName": "eu-west-1"}], ["Replica 0 region is 'eu-west-1'"]),
        ([{"regionName": UNKNOWN}], ["could not be determined"]),
        ([{}], ["could not be determined"]),
        (UNKNOWN, ["could not be determined"]),
    ],
)
def test_dynamodb_replicas(replicas, expected) -> None:
    found = validate(
        r.aws_dynamodb_replica_region_allowed, "aws:dynamodb/table:Table", {"replicas": replicas}
    )
    assert len(found) == len(expected)
    for message, text in zip(found, expected, strict=True):
        assert text in message


def test_dynamodb_global_table_replicas() -> None:
    found = validate(
        r.aws_dynamodb_replica_region_allowed,
        "aws:dynamodb/globalTable:GlobalTable",
        {"replicas": [{"regionName": "me-central-1"}, {"regionName": "us-east-1"}]},
    )
    assert len(found) == 1 and "Replica 1" in found[0]


def _bucket(name: str, region: str | None = None) -> object:
    props = {"bucket": name} if region is None else {"bucket": name, "region": region}
    return stack_resource(BUCKET, name, props)


def _replication(destination: str, status: str = "Enabled", **extra) -> object:
    return stack_resource(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "repl",
        {
            "bucket": "src",
            "role": "arn:aws:iam::123456789012:role/r",
            "rules": [{"status": status, "destination": {"bucket": destination}}],
        },
        **extra,
    )


def test_s3_replication_same_region_passes(stack_region) -> None:
    resources = [_bucket("src"), _bucket("dst"), _replication("arn:aws:s3:::dst")]
    assert validate_stack(r.aws_s3_replication_destination_allowed, resources) == []


def test_s3_replication_to_other_region_is_caught(stack_region) -> None:
    resources = [_bucket("src"), _bucket("dst", "eu-west-1"), _replication("arn:aws:s3:::dst")]
    ((message, urn),) = validate_stack(r.aws_s3_replication_destination_allowed, resources)
    assert "'eu-west-1'" in message
    assert urn is not None and urn.endswith("::repl")


def test_s3_replication_to_bucket_outside_stack_cannot_be_proven(stack_region) -> None:
    resources = [_bucket("src"), _replication("arn:aws:s3:::somewhere-else")]
    ((message, _urn),) = validate_stack(r.aws_s3_replication_destination_allowed, resources)
    assert "could not be determined" in message


def test_s3_replication_resolved_through_property_dependencies(stack_region) -> None:
    destination = stack_resource(BUCKET, "dst", {"region": "eu-west-1"})  # autonamed
    resources = [
        destination,
        _replication(UNKNOWN, property_dependencies={"rules": [destination]}),
    ]
    ((message, _urn),) = validate_stack(r.aws_s3_replication_destination_allowed, resources)
    assert "'eu-west-1'" in message


def test_s3_replication_disabled_rule_and_unknown_rules(stack_region) -> None:
    resources = [_bucket("src"), _replication("arn:aws:s3:::elsewhere", status="Disabled")]
    assert validate_stack(r.aws_s3_replication_destination_allowed, resources) == []
    unknown = stack_resource(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig", "u", {"rules": UNKNOWN}
    )
    ((message, _),) = validate_stack(r.aws_s3_replication_destination_allowed, [unknown])
    assert "could not be determined" in message


@pytest.mark.parametrize(
    ("destinations", "count"),
    [
        ([{"region": "me-central-1", "registryId": "123456789012"}], 0),
        ([{"region": "eu-central-1", "registryId": "123456789012"}], 1),
        ([{"registryId": "123456789012"}], 1),
        ([{"region": UNKNOWN}], 1),
    ],
)
def test_ecr_replication(destinations, count) -> None:
    props = {"replicationConfiguration": {"rules": [{"destinations": destinations}]}}
    found = validate(
        r.aws_ecr_replication_destination_allowed,
        "aws:ecr/replicationConfiguration:ReplicationConfiguration",
        props,
    )
    assert len(found) == count


def test_kms_multi_region_keys() -> None:
    key = "aws:kms/key:Key"
    assert validate(r.aws_kms_multi_region_key_prohibited, key, {"multiRegion": False}) == []
    assert validate(r.aws_kms_multi_region_key_prohibited, key, {}) == []
    assert (
        "multi-region"
        in validate(r.aws_kms_multi_region_key_prohibited, key, {"multiRegion": True})[0]
    )
    assert (
        "could not be determined"
        in validate(r.aws_kms_multi_region_key_prohibited, key, {"multiRegion": UNKNOWN})[0]
    )
    replica = validate(
        r.aws_kms_multi_region_key_prohibited,
        "aws:kms/replicaKey:ReplicaKey",
        {"primaryKeyArn": "arn:aws:kms:me-central-1:123456789012:key/mrk-1"},
    )
    assert len(replica) == 1 and "Replica keys" in replica[0]
    foreign = validate(
        r.aws_kms_multi_region_key_prohibited,
        "aws:kms/replicaKey:ReplicaKey",
        {"primaryKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1"},
    )
    assert "'eu-west-1'" in foreign[0]


@pytest.mark.parametrize(
    ("resource_type", "props", "expected"),
    [
        (
            "aws:backup/plan:Plan",
            {
                "rules": [
                    {
                        "copyActions": [
                            {
                                "destinationVaultArn": "arn:aws:backup:me-central-1:123456789012:backup-vault:v"
                            }
                        ]
                    }
                ]
            },
            None,
        ),
        (
            "aws:backup/plan:Plan",
            {
                "rules": [
                    {
                        "copyActions": [
                            {
                                "destinationVaultArn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:v"
                            }
                        ]
                    }
                ]
            },
            "'eu-west-1'",
        ),
        (
            "aws:backup/plan:Plan",
            {"rules": [{"copyActions": [{"destinationVaultArn": UNKNOWN}]}]},
            "could not be determined",
        ),
        ("aws:backup/plan:Plan", {"rules": [{"ruleName": "daily"}]}, None),
        (
            "aws:dlm/lifecyclePolicy:LifecyclePolicy",
            {"policyDetails": {"schedules": [{"crossRegionCopyRules": [{"target": "us-east-1"}]}]}},
            "'us-east-1'",
        ),
        (
            "aws:secretsmanager/secret:Secret",
            {"replicas": [{"region": "eu-west-1"}]},
            "'eu-west-1'",
        ),
        ("aws:secretsmanager/secret:Secret", {}, None),
        (
            "aws:efs/replicationConfiguration:ReplicationConfiguration",
            {"destination": {"region": "eu-west-1"}},
            "'eu-west-1'",
        ),
        (
            "aws:efs/replicationConfiguration:ReplicationConfiguration",
            {"destination": {"availabilityZoneName": "me-central-1a"}},
            None,
        ),
        (
            "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy",
            {"destinationRegion": "eu-west-1"},
            "'eu-west-1'",
        ),
    ],
)
def test_copy_destinations(resource_type, props, expected) -> None:
    found = validate(r.aws_copy_destination_allowed, resource_type, props)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


def test_global_datastores_are_refused() -> None:
    assert validate(r.aws_global_datastore_prohibited, "aws:rds/globalCluster:GlobalCluster", {})
    assert validate(r.aws_global_datastore_prohibited, "aws:rds/cluster:Cluster", {}) == []


# --- images and charts -----------------------------------------------------------------


def _deployment(*images: str, init: str | None = None) -> dict:
    spec: dict = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    }
    if init is not None:
        spec["initContainers"] = [{"name": "init", "image": init}]
    return {"metadata": {"namespace": "t"}, "spec": {"template": {"spec": spec}}}


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        (f"{ECR}/serving/onnx:1.2.3", True),
        (f"{ECR}/serving/onnx@sha256:{'a' * 64}", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1", False),
        ("nginx:1.27", False),
        ("docker.io/library/nginx:1.27", False),
        ("ghcr.io/org/app:1", False),
        ("public.ecr.aws/x/y:1", False),
        (UNKNOWN, False),
    ],
)
def test_images_in_deployment(image, ok) -> None:
    found = validate(
        r.container_image_registry_approved, "kubernetes:apps/v1:Deployment", _deployment(image)
    )
    assert (found == []) is ok


def test_images_checked_in_init_containers_and_every_workload_kind() -> None:
    found = validate(
        r.container_image_registry_approved,
        "kubernetes:apps/v1:Deployment",
        _deployment(f"{ECR}/a:1", init="busybox:1.36"),
    )
    assert len(found) == 1 and "initContainers[0]" in found[0]
    cron = {
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"image": "busybox:1"}]}}}
            }
        }
    }
    assert validate(r.container_image_registry_approved, "kubernetes:batch/v1:CronJob", cron)
    pod = {"spec": {"containers": [{"name": "x"}]}}
    (missing,) = validate(r.container_image_registry_approved, "kubernetes:core/v1:Pod", pod)
    assert "no image" in missing


def test_approved_registries_config_admits_the_onprem_registry() -> None:
    props = _deployment("registry.onprem.example.ae/ml/serving:1.0")
    assert validate(r.container_image_registry_approved, "kubernetes:apps/v1:Deployment", props)
    assert (
        validate(
            r.container_image_registry_approved,
            "kubernetes:apps/v1:Deployment",
            props,
            config={"approvedRegistries": ["registry.onprem.example.ae"]},
        )
        == []
    )


ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
"""The token pulumi-kubernetes gives a CustomResource: ``kubernetes:<group>/<version>:<Kind>``."""


@pytest.mark.parametrize(
    ("resource_type", "props", "where"),
    [
        (
            ISVC,
            {"spec": {"predictor": {"containers": [{"name": "m", "image": "quay.io/x/y:1"}]}}},
            "spec.predictor.containers[0].image",
        ),
        (  # a KServe component container (merged into the runtime's) with its own image
            ISVC,
            {"spec": {"predictor": {"model": {"image": "nginx:1", "modelFormat": {"name": "x"}}}}},
            "spec.predictor.model.image",
        ),
        (
            "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
            {"spec": {"containers": [{"name": "kserve-container", "image": "ghcr.io/a/b:1"}]}},
            "spec.containers[0].image",
        ),
        (  # an operator's own image field, no container list at all
            "kubernetes:monitoring.coreos.com/v1:Prometheus",
            {"spec": {"image": "quay.io/prometheus/prometheus:v3.10.0"}},
            "spec.image",
        ),
        (  # a patch of a built-in workload
            "kubernetes:apps/v1:DeploymentPatch",
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}}},
            "spec.template.spec.containers[0].image",
        ),
        (  # image split from its registry, GPU-operator style
            "kubernetes:nvidia.com/v1:ClusterPolicy",
            {
                "spec": {
                    "driver": {"repository": "nvcr.io/nvidia", "image": "driver", "version": "1"}
                }
            },
            "spec.driver.image",
        ),
    ],
)
def test_images_in_custom_resources_and_patches(resource_type, props, where) -> None:
    (message,) = validate(r.container_image_registry_approved, resource_type, props)
    assert message.startswith(f"{where}:")
    assert "not an approved in-region registry" in message


def test_images_in_custom_resources_from_approved_registries_pass() -> None:
    isvc = {"spec": {"predictor": {"containers": [{"name": "m", "image": f"{ECR}/m:1"}]}}}
    assert validate(r.container_image_registry_approved, ISVC, isvc) == []
    split = {"spec": {"driver": {"repository": f"{ECR}/nvidia", "image": "driver"}}}
    assert validate(r.container_image_registry_approved, "kubernetes:nvidia.com/v1:X", split) == []
    # The token pulumi-kubernetes never produces is not a Kubernetes object.
    assert not r.container_image_registry_approved.applies_to(
        "kubernetes:apiextensions.k8s.io:CustomResource"
    )
    # A ConfigMap's data is strings, never a pod: an 'image' key there is not an image.
    config_map = {"metadata": {"namespace": "t"}, "data": {"image": "nginx"}}
    assert not r.container_image_registry_approved.applies_to("kubernetes:core/v1:ConfigMap")
    assert (
        validate(r.container_image_registry_approved, "kubernetes:core/v1:ConfigMap", config_map)
        == []
    )


def test_images_in_helm_values() -> None:
    release = {
        "chart": f"oci://{ECR}/charts/feast",
        "version": "0.67.0",
        "values": {
            "image": {"repository": f"{ECR}/feast/server", "tag": "0.67.0"},
            "redis": {"image": {"registry": "docker.io", "repository": "bitnami/redis"}},
        },
    }
    (message,) = validate(
        r.container_image_registry_approved, "kubernetes:helm.sh/v3:Release", release
    )
    assert "values.redis.image" in message and "docker.io" in message


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"chart": f"oci://{ECR}/charts/kserve", "version": "v0.16.0"}, []),
        (
            {"chart": "kserve", "repositoryOpts": {"repo": f"oci://{ECR}/charts"}, "version": "1"},
            [],
        ),
        ({"chart": "./charts/local"}, []),
        ({"chart": f"oci://{ECR}/charts/kserve"}, ["no pinned 'version'"]),
        ({"chart": "oci://ghcr.io/kserve/charts/kserve", "version": "1"}, ["'ghcr.io'"]),
        (
            {
                "chart": "nginx",
                "repositoryOpts": {"repo": "https://charts.bitnami.com/bitnami"},
                "version": "1",
            },
            ["'charts.bitnami.com'"],
        ),
        ({"chart": "bitnami/nginx", "version": "1"}, ["names no repository URL"]),
        ({"chart": UNKNOWN, "version": "1"}, ["could not be determined"]),
    ],
)
def test_helm_chart_sources(props, expected) -> None:
    found = validate(r.helm_chart_source_approved, "kubernetes:helm.sh/v3:Release", props)
    assert len(found) == len(expected)
    for message, text in zip(found, expected, strict=True):
        assert text in message


# --- tags --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"tenant": "acme", "data-classification": "confidential"}, []),
        ({"tenant": "platform", "data-classification": UNKNOWN}, []),
        ({"data-classification": "internal"}, ["'tenant'"]),
        ({"tenant": "acme"}, ["'data-classification'"]),
        ({"tenant": "acme", "data-classification": "secret-ish"}, ["'secret-ish'"]),
        (None, ["'tenant'", "'data-classification'"]),
        (UNKNOWN, ["could not be determined"]),
    ],
)
def test_data_resource_tags(tags, expected) -> None:
    props = {} if tags is None else {"tags": tags}
    found = validate(r.data_resource_tagged, BUCKET, props)
    assert len(found) == len(expected)
    for message, text in zip(found, expected, strict=True):
        assert text in message


def test_tags_from_provider_default_tags_count() -> None:
    provider = aws_provider()
    provider.props["__target"]["defaultTags"] = {"tags": {"tenant": "platform"}}
    found = validate(
        r.data_resource_tagged,
        BUCKET,
        {"tags": {"data-classification": "internal"}},
        provider=provider,
    )
    assert found == []
    assert validate(r.data_resource_tagged, "aws:ec2/vpc:Vpc", {}) == []


def test_every_rule_has_complete_metadata() -> None:
    for policy in r.POLICIES:
        assert policy.name == policy.name.lower() and " " not in policy.name
        assert policy.description and policy.remediation_steps
        assert policy.severity is not None and policy.enforcement_level is not None
        assert any(t.startswith("framework:UAE PDPL") for t in policy.tags)
