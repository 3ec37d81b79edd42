"""Price a plan: monthly figures per resource, attributed to a tenant or the shared platform.

- Attribution is generic: the first tenant tag/label key a resource carries (configurable
  in the usage file; default ``tenant`` and ``mlplatform.io/tenant``) names its tenant;
  none, or a shared value such as ``platform``, means the shared platform. So per-tenant
  figures plus the shared figure add up to the total, by construction.
- Prices come from the region's shipped, dated data (``contracts/data/<region>.json``).
  A price that is not there makes the resource *unpriced*, with the reason; totals are of
  priced items only and say how many items they exclude. Spot and on-demand are priced
  separately; a pool that would run on spot where no spot price is known is unpriced, not
  priced at on-demand.
- Budgets: the program exports ``costBudgets`` = ``{"tenants": {name: usd}, "tiers":
  {tier: usd}}`` (monthly USD); an estimate over a budget is a failure naming the tenant
  or tier (exit 1).
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import json
import pathlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

DEFAULT_USAGE = pathlib.Path(__file__).with_name("usage.yaml")
SHARED = "(shared platform)"
"""The pseudo-tenant of resources no tenant owns."""

_NO_CHARGE_TYPES = (
    r"aws:iam/.*",
    r"aws:ec2/(securityGroup|defaultSecurityGroup|securityGroupRule|subnet|routeTable|"
    r"routeTableAssociation|route|vpc|internetGateway|tag|launchTemplate|defaultNetworkAcl|"
    r"networkAcl|vpcDhcpOptions.*|mainRouteTableAssociation):.*",
    r"aws:vpc/securityGroup(Ingress|Egress)Rule:.*",
    r"aws:kms/alias:.*",
    r"aws:s3/bucket(?!:).+",
    r"aws:s3/bucketPolicy:.*",
    r"aws:sqs/(queuePolicy|redriveAllowPolicy|redrivePolicy):.*",
    r"aws:eks/(accessEntry|accessPolicyAssociation|addon|podIdentityAssociation):.*",
    r"aws:elasticache/(subnetGroup|parameterGroup|user|userGroup):.*",
    r"aws:cloudwatch/(eventRule|eventTarget):.*",
    r"aws:secretsmanager/(secretVersion|secretPolicy|secretRotation):.*",
    r"aws:backup/(plan|selection|vaultLockConfiguration|vaultNotifications|vaultPolicy):.*",
    r"aws:ecr/(lifecyclePolicy|repositoryPolicy):.*",
    r"random:.*",
    r"tls:.*",
    r"kubernetes:.*",
)
_NO_CHARGE = re.compile("|".join(f"(?:{pattern})" for pattern in _NO_CHARGE_TYPES))
_NO_CHARGE_REASON = {
    "kubernetes": "runs on the cluster's nodes (priced with the node pools)",
    "random": "computed by the provider, no cloud resource",
    "tls": "computed by the provider, no cloud resource",
}


class CostError(ValueError):
    """Bad input (usage file, price data, exported budgets): one line naming file and field."""


# --- the usage file --------------------------------------------------------------------


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{key: _merge(base.get(key), value) for key, value in over.items()}}
    return over


def load_usage(path: pathlib.Path | None = None) -> dict[str, Any]:
    """The shipped usage defaults, with ``path`` merged over them; validated."""
    usage = _read_yaml(DEFAULT_USAGE)
    source = str(DEFAULT_USAGE)
    if path is not None:
        usage = _merge(usage, _read_yaml(path))
        source = str(path)
    _check_usage(usage, source)
    return usage


def _read_yaml(path: pathlib.Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CostError(f"{path}: cannot read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise CostError(f"{path}: invalid YAML ({' '.join(str(err).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CostError(f"{path}: expected a mapping of usage assumptions")
    return data


def _number(value: Any, where: str, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CostError(f"{where}: {value!r} is not a number")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise CostError(f"{where}: {value} out of range; allowed: {bound}")
    return float(value)


def _check_usage(usage: Mapping[str, Any], source: str) -> None:
    known = {"hours_per_month", "attribution", "node_pools", "per_resource"}
    unknown = sorted(set(usage) - known)
    if unknown:
        raise CostError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {sorted(known)}")
    _number(usage.get("hours_per_month"), f"{source}: hours_per_month", 1, 744)
    attribution = usage.get("attribution")
    if not isinstance(attribution, Mapping):
        raise CostError(f"{source}: attribution: expected a mapping")
    for key in ("tenant_keys", "tier_keys", "shared_values"):
        values = attribution.get(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise CostError(f"{source}: attribution.{key}: expected a list of strings")
    rules = usage.get("node_pools")
    if not isinstance(rules, list) or not rules:
        raise CostError(f"{source}: node_pools: expected a non-empty list of rules")
    for index, rule in enumerate(rules):
        where = f"{source}: node_pools[{index}]"
        if not isinstance(rule, Mapping) or not isinstance(rule.get("match"), str):
            raise CostError(f"{where}.match: required, a glob over the NodePool name")
        extra = sorted(set(rule) - {"match", "tier", "nodes", "hours", "spot_share"})
        if extra:
            raise CostError(f"{where}: unknown key(s) {', '.join(extra)}")
        _number(rule.get("nodes"), f"{where}.nodes")
        _number(rule.get("hours"), f"{where}.hours", 0, 744)
        _number(rule.get("spot_share", 1.0), f"{where}.spot_share", 0, 1)
    per_resource = usage.get("per_resource")
    if not isinstance(per_resource, Mapping) or "shared" not in per_resource:
        raise CostError(f"{source}: per_resource: expected a mapping with at least 'shared'")
    for tier, quantities in per_resource.items():
        if not isinstance(quantities, Mapping):
            raise CostError(f"{source}: per_resource.{tier}: expected a mapping")
        for name, value in quantities.items():
            _number(value, f"{source}: per_resource.{tier}.{name}")


# --- price data ------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceData:
    """The region's shipped price data."""

    region: str
    file: str
    research_date: str
    instance_types: Mapping[str, Mapping[str, Any]]
    services: Mapping[str, Mapping[str, Any]]
    sources: list[str]

    @property
    def region_key(self) -> str:
        return self.region.replace("-", "_")


