"""Karpenter: the controller (a pinned Helm release) and the node classes and pools it serves.

Karpenter adds nodes when pods are pending and removes them when they are empty or
under-used; it is what makes a GPU pool that is empty at rest (``min 0``) usable. The
controller runs on the ``system`` managed node group (it cannot run on nodes it
provisions), in its own ``restricted`` namespace with default-deny NetworkPolicies, as a
least-privilege IRSA role (:mod:`components.cluster_karpenter`), handles spot
interruptions, scheduled maintenance and rebalance recommendations through an SQS
queue in the stack's region, and never calls the AWS pricing API (``isolatedVPC``: its
endpoint is outside the country).

Pure builders (:func:`ec2_node_class`, :func:`node_pool`) return the wire-format
objects; :class:`KarpenterInstall` registers the release and the objects.

Node classes: AL2023 at a pinned AMI release (the alias resolves to the NVIDIA variant
for GPU instance types), IMDSv2 required with a hop limit of 1 (pods cannot reach the
node's credentials), encrypted gp3 root volumes with the platform's EBS key, subnets
and security groups found by the cluster's discovery tag (only healthy-zone subnets
carry it), a pre-created instance profile (IAM has no VPC endpoint; Karpenter never
needs IAM write access), and, for p5en training, the tenant's capacity reservation.

Disruption: serving pools consolidate empty or under-used nodes one at a time (PDBs
keep predictors up); training pools only ever remove *empty* nodes, never replace a
drifted node while it is busy and never expire nodes, so a running training job is
never evicted by Karpenter (training pods also carry ``karpenter.sh/do-not-disrupt``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired

import pulumi

from components.k8s._resources import namespace_with_policies, pinned_release, register
from components.k8s.catalog import CHARTS, IMAGES, RegistryArgs, registry_of
from components.k8s.netpol import baseline_policies, scrape_ingress
from components.k8s.podspec import IRSA_ANNOTATION, Manifest, namespace, object_meta

API_VERSION = "karpenter.sh/v1"
"""NodePool API."""
NODE_CLASS_API_VERSION = "karpenter.k8s.aws/v1"
"""EC2NodeClass API."""
NAMESPACE = "karpenter"
"""Namespace of the controller."""
SERVICE_ACCOUNT = "karpenter"
"""Service account of the controller (its IRSA role trusts exactly this one)."""
DISCOVERY_TAG = "karpenter.sh/discovery"
"""Tag (value: the cluster name) on the subnets and security group nodes may use."""
AMI_ALIAS = "al2023@v20260520"
"""Pinned EKS AL2023 AMI release (NVIDIA variant for GPU types); Karpenter's own AMI test
suite at v1.14.1 uses this release. Bump deliberately: a new alias drifts every node."""
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
"""Pod annotation: Karpenter never voluntarily disrupts the node such a pod runs on."""
METRICS_PORT = 8080
"""Controller metrics port (chart default ``controller.metrics.port``)."""
_RESTRICTED_TAGS = ("eks:eks-cluster-name", "karpenter.sh/nodepool", "karpenter.sh/nodeclaim")
_RESTRICTED_TAG_PREFIXES = ("kubernetes.io/cluster", "karpenter.k8s.aws/ec2nodeclass")


@dataclass(frozen=True)
class NodeClassSpec:
    """One ``EC2NodeClass``: how nodes launch (AMI, IMDS, volumes, network, identity)."""

    name: str
    """Object name (``cpu``, ``gpu``, ``<tenant>-reserved``)."""
    cluster_name: pulumi.Input[str]
    """Value of the discovery tag on the cluster's subnets and security group."""
    instance_profile: pulumi.Input[str]
    """Name of the pre-created instance profile of the Karpenter node role."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key of the root volumes."""
    disk_gib: int = 100
    """Root volume size."""
    capacity_reservation_ids: Sequence[str] = ()
    """EC2 capacity reservations to launch into (p5en training)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the instances, volumes and network interfaces."""


