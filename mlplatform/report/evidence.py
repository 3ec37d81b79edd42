"""Evidence read from a plan: where each resource lives and how each data store is protected.

Generic over programs: the region of a resource is its own ``region`` input (pulumi-aws
v7), else its explicit provider's, else the stack's ``aws:region``; a Kubernetes object
lives where its provider's cluster lives (the AWS resource its kubeconfig came from),
else "on-premises / external cluster". A data store's related resources are those whose
inputs name it (its id, name or bucket); keys, replicas, backups and log destinations are
read from it and them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlplatform.engine.cloud import UNKNOWN

DATA_STORE_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:dynamodb/table:Table",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:elasticache/cluster:Cluster",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "aws:sqs/queue:Queue",
    "aws:sns/topic:Topic",
    "aws:secretsmanager/secret:Secret",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ecr/repository:Repository",
    "aws:kinesis/stream:Stream",
    "aws:backup/vault:Vault",
    "aws:opensearch/domain:Domain",
    "aws:redshift/cluster:Cluster",
)
BACKUP_SUPPORTED_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:dynamodb/table:Table",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "aws:ebs/volume:Volume",
    "aws:ec2/instance:Instance",
    "aws:redshift/cluster:Cluster",
)
"""Types AWS Backup protects (a tag-based selection covers only these)."""
_REPLICA_KEYS = ("bucket", "destination", "destinationBucket", "regionName")
DESTINATION_KEYS = ("targetBucket", "logDestination", "s3BucketName", "destinationArn")
_KEY = re.compile(r"kms.*(key|arn|id)|^keyArn$|masterKey", re.IGNORECASE)
_INTERESTING = re.compile(
    r"encrypt|kms|public|rotation|deletionwindow|pointintime|logtypes|httptokens|tls|ssl|"
    r"region|privileged|runasnonroot|retention|versioning|status|mode|enforce|allowprivilege"
    r"|readonlyrootfilesystem|automount|snapshot|multiaz|authtoken",
    re.IGNORECASE,
)
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):")
_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.path, value)`` for every scalar in ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}.{index}")
    else:
        yield path, value


def key_properties(resource: Mapping[str, Any], limit: int = 10) -> dict[str, Any]:
    """The security- and residency-relevant property values of a resource (for evidence)."""
    found: dict[str, Any] = {}
    for path, value in leaves(resource.get("inputs") or {}):
        last = path.rsplit(".", 1)[-1]
        if _INTERESTING.search(last) and not path.startswith("tags"):
            found[path] = "(unknown until created)" if value == UNKNOWN else value
            if len(found) >= limit:
                break
    return found


class PlanIndex:
    """Resources by URN, providers' regions and clusters, and who names whom."""

    def __init__(self, plan: Mapping[str, Any]) -> None:
        self.plan = plan
        self.resources = [r for r in plan.get("resources") or [] if isinstance(r, Mapping)]
        self.by_urn = {str(r.get("urn")): r for r in self.resources}
        config = plan.get("config") or {}
        self.stack_region = str(config.get("aws:region") or "")
        self.providers: dict[str, Mapping[str, Any]] = {}
        for resource in self.resources:
            if str(resource.get("type", "")).startswith("pulumi:providers:"):
                reference = f"{resource.get('urn')}::{resource.get('id')}"
                self.providers[reference] = resource
                self.providers[str(resource.get("urn"))] = resource
        self.names: dict[str, str] = {}
        for resource in self.resources:
            if not resource.get("custom"):
                continue
            inputs = resource.get("inputs") or {}
            for value in (
                resource.get("id"),
                inputs.get("bucket")
                if resource.get("type", "").startswith("aws:s3/bucket:")
                else None,
                inputs.get("name"),
                inputs.get("replicationGroupId"),
                inputs.get("arn"),
            ):
                if isinstance(value, str) and len(value) > 2:
                    self.names.setdefault(value, str(resource.get("urn")))

    def provider(self, resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
        reference = resource.get("provider")
        if not isinstance(reference, str):
            return None
        return self.providers.get(reference) or self.providers.get(reference.rsplit("::", 1)[0])

    def region(self, resource: Mapping[str, Any], depth: int = 0) -> str:
        """Where the resource lives (see the module)."""
        type_ = str(resource.get("type", ""))
        inputs = resource.get("inputs") or {}
        if type_.startswith("pulumi:providers:aws"):
            return str(inputs.get("region") or self.stack_region or "unknown")
        if type_.startswith("aws:"):
            if isinstance(inputs.get("region"), str):
                return str(inputs["region"])
            provider = self.provider(resource)
            if provider is not None and isinstance(
                (provider.get("inputs") or {}).get("region"), str
            ):
                return str(provider["inputs"]["region"])
            return self.stack_region or "unknown"
        if type_.startswith("kubernetes:") or type_ == "pulumi:providers:kubernetes":
            provider = (
                resource if type_ == "pulumi:providers:kubernetes" else self.provider(resource)
            )
            if provider is not None and depth < 3:
                for urns in (provider.get("propertyDependencies") or {}).values():
                    for urn in urns:
                        source = self.by_urn.get(urn)
                        if source is not None and str(source.get("type", "")).startswith("aws:"):
                            return self.region(source, depth + 1)
            return "external cluster (kubeconfig)"
        return (
            "n/a (provider-computed)" if type_.split(":", 1)[0] in ("random", "tls") else "unknown"
        )

    def account(self) -> str:
        """The AWS account the plan's ARNs name (the offline engine's, in an offline plan)."""
        for resource in self.resources:
            for _, value in leaves(resource.get("inputs") or {}):
                if isinstance(value, str):
                    match = _ACCOUNT.match(value)
                    if match:
                        return match.group(1)
        return "unknown"

    def related(self, resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Resources whose top-level inputs name ``resource`` (its policy, logging, config).

        A resource that names it only as a destination (another bucket's logging target)
        configures that other resource, not this one.
        """
        urn = str(resource.get("urn"))
        own = {name for name, owner in self.names.items() if owner == urn}
        found = []
        for other in self.resources:
            if other is resource or not other.get("custom"):
                continue
            inputs = other.get("inputs") or {}
            if any(
                isinstance(v, str) and v in own and k not in DESTINATION_KEYS
                for k, v in inputs.items()
            ):
                found.append(other)
        return found

    def known_or_source(self, resource: Mapping[str, Any], path: str, value: str) -> str:
        """``value``, or (unknown in a preview) the resource it will come from."""
        if value != UNKNOWN:
            return value
        top = path.split(".", 1)[0]
        sources = (resource.get("propertyDependencies") or {}).get(top) or []
        named = [
            f"{urn.rsplit('::', 1)[-1]} ({self.by_urn[urn].get('type')}, "
            f"{self.region(self.by_urn[urn])}; ARN known after creation)"
            for urn in sources
            if urn in self.by_urn and str(self.by_urn[urn].get("type", "")).startswith("aws:kms/")
        ]
        return "; ".join(named) or "unknown until created"

    def backup_plans(self, resource: Mapping[str, Any]) -> list[dict[str, Any]]:
        """AWS Backup plans whose selections cover ``resource`` (by ARN or tags), with
        where their recovery points go (vault and copy destinations, with regions)."""
        if resource.get("type") not in BACKUP_SUPPORTED_TYPES:
            return []
        inputs = resource.get("inputs") or {}
        raw_tags = inputs.get("tags")
        tags: Mapping[str, Any] = raw_tags if isinstance(raw_tags, Mapping) else {}
        own = {name for name, owner in self.names.items() if owner == resource.get("urn")}
        found = []
        for selection in self.resources:
            if selection.get("type") != "aws:backup/selection:Selection":
                continue
            chosen = selection.get("inputs") or {}
            by_arn = any(
                isinstance(arn, str) and (arn == "*" or arn in own or arn.split(":")[-1] in own)
                for arn in chosen.get("resources") or []
            )
            conditions = [c for c in chosen.get("selectionTags") or [] if isinstance(c, Mapping)]
            by_tags = bool(conditions) and all(
                c.get("type", "STRINGEQUALS") == "STRINGEQUALS"
                and tags.get(str(c.get("key"))) == c.get("value")
                for c in conditions
            )
            if not (by_arn or by_tags):
                continue
            plan_urn = self.names.get(str(chosen.get("planId")))
            plan = self.by_urn.get(plan_urn or "", {})
            for rule in (plan.get("inputs") or {}).get("rules") or []:
                vault_urn = self.names.get(str(rule.get("targetVaultName")))
                vault = self.by_urn.get(vault_urn or "")
                found.append(
                    {
                        "plan": str(plan.get("name", chosen.get("planId"))),
                        "schedule": str(rule.get("schedule", "")),
                        "retentionDays": (rule.get("lifecycle") or {}).get("deleteAfter"),
                        "vault": str(rule.get("targetVaultName", "")),
                        "vaultRegion": self.region(vault) if vault else "unknown",
                        "copies": [
                            {
                                "destination": str(copy.get("destinationVaultArn")),
                                "region": self.destination_region(
                                    str(copy.get("destinationVaultArn"))
                                ),
                            }
                            for copy in rule.get("copyActions") or []
                            if isinstance(copy, Mapping)
                        ],
                    }
                )
        return found

    def destination_region(self, value: str) -> str:
        match = _ARN_REGION.match(value)
        if match and match.group(1):
            return match.group(1)
        name = value.removeprefix("arn:aws:s3:::")
        owner = self.names.get(name)
        if owner is not None:
            return self.region(self.by_urn[owner])
        return "unknown"


def data_store_evidence(index: PlanIndex, resource: Mapping[str, Any]) -> dict[str, Any]:
    """Region, encryption key(s), replicas, backups and log destinations of one data store."""
    inputs = resource.get("inputs") or {}
    related = index.related(resource)
    keys: set[str] = set()
    algorithms: set[str] = set()
    replicas: list[dict[str, str]] = []
    backups: dict[str, Any] = {}
    logs: list[dict[str, str]] = []
    for source in [resource, *related]:
        type_ = str(source.get("type", ""))
        for path, value in leaves(source.get("inputs") or {}):
            last = path.rsplit(".", 1)[-1]
            if isinstance(value, str) and _KEY.search(last) and value:
                keys.add(index.known_or_source(source, path, value))
            if last == "sseAlgorithm" and isinstance(value, str):
                algorithms.add(value)
            # A replication configuration's nested destinations (its top-level `bucket`
            # is the source).
            nested = "." in path
            if "eplicat" in type_ and nested and isinstance(value, str) and last in _REPLICA_KEYS:
                replicas.append({"destination": value, "region": index.destination_region(value)})
            if last in DESTINATION_KEYS:
                logs.append(
                    {"destination": str(value), "region": index.destination_region(str(value))}
                )
        if type_.startswith("aws:s3/bucketVersioning"):
            status = ((source.get("inputs") or {}).get("versioningConfiguration") or {}).get(
                "status"
            )
            backups["versioning"] = status
        if type_.startswith("aws:s3/bucketObjectLockConfiguration"):
            backups["objectLock"] = True
    for replica in inputs.get("replicas") or []:
        if isinstance(replica, Mapping):
            region = str(replica.get("regionName") or "unknown")
            replicas.append({"destination": f"replica in {region}", "region": region})
    if not keys and algorithms:
        keys = {f"{algorithm} (service-managed key)" for algorithm in algorithms}
    plans = index.backup_plans(resource)
    if plans:
        backups["awsBackup"] = plans
    pitr = inputs.get("pointInTimeRecovery")
    if isinstance(pitr, Mapping):
        backups["pointInTimeRecovery"] = bool(pitr.get("enabled"))
    for name in ("snapshotRetentionLimit", "backupRetentionPeriod", "retentionInDays"):
        if name in inputs:
            backups[name] = inputs[name]
    return {
        "urn": str(resource.get("urn")),
        "type": str(resource.get("type")),
        "name": str(resource.get("name")),
        "region": index.region(resource),
        "encryptionKeys": sorted(keys),
        "replicas": replicas,
        "backups": backups,
        "logDestinations": logs,
    }