def load_prices(region: str) -> PriceData:
    """``contracts/data/<region>.json``; a region without shipped data is bad input."""
    resource = importlib.resources.files("contracts.data") / f"{region}.json"
    if not resource.is_file():
        raise CostError(
            f"no price data for region {region!r} (contracts/data/{region}.json is not shipped)"
        )
    data = json.loads(resource.read_text(encoding="utf-8"))
    return PriceData(
        region=region,
        file=f"contracts/data/{region}.json",
        research_date=str((data.get("region") or {}).get("research_date") or ""),
        instance_types=data.get("instance_types") or {},
        services=data.get("services") or {},
        sources=[str(source.get("id")) for source in data.get("sources") or []],
    )


# --- the estimate -----------------------------------------------------------------------


@dataclass
class Item:
    """One resource's monthly figure."""

    urn: str
    type: str
    name: str
    tenant: str
    status: str
    """``priced``, ``unpriced`` or ``no-charge``."""
    monthly_usd: float | None
    detail: str
    pricing: str = ""
    """``on-demand``, ``spot`` or ``mixed`` for compute."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "tenant": self.tenant,
            "status": self.status,
            "monthlyUsd": None if self.monthly_usd is None else round(self.monthly_usd, 2),
            "detail": self.detail,
            "pricing": self.pricing,
        }


@dataclass
class Estimate:
    """A plan's monthly estimate."""

    project: str
    stack: str
    prices: PriceData
    hours: float
    items: list[Item]
    tenant_tiers: dict[str, str]
    budgets: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None

    def owners(self) -> list[str]:
        """Every tenant (sorted), then the shared platform."""
        tenants = set(self.tenant_tiers) | set(self.budgets.get("tenants", {}))
        tenants |= {item.tenant for item in self.items if item.tenant != SHARED}
        return [*sorted(tenants), SHARED]

    def priced(self, owner: str | None = None) -> float:
        return sum(
            item.monthly_usd or 0.0
            for item in self.items
            if item.status == "priced" and (owner is None or item.tenant == owner)
        )

    def unpriced(self, owner: str | None = None) -> list[Item]:
        return [
            item
            for item in self.items
            if item.status == "unpriced" and (owner is None or item.tenant == owner)
        ]

    def by_pricing(self) -> dict[str, float]:
        """Priced compute by capacity type (on-demand, spot, mixed), and everything else."""
        totals: dict[str, float] = {}
        for item in self.items:
            if item.status == "priced":
                key = item.pricing or "services"
                totals[key] = totals.get(key, 0.0) + (item.monthly_usd or 0.0)
        return {key: round(value, 2) for key, value in sorted(totals.items())}

    def tiers(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for owner in self.owners()[:-1]:
            grouped.setdefault(self.tenant_tiers.get(owner, "unknown"), []).append(owner)
        return dict(sorted(grouped.items()))

    def over_budget(self) -> list[str]:
        """One line per budget the estimate exceeds (tenant or tier)."""
        lines = []
        for tenant, budget in sorted(self.budgets.get("tenants", {}).items()):
            spent = self.priced(tenant)
            if spent > budget:
                lines.append(
                    f"tenant {tenant}: estimate ${spent:,.2f}/month exceeds its budget "
                    f"${budget:,.2f}"
                )
        tiers = self.tiers()
        for tier, budget in sorted(self.budgets.get("tiers", {}).items()):
            spent = sum(self.priced(tenant) for tenant in tiers.get(tier, []))
            if spent > budget:
                lines.append(
                    f"tier {tier} ({', '.join(tiers.get(tier, []))}): estimate "
                    f"${spent:,.2f}/month exceeds its budget ${budget:,.2f}"
                )
        return lines

    @property
    def exit_code(self) -> int:
        return 1 if self.over_budget() else 0

    def to_dict(self) -> dict[str, Any]:
        owners = {}
        for owner in self.owners():
            entry: dict[str, Any] = {
                "pricedUsd": round(self.priced(owner), 2),
                "unpricedItems": len(self.unpriced(owner)),
            }
            if owner != SHARED:
                entry["tier"] = self.tenant_tiers.get(owner, "unknown")
                budget = self.budgets.get("tenants", {}).get(owner)
                entry["budgetUsd"] = budget
                entry["overBudget"] = budget is not None and self.priced(owner) > budget
            owners[owner] = entry
        tiers = {
            tier: {
                "tenants": tenants,
                "pricedUsd": round(sum(self.priced(t) for t in tenants), 2),
                "budgetUsd": self.budgets.get("tiers", {}).get(tier),
            }
            for tier, tenants in self.tiers().items()
        }
        document: dict[str, Any] = {
            "project": self.project,
            "stack": self.stack,
            "currency": "USD",
            "hoursPerMonth": self.hours,
            "priceData": {
                "region": self.prices.region,
                "file": self.prices.file,
                "researchDate": self.prices.research_date,
                "sources": self.prices.sources,
            },
            "total": {
                "pricedUsd": round(self.priced(), 2),
                "unpricedItems": len(self.unpriced()),
                "byPricing": self.by_pricing(),
                "note": "priced items only; unpriced items are excluded, never counted as 0",
            },
            "shared": owners.pop(SHARED),
            "tenants": owners,
            "tiers": tiers,
            "overBudget": self.over_budget(),
            "exitCode": self.exit_code,
            "items": [item.to_dict() for item in self.items],
        }
        if self.baseline is not None:
            document["baseline"] = self.baseline
        return document


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class _Pricer:
    def __init__(self, plan: Mapping[str, Any], usage: Mapping[str, Any], prices: PriceData):
        self.usage = usage
        self.prices = prices
        self.hours = float(usage["hours_per_month"])
        attribution = usage["attribution"]
        self.tenant_keys: list[str] = attribution["tenant_keys"]
        self.tier_keys: list[str] = attribution["tier_keys"]
        self.shared_values = set(attribution["shared_values"])
        self.tenant_tiers: dict[str, str] = {}
        for resource in plan.get("resources") or []:
            marks = _marks(resource)
            tenant = _first(marks, self.tenant_keys)
            tier = _first(marks, self.tier_keys)
            if tenant and tier and tenant not in self.shared_values:
                self.tenant_tiers[tenant] = tier

    # -- attribution ---------------------------------------------------------------------
    def owner(self, resource: Mapping[str, Any]) -> str:
        tenant = _first(_marks(resource), self.tenant_keys)
        return SHARED if tenant is None or tenant in self.shared_values else tenant

    def tier(self, owner: str) -> str:
        return "shared" if owner == SHARED else self.tenant_tiers.get(owner, "shared")

    def quantity(self, owner: str, name: str) -> float:
        per = self.usage["per_resource"]
        table = per.get(self.tier(owner)) or per["shared"]
        return float(table.get(name, per["shared"].get(name, 0)))

    # -- prices --------------------------------------------------------------------------
    def _service(self, key: str, suffix: str = "") -> tuple[float | None, str]:
        entry = self.prices.services.get(key)
        field_name = f"{self.prices.region_key}_usd{suffix}"
        if not isinstance(entry, Mapping):
            return None, f"{key}: no such price in {self.prices.file}"
        value = entry.get(field_name)
        if value is None:
            note = entry.get("note")
            return None, (
                f"{key}: no {self.prices.region} price in {self.prices.file}"
                + (f" ({note})" if note else "")
            )
        return float(value), ""

    def services(
        self, resource: Mapping[str, Any], owner: str, parts: list[tuple[str, str, float, str]]
    ) -> Item:
        """Price ``parts`` = [(price key, field suffix, quantity, unit)]; unpriced if any is unknown."""
        total, shown, missing = 0.0, [], []
        for key, suffix, quantity, unit in parts:
            price, reason = self._service(key, suffix)
            if price is None:
                missing.append(reason)
                shown.append(f"{quantity:g} {unit}")
            else:
                total += price * quantity
                shown.append(f"{quantity:g} {unit} x ${price:g}")
        if missing:
            return self.item(
                resource,
                owner,
                "unpriced",
                None,
                f"assumed {', '.join(shown)}; " + "; ".join(missing),
            )
        return self.item(resource, owner, "priced", total, ", ".join(shown))

    def instance_hour(
        self, instance_type: str, spot_share: float, zones: list[str]
    ) -> tuple[float | None, str]:
        info = self.prices.instance_types.get(instance_type)
        if not isinstance(info, Mapping):
            return None, f"{instance_type}: not in the region's offering data ({self.prices.file})"
        on_demand = info.get("on_demand_usd_hour")
        if spot_share < 1 and on_demand is None:
            return None, f"{instance_type}: no on-demand price in {self.prices.file}"
        spot = 0.0
        if spot_share > 0:
            by_zone = info.get("spot_usd_hour_by_az") or {}
            wanted = zones or sorted(by_zone)
            values = [by_zone.get(zone) for zone in wanted]
            if not values or any(value is None for value in values):
                return None, (
                    f"{instance_type}: no spot price for zone(s) {', '.join(wanted) or '-'} in "
                    f"{self.prices.file} (spot is not priced at on-demand)"
                )
            spot = sum(float(v) for v in values if v is not None) / len(values)
        return spot_share * spot + (1 - spot_share) * float(on_demand or 0.0), ""

    def compute(
        self,
        resource: Mapping[str, Any],
        owner: str,
        types: list[str],
        spot_share: float,
        zones: list[str],
        nodes: float,
        hours: float,
        basis: str,
    ) -> Item:
        """Cheapest type the pool allows (as Karpenter and ASGs pick), ``nodes`` x ``hours``."""
        options, reasons = [], []
        for instance_type in types:
            hourly, reason = self.instance_hour(instance_type, spot_share, zones)
            if hourly is None:
                reasons.append(reason)
            else:
                options.append((hourly, instance_type))
        pricing = "spot" if spot_share == 1 else "on-demand" if spot_share == 0 else "mixed"
        if not options:
            return self.item(resource, owner, "unpriced", None, "; ".join(reasons), pricing)
        hourly, chosen = min(options)
        detail = (
            f"{nodes:g} x {chosen} ({pricing}"
            + (f", {spot_share:.0%} spot" if pricing == "mixed" else "")
            + f") x {hours:g} h x ${hourly:.4f}/h; {basis}; EBS volumes not included "
            "(ebs_gp3_per_gb_month unknown)"
        )
        if reasons:
            detail += "; not considered: " + "; ".join(reasons)
        return self.item(resource, owner, "priced", nodes * hours * hourly, detail, pricing)

    def item(
        self,
        resource: Mapping[str, Any],
        owner: str,
        status: str,
        monthly: float | None,
        detail: str,
        pricing: str = "",
    ) -> Item:
        return Item(
            urn=str(resource.get("urn", "")),
            type=str(resource.get("type", "")),
            name=str(resource.get("name", "")),
            tenant=owner,
            status=status,
            monthly_usd=monthly,
            detail=detail,
            pricing=pricing,
        )

    # -- per type ------------------------------------------------------------------------
    def price(self, resource: Mapping[str, Any]) -> Item | None:
        type_ = str(resource.get("type", ""))
        if not resource.get("custom") or type_.startswith("pulumi:"):
            return None
        owner = self.owner(resource)
        inputs = resource.get("inputs") or {}
        handler = _HANDLERS.get(type_)
        if handler is not None:
            return handler(self, resource, owner, inputs)
        if _NO_CHARGE.fullmatch(type_):
            package = type_.split(":", 1)[0]
            reason = _NO_CHARGE_REASON.get(package, "no charge of its own")
            return self.item(resource, owner, "no-charge", 0.0, reason)
        return self.item(
            resource, owner, "unpriced", None, f"{type_}: no price model for this type"
        )

    def node_pool(self, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
        spec = inputs.get("spec") or {}
        template = spec.get("template") or {}
        requirements = (template.get("spec") or {}).get("requirements") or []
        values: dict[str, list[str]] = {}
        for requirement in requirements:
            if isinstance(requirement, Mapping) and requirement.get("operator") == "In":
                values[str(requirement.get("key"))] = [
                    str(v) for v in requirement.get("values") or []
                ]
        types = values.get("node.kubernetes.io/instance-type", [])
        capacity = values.get("karpenter.sh/capacity-type", ["on-demand"])
        zones = values.get("topology.k8s.aws/zone-id", [])
        name = str((inputs.get("metadata") or {}).get("name") or resource.get("name"))
        rule = self._pool_rule(name, self.tier(owner))
        share = float(rule.get("spot_share", 1.0)) if "spot" in capacity else 0.0
        if "on-demand" not in capacity:
            share = 1.0
        if not types:
            return self.item(
                resource, owner, "unpriced", None, f"NodePool {name}: no instance-type requirement"
            )
        basis = f"usage rule match={rule['match']!r}" + (
            f" tier={rule['tier']}" if "tier" in rule else ""
        )
        return self.compute(
            resource, owner, types, share, zones, float(rule["nodes"]), float(rule["hours"]), basis
        )

    def _pool_rule(self, name: str, tier: str) -> Mapping[str, Any]:
        for rule in self.usage["node_pools"]:
            if fnmatch.fnmatchcase(name, rule["match"]) and rule.get("tier", tier) == tier:
                return rule
        return {"match": "*", "nodes": 1, "hours": self.hours, "spot_share": 1.0}

    def node_group(self, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
        scaling = inputs.get("scalingConfig") or {}
        nodes = scaling.get("desiredSize", scaling.get("minSize", 1))
        share = 1.0 if inputs.get("capacityType") == "SPOT" else 0.0
        return self.compute(
            resource,
            owner,
            [str(t) for t in inputs.get("instanceTypes") or []],
            share,
            [],
            float(nodes if isinstance(nodes, (int, float)) else 1),
            self.hours,
            "managed node group at its desired size, all month",
        )

    def instance(self, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
        share = 1.0 if inputs.get("instanceMarketOptions") else 0.0
        return self.compute(
            resource,
            owner,
            [str(inputs.get("instanceType"))],
            share,
            [],
            1,
            self.hours,
            "all month",
        )


def _marks(resource: Mapping[str, Any]) -> dict[str, str]:
    """Tags and labels of a resource (AWS tags, Kubernetes labels, NodePool template labels)."""
    inputs = resource.get("inputs") or {}
    marks: dict[str, str] = {}
    sources = [
        inputs.get("tags"),
        (inputs.get("metadata") or {}).get("labels")
        if isinstance(inputs.get("metadata"), Mapping)
        else None,
    ]
    spec = inputs.get("spec")
    if isinstance(spec, Mapping):
        template = spec.get("template")
        if isinstance(template, Mapping) and isinstance(template.get("metadata"), Mapping):
            sources.append(template["metadata"].get("labels"))
    for source in sources:
        if isinstance(source, Mapping):
            marks.update({str(k): str(v) for k, v in source.items() if isinstance(v, str)})
    return marks


def _first(marks: Mapping[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        if key in marks:
            return marks[key]
    return None


def _eks(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    return pricer.services(resource, owner, [("eks_cluster_hour", "", pricer.hours, "cluster-h")])


def _nat(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    return pricer.services(
        resource,
        owner,
        [
            ("nat_gateway", "_per_hour", pricer.hours, "h"),
            ("nat_gateway", "_per_gb", pricer.quantity(owner, "nat_gb"), "GB processed"),
        ],
    )


def _endpoint(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    if inputs.get("vpcEndpointType", "Gateway") == "Gateway":
        return pricer.item(resource, owner, "no-charge", 0.0, "gateway endpoints have no charge")
    zones = max(1, len(inputs.get("subnetIds") or []))
    return pricer.services(
        resource, owner, [("vpc_interface_endpoint_per_hour", "", pricer.hours * zones, "ENI-h")]
    )


def _kms(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    return pricer.services(resource, owner, [("kms_key_per_month", "", 1, "key-month")])


def _bucket(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    gb = pricer.quantity(owner, "s3_gb")
    return pricer.services(resource, owner, [("s3_standard_per_gb_month", "", gb, "GB-month")])


def _dynamodb(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    parts = [
        ("dynamodb_storage_per_gb_month", "", pricer.quantity(owner, "dynamodb_gb"), "GB-month")
    ]
    if inputs.get("billingMode", "PROVISIONED") == "PAY_PER_REQUEST":
        parts += [
            (
                "dynamodb_on_demand_per_million_read_request_units",
                "",
                pricer.quantity(owner, "dynamodb_million_reads"),
                "M reads",
            ),
            (
                "dynamodb_on_demand_per_million_write_request_units",
                "",
                pricer.quantity(owner, "dynamodb_million_writes"),
                "M writes",
            ),
        ]
    else:
        return pricer.item(
            resource, owner, "unpriced", None, "provisioned capacity: no price model in the data"
        )
    return pricer.services(resource, owner, parts)


def _elasticache(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    node_type = str(inputs.get("nodeType") or "")
    nodes = inputs.get("numCacheClusters") or 1
    key = f"elasticache_{node_type.replace('.', '_')}_per_hour"
    return pricer.services(
        resource, owner, [(key, "", pricer.hours * float(nodes), f"{node_type} node-h")]
    )


def _sqs(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    requests = pricer.quantity(owner, "sqs_million_requests")
    return pricer.services(
        resource, owner, [("sqs_per_million_requests", "", requests, "M requests")]
    )


def _logs(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    gb = pricer.quantity(owner, "logs_gb")
    return pricer.services(
        resource, owner, [("cloudwatch_logs_ingestion_per_gb", "", gb, "GB ingested")]
    )


def _backup_vault(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    gb = pricer.quantity(owner, "backup_gb")
    return pricer.services(resource, owner, [("backup_storage_per_gb_month", "", gb, "GB-month")])


def _eip(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    return pricer.services(resource, owner, [("public_ipv4_per_hour", "", pricer.hours, "IPv4-h")])


def _secret(pricer: _Pricer, resource: Mapping[str, Any], owner: str, inputs: Any) -> Item:
    return pricer.services(
        resource, owner, [("secretsmanager_secret_per_month", "", 1, "secret-month")]
    )


_HANDLERS: dict[str, Any] = {
    "kubernetes:karpenter.sh/v1:NodePool": _Pricer.node_pool,
    "aws:eks/nodeGroup:NodeGroup": _Pricer.node_group,
    "aws:ec2/instance:Instance": _Pricer.instance,
    "aws:eks/cluster:Cluster": _eks,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:kms/key:Key": _kms,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:dynamodb/table:Table": _dynamodb,
    "aws:elasticache/replicationGroup:ReplicationGroup": _elasticache,
    "aws:sqs/queue:Queue": _sqs,
    "aws:cloudwatch/logGroup:LogGroup": _logs,
    "aws:ec2/flowLog:FlowLog": _logs,
    "aws:backup/vault:Vault": _backup_vault,
    "aws:ec2/eip:Eip": _eip,
    "aws:secretsmanager/secret:Secret": _secret,
}


def plan_region(plan: Mapping[str, Any]) -> str | None:
    """The stack's AWS region: ``aws:region`` config, else the default AWS provider's."""
    region = (plan.get("config") or {}).get("aws:region")
    if isinstance(region, str) and region:
        return region
    for resource in plan.get("resources") or []:
        if resource.get("type") == "pulumi:providers:aws":
            region = (resource.get("inputs") or {}).get("region")
            if isinstance(region, str) and region:
                return region
    return None


def plan_budgets(plan: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The program's exported ``costBudgets`` (``{"tenants": {...}, "tiers": {...}}``)."""
    exported = (plan.get("outputs") or {}).get("costBudgets")
    if exported is None:
        return {}
    where = "stack output costBudgets"
    if not isinstance(exported, Mapping) or set(exported) - {"tenants", "tiers"}:
        raise CostError(f"{where}: expected {{'tenants': {{name: usd}}, 'tiers': {{tier: usd}}}}")
    budgets: dict[str, dict[str, float]] = {}
    for kind in ("tenants", "tiers"):
        table = exported.get(kind) or {}
        if not isinstance(table, Mapping):
            raise CostError(f"{where}.{kind}: expected a mapping of name to monthly USD")
        budgets[kind] = {
            str(name): _number(value, f"{where}.{kind}.{name}") for name, value in table.items()
        }
    return budgets


def estimate_plan(
    plan: Mapping[str, Any],
    usage: Mapping[str, Any] | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> Estimate:
    """The monthly estimate of ``plan`` (and its difference to ``baseline``, a prior JSON)."""
    usage = usage if usage is not None else load_usage()
    region = plan_region(plan)
    # A plan without an AWS region (an on-premises cluster only) has nothing to price
    # from region data; an AWS resource in it would be unpriced, saying so.
    prices = (
        load_prices(region)
        if region
        else PriceData("(none)", "(no AWS region in the plan)", "", {}, {}, [])
    )
    pricer = _Pricer(plan, usage, prices)
    items = [
        item
        for item in (pricer.price(resource) for resource in plan.get("resources") or [])
        if item is not None
    ]
    estimate = Estimate(
        project=str(plan.get("project") or ""),
        stack=str(plan.get("stack") or ""),
        prices=prices,
        hours=pricer.hours,
        items=items,
        tenant_tiers=dict(sorted(pricer.tenant_tiers.items())),
        budgets=plan_budgets(plan),
    )
    if baseline is not None:
        estimate.baseline = diff_baseline(estimate, baseline)
    return estimate


def load_baseline(path: pathlib.Path) -> dict[str, Any]:
    """A prior ``mlplatform cost --format json`` output."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CostError(f"{path}: cannot read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise CostError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("total"), dict):
        raise CostError(f"{path}: not a `mlplatform cost --format json` output (no 'total')")
    return data


def diff_baseline(estimate: Estimate, baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Per owner and in total: before, after, change (priced USD)."""
    before_owners = {
        **{
            name: float(entry.get("pricedUsd") or 0)
            for name, entry in (baseline.get("tenants") or {}).items()
        },
        SHARED: float((baseline.get("shared") or {}).get("pricedUsd") or 0),
    }
    rows = {}
    for owner in sorted(set(before_owners) | set(estimate.owners())):
        before = before_owners.get(owner, 0.0)
        after = estimate.priced(owner)
        rows[owner] = {
            "beforeUsd": round(before, 2),
            "afterUsd": round(after, 2),
            "changeUsd": round(after - before, 2),
        }
    before_total = float((baseline.get("total") or {}).get("pricedUsd") or 0)
    return {
        "owners": rows,
        "total": {
            "beforeUsd": round(before_total, 2),
            "afterUsd": round(estimate.priced(), 2),
            "changeUsd": round(estimate.priced() - before_total, 2),
        },
    }


def render_text(estimate: Estimate) -> str:
    """A budget owner's summary: per tenant, per tier, shared, total; unpriced listed."""
    lines = [
        f"Monthly cost estimate of {estimate.project}/{estimate.stack} "
        f"({estimate.hours:g} h/month, USD, prices: {estimate.prices.file}, "
        f"researched {estimate.prices.research_date})",
        "",
        f"{'owner':28} {'tier':11} {'priced $/month':>15} {'budget':>11} {'unpriced':>9}",
    ]
    budgets = estimate.budgets.get("tenants", {})
    for owner in estimate.owners():
        tier = "-" if owner == SHARED else estimate.tenant_tiers.get(owner, "unknown")
        budget = budgets.get(owner)
        lines.append(
            f"{owner:28} {tier:11} {estimate.priced(owner):>15,.2f} "
            f"{'-' if budget is None else f'{budget:,.0f}':>11} {len(estimate.unpriced(owner)):>9}"
        )
    lines.append(
        f"{'TOTAL (priced items only)':40} {estimate.priced():>15,.2f} {'':>11} "
        f"{len(estimate.unpriced()):>9}"
    )
    split = ", ".join(f"{key} ${value:,.2f}" for key, value in estimate.by_pricing().items())
    lines.append(f"{'':28} priced by capacity: {split or 'nothing priced'}")
    lines.append("")
    for tier, tenants in estimate.tiers().items():
        spent = sum(estimate.priced(t) for t in tenants)
        budget = estimate.budgets.get("tiers", {}).get(tier)
        shown = "" if budget is None else f" (budget ${budget:,.2f})"
        lines.append(f"tier {tier}: ${spent:,.2f}/month{shown} - {', '.join(tenants)}")
    if estimate.baseline:
        lines.append("")
        lines.append("Change since the baseline:")
        for owner, row in estimate.baseline["owners"].items():
            if row["changeUsd"]:
                lines.append(
                    f"  {owner}: ${row['beforeUsd']:,.2f} -> ${row['afterUsd']:,.2f} "
                    f"({row['changeUsd']:+,.2f})"
                )
        total = estimate.baseline["total"]
        lines.append(
            f"  total: ${total['beforeUsd']:,.2f} -> ${total['afterUsd']:,.2f} "
            f"({total['changeUsd']:+,.2f})"
        )
    unpriced = estimate.unpriced()
    if unpriced:
        lines.append("")
        lines.append(f"Unpriced ({len(unpriced)}; not in the totals, never counted as $0):")
        for item in unpriced:
            lines.append(f"  {item.tenant}: {item.type} {item.name}: {item.detail}")
    if not any(item.status != "no-charge" for item in estimate.items):
        lines.append("")
        lines.append(
            "Nothing in this plan is billed by a cloud provider (e.g. an on-premises "
            "cluster): its hardware is outside the plan."
        )
    over = estimate.over_budget()
    lines.append("")
    if over:
        lines.extend(f"OVER BUDGET: {line}" for line in over)
    else:
        lines.append("Within budgets." if estimate.budgets else "No budgets exported.")
    return "\n".join(lines) + "\n"