def ec2_node_class(spec: NodeClassSpec, labels: Mapping[str, str]) -> Manifest:
    """The ``EC2NodeClass`` object for ``spec``."""
    for key in spec.tags:
        if key in _RESTRICTED_TAGS or key.startswith(_RESTRICTED_TAG_PREFIXES):
            raise ValueError(f"EC2NodeClass {spec.name}: tag {key!r} is reserved by Karpenter")
    if not 20 <= spec.disk_gib <= 16384:
        raise ValueError(f"EC2NodeClass {spec.name}: disk_gib={spec.disk_gib}: 20..16384")
    discovery = {DISCOVERY_TAG: spec.cluster_name}
    body: dict[str, Any] = {
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "instanceProfile": spec.instance_profile,
        "subnetSelectorTerms": [{"tags": dict(discovery)}],
        "securityGroupSelectorTerms": [{"tags": dict(discovery)}],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            # 1 hop: the node reaches IMDS, containers behind a bridge do not.
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "rootVolume": True,
                "ebs": {
                    "volumeSize": f"{spec.disk_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "kmsKeyID": spec.ebs_kms_key_arn,
                    "deleteOnTermination": True,
                },
            }
        ],
        "associatePublicIPAddress": False,
        "detailedMonitoring": False,
        "tags": dict(spec.tags),
    }
    if spec.capacity_reservation_ids:
        body["capacityReservationSelectorTerms"] = [
            {"id": reservation} for reservation in spec.capacity_reservation_ids
        ]
    return {
        "apiVersion": NODE_CLASS_API_VERSION,
        "kind": "EC2NodeClass",
        "metadata": object_meta(spec.name, None, labels),
        "spec": body,
    }


@dataclass(frozen=True)
class NodePoolSpec:
    """One Karpenter ``NodePool``: what nodes may be launched, where, and how many."""

    name: str
    """Object name (also the ``mlplatform.io/pool`` node label)."""
    node_class: str
    """Name of the ``EC2NodeClass``."""
    instance_types: Sequence[str]
    """Instance types offered in the pool's zones."""
    zone_ids: Sequence[str]
    """Healthy zone ids (``topology.k8s.aws/zone-id``)."""
    capacity_types: Sequence[str]
    """``on-demand``, ``spot`` and/or ``reserved``."""
    node_labels: Mapping[str, str]
    """Labels every node carries (pool, purpose, tenant, GPU presence)."""
    taints: Sequence[Mapping[str, str]]
    """Taints every node carries (Kubernetes spelling)."""
    limits: Mapping[str, str]
    """Resource limits of the pool (``cpu``, ``memory``, ``nvidia.com/gpu``)."""
    training: bool = False
    """Training pools never disrupt a node that runs a job."""
    weight: int | None = None
    """Priority among pools that fit a pod (higher first)."""


_CAPACITY_TYPES = {"on-demand", "spot", "reserved"}


def disruption(training: bool) -> Manifest:
    """The pool's disruption policy (see the module docstring)."""
    if training:
        return {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": "10m",
            "budgets": [
                # A drifted node (new AMI, changed node class) is replaced only when empty.
                {"nodes": "0", "reasons": ["Drifted", "Underutilized"]},
                {"nodes": "1", "reasons": ["Empty"]},
            ],
        }
    return {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "5m",
        "budgets": [{"nodes": "1"}],
    }


def node_pool(spec: NodePoolSpec, labels: Mapping[str, str]) -> Manifest:
    """The ``NodePool`` object for ``spec``."""
    if not spec.instance_types or not spec.zone_ids:
        raise ValueError(f"NodePool {spec.name}: needs instance types and zones")
    unknown = set(spec.capacity_types) - _CAPACITY_TYPES
    if not spec.capacity_types or unknown:
        raise ValueError(
            f"NodePool {spec.name}: capacity types {sorted(spec.capacity_types)}; allowed: "
            f"{', '.join(sorted(_CAPACITY_TYPES))}"
        )
    for key in spec.node_labels:
        if key.split("/")[0].endswith(("karpenter.sh", "karpenter.k8s.aws")):
            raise ValueError(f"NodePool {spec.name}: label {key!r} is in a restricted domain")
    body: dict[str, Any] = {
        "template": {
            "metadata": {"labels": dict(spec.node_labels)},
            "spec": {
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": spec.node_class,
                },
                "requirements": [
                    {
                        "key": "node.kubernetes.io/instance-type",
                        "operator": "In",
                        "values": sorted(spec.instance_types),
                    },
                    {
                        "key": "topology.k8s.aws/zone-id",
                        "operator": "In",
                        "values": list(spec.zone_ids),
                    },
                    {
                        "key": "karpenter.sh/capacity-type",
                        "operator": "In",
                        "values": list(spec.capacity_types),
                    },
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "taints": [dict(taint) for taint in spec.taints],
                # Training nodes never expire under a job; serving nodes are replaced
                # monthly (new AMI patches), one at a time, respecting PDBs.
                "expireAfter": "Never" if spec.training else "720h",
            },
        },
        "disruption": disruption(spec.training),
        "limits": dict(spec.limits),
    }
    if spec.weight is not None:
        body["weight"] = spec.weight
    return {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": object_meta(spec.name, None, labels),
        "spec": body,
    }


def controller_values(
    *,
    registry_repository: str,
    tag: str,
    digest: str | None,
    cluster_name: pulumi.Input[str],
    cluster_endpoint: pulumi.Input[str],
    interruption_queue: pulumi.Input[str],
    role_arn: pulumi.Input[str],
    replicas: int,
    system_selector: Mapping[str, str],
) -> dict[str, Any]:
    """Values for the ``karpenter`` chart 1.13 (keys from its values.yaml)."""
    image: dict[str, Any] = {"repository": registry_repository, "tag": tag}
    # The chart renders ``repo:tag@digest`` when a digest is set; the default is upstream's.
    image["digest"] = digest or ""
    return {
        "replicas": replicas,
        "serviceAccount": {"annotations": {IRSA_ANNOTATION: role_arn}},
        "nodeSelector": {"kubernetes.io/os": "linux", **system_selector},
        "controller": {
            "image": image,
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        },
        "settings": {
            "clusterName": cluster_name,
            "clusterEndpoint": cluster_endpoint,
            "interruptionQueue": interruption_queue,
            # No pricing API (outside the country) and no IAM calls (no VPC endpoint).
            "isolatedVPC": True,
            "featureGates": {"reservedCapacity": True, "spotToSpotConsolidation": False},
        },
    }


class KarpenterInstallArgs(RegistryArgs):
    """Inputs of :class:`KarpenterInstall` (plain data; the AWS side gives the outputs)."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (also the discovery tag value)."""
    cluster_endpoint: pulumi.Input[str]
    """The cluster's private API endpoint."""
    cluster_cidrs: Sequence[str]
    """API server and node ranges (the VPC CIDR) for the namespace's NetworkPolicies."""
    role_arn: pulumi.Input[str]
    """The controller's IRSA role."""
    interruption_queue: pulumi.Input[str]
    """Name of the SQS interruption queue."""
    node_classes: Sequence[Manifest]
    """EC2NodeClass objects (:func:`ec2_node_class`)."""
    node_pools: Sequence[Manifest]
    """NodePool objects (:func:`node_pool`)."""
    replicas: NotRequired[int]
    """Controller replicas (default 2; one per system node at most)."""
    system_selector: NotRequired[Mapping[str, str]]
    """Labels of the system node group the controller runs on."""
    monitoring_namespace: NotRequired[str]
    """Namespace whose Prometheus scrapes the controller (default ``monitoring``)."""


class KarpenterInstall(pulumi.ComponentResource):
    """The Karpenter controller and the stack's EC2NodeClasses and NodePools."""

    namespace: pulumi.Output[str]
    """Namespace of the controller."""
    node_pool_names: list[str]
    """Names of the NodePools."""

    def __init__(
        self, name: str, args: KarpenterInstallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:karpenter:KarpenterInstall", name, None, opts)
        registry = registry_of(args)
        part_of = {"app.kubernetes.io/part-of": "mlplatform"}
        ns = namespace_with_policies(
            name,
            namespace(NAMESPACE, "restricted", part_of, "the controller runs restricted"),
            [
                *baseline_policies(NAMESPACE, part_of, args["cluster_cidrs"]),
                scrape_ingress(
                    NAMESPACE,
                    part_of,
                    args.get("monitoring_namespace", "monitoring"),
                    [METRICS_PORT],
                ),
            ],
            self,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        pin = IMAGES["karpenter-controller"]
        release = pinned_release(
            f"{name}-controller",
            "karpenter",
            CHARTS["karpenter"],
            registry,
            NAMESPACE,
            after_ns,
            values=controller_values(
                registry_repository=registry.repository(pin),
                tag=pin.tag,
                digest=pin.digest,
                cluster_name=args["cluster_name"],
                cluster_endpoint=args["cluster_endpoint"],
                interruption_queue=args["interruption_queue"],
                role_arn=args["role_arn"],
                replicas=args.get("replicas", 2),
                system_selector=args.get("system_selector", {}),
            ),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        classes = [
            register(f"{name}-class-{m['metadata']['name']}", m, after_crds)
            for m in args["node_classes"]
        ]
        after_classes = pulumi.ResourceOptions(parent=self, depends_on=[release, *classes])
        for manifest in args["node_pools"]:
            register(f"{name}-pool-{manifest['metadata']['name']}", manifest, after_classes)
        self.node_pool_names = [m["metadata"]["name"] for m in args["node_pools"]]
        self.namespace = pulumi.Output.from_input(NAMESPACE)
        self.register_outputs({"namespace": self.namespace, "nodePools": self.node_pool_names})
