"""Reading a stack's config into :class:`PlatformSettings`, one line per problem.

Bad configuration fails before any resource is registered: :class:`ConfigError` carries
one line per problem naming the stack file, the config key path and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.settings.models import (
    PROFILES,
    PROJECT,
    ConfigError,
    Mode,
    PlatformSettings,
    StackSpec,
    Tenant,
)
from components.settings.presets import resolve_tenant
from contracts import regions
from contracts.names import DEFAULT_REGION


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = f"{PROJECT}:{part}"
    return out


def _describe(err: Mapping[str, Any]) -> str:
    etype = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if etype == "extra_forbidden":
        return "unknown key (check the spelling; see the settings reference in README)"
    if etype == "missing":
        return "required but missing"
    if etype == "enum":
        return f"'{value}' is not allowed; allowed: {ctx.get('expected', '').replace(' or ', ', ')}"
    if etype == "literal_error":
        return f"'{value}' is not allowed; allowed: {ctx.get('expected', '')}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def validation_lines(stack_file: str, exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``<file>: <key path>: <problem>``."""
    lines = []
    for err in exc.errors():
        path = _loc_to_path(tuple(err["loc"])) or PROJECT
        lines.append(f"{stack_file}: {path}: {_describe(err)}")
    return lines


def settings_from_config(
    config: Mapping[str, Any], *, project: str, stack: str, stack_file: str
) -> PlatformSettings:
    """Validate raw stack config (key -> already-parsed value) into PlatformSettings.

    ``config`` maps full keys (``aws:region``, ``sovereign-ml-platform:tenants``) to
    values as Pulumi would hand them to the program after JSON-decoding objects.
    Raises ConfigError with every problem found.
    """
    namespace = f"{project}:"
    raw = {k[len(namespace) :]: v for k, v in config.items() if k.startswith(namespace)}
    region = config.get("aws:region")
    problems = _region_problems(raw, region, stack_file)
    try:
        spec = StackSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems + validation_lines(stack_file, exc)) from None
    if problems:
        raise ConfigError(problems)

    region = str(region or DEFAULT_REGION)
    zone_ids, problems = _zones(spec, region, stack_file)
    problems += _signing_key_problems(spec, stack_file)
    tenants: list[Tenant] = []
    for index, tenant_spec in enumerate(spec.tenants):
        tenant, errors = resolve_tenant(
            tenant_spec,
            f"{PROJECT}:tenants[{index}]",
            region,
            zone_ids or ["-"],
            spec.model_signing_public_key,
        )
        problems.extend(f"{stack_file}: {e}" for e in errors)
        if tenant is not None:
            tenants.append(tenant)
    if problems:
        raise ConfigError(problems)

    return PlatformSettings(
        project=project,
        stack=stack,
        stack_file=stack_file,
        environment=spec.environment,
        profile=PROFILES[spec.environment],
        mode=spec.mode,
        region=region,
        allowed_regions=spec.allowed_regions,
        zone_ids=zone_ids,
        network=spec.network,
        cluster=spec.cluster,
        registry=spec.registry,
        hybrid=spec.hybrid,
        dr_site=spec.dr_site,
        tags=spec.tags,
        tenants=tenants,
        tier_budgets_usd=spec.tier_budgets_usd,
    )


def _region_problems(raw: Mapping[str, Any], region: Any, stack_file: str) -> list[str]:
    """``aws:region``: required in aws mode, one of the allowed (UAE) regions."""
    if raw.get("mode", Mode.AWS.value) != Mode.AWS.value:
        return []
    allowed = raw.get("allowed_regions")
    if not (isinstance(allowed, list) and all(isinstance(r, str) for r in allowed)):
        allowed = [DEFAULT_REGION]
    if region is None:
        return [f"{stack_file}: aws:region: required in aws mode; allowed: {', '.join(allowed)}"]
    if region not in allowed:
        return [
            f"{stack_file}: aws:region: '{region}' is not allowed; allowed: "
            f"{', '.join(allowed)} (UAE data residency"
            + ("; me-south-1 is Bahrain, not the UAE)" if region == "me-south-1" else ")")
        ]
    return []


def _zones(spec: StackSpec, region: str, stack_file: str) -> tuple[list[str], list[str]]:
    """The stack's usable zone ids (aws mode) and the problems with the zone settings."""
    problems: list[str] = []
    offers = regions.load(region)
    if spec.mode is not Mode.AWS:
        return [], problems
    if offers is None:
        if region in spec.allowed_regions:
            problems.append(
                f"{stack_file}: aws:region: no offering data ships for '{region}'; "
                f"available: {', '.join(regions.regions_with_data())}"
            )
        return [], problems
    known = set(offers.zone_ids)
    impaired = [z.zone_id for z in spec.network.impaired_zones]
    for field, declared in (
        ("zone_ids", spec.network.zone_ids or []),
        ("excluded_zone_ids", spec.network.excluded_zone_ids),
        ("impaired_zones", impaired),
    ):
        for zone in declared:
            if zone not in known:
                problems.append(
                    f"{stack_file}: {PROJECT}:network.{field}: '{zone}' is not a zone id of "
                    f"{region}; allowed: {', '.join(offers.zone_ids)} (use zone ids, "
                    "not zone names)"
                )
    # By default every zone the shipped data does not call lost; a lost zone named
    # explicitly (and not excluded) is an error.
    lost_zones = offers.lost_zone_ids()
    chosen = spec.network.zone_ids or [z for z in offers.zone_ids if z not in lost_zones]
    excluded = {*spec.network.excluded_zone_ids, *impaired}
    zone_ids = [z for z in chosen if z not in excluded]
    for zone in zone_ids:
        if zone in lost_zones:
            lost = offers.impairments[zone]
            problems.append(
                f"{stack_file}: {PROJECT}:network.zone_ids: '{zone}' is lost since {lost.since} "
                f"({lost.note}); add it to network.excluded_zone_ids or network.impaired_zones"
            )
    if len(zone_ids) < 2:
        problems.append(
            f"{stack_file}: {PROJECT}:network: {len(zone_ids)} usable zone(s) "
            f"({', '.join(zone_ids) or 'none'}); stateful data must span at least two "
            "healthy zones"
        )
    for instance_type in spec.cluster.system_nodes.instance_types:
        if offers.offered(instance_type) is None:
            problems.append(
                f"{stack_file}: {PROJECT}:cluster.system_nodes.instance_types: "
                f"'{instance_type}' is not offered in {region} (offerings of {offers.data_date})"
            )
    return zone_ids, problems


def _signing_key_problems(spec: StackSpec, stack_file: str) -> list[str]:
    """The stack-level key is required unless every tenant brings its own."""
    unkeyed = [t.name for t in spec.tenants if t.overrides.model_signing_public_key is None]
    if spec.model_signing_public_key is None and unkeyed:
        return [
            f"{stack_file}: {PROJECT}:model_signing_public_key: required but missing; give "
            "the PEM of the Ed25519 public key that verifies signed models (tenants serving "
            f"models without their own key: {', '.join(unkeyed)})"
        ]
    return []


def load_settings() -> PlatformSettings:
    """Read the running Pulumi program's config once and validate it.

    Pulumi hands structured config values to the program as JSON strings; they are
    decoded here. Raises ConfigError.
    """
    import json

    import pulumi
    from pulumi.runtime.config import CONFIG  # the whole map, as the CLI set it

    project = pulumi.get_project()
    stack = pulumi.get_stack()
    raw: dict[str, Any] = {}
    for key, value in CONFIG.get().items():
        try:
            raw[key] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
        except json.JSONDecodeError:
            raw[key] = value
    return settings_from_config(
        raw,
        project=project,
        stack=stack,
        stack_file=_stack_file(stack),
    )


def _stack_file(stack: str) -> str:
    """The running stack's config file as messages name it: relative to the project root.

    The root is where ``Pulumi.yaml`` lives (the CLI tells the program); the file sits in
    the project's ``stackConfigDir``.
    """
    import pulumi
    import yaml

    name = f"Pulumi.{stack}.yaml"
    try:
        root = pulumi.get_root_directory()
    except AttributeError:  # settings made by an older test harness carry no root
        root = None
    if not root:
        return name
    try:
        project = yaml.safe_load((Path(root) / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        project = {}
    config_dir = project.get("stackConfigDir") if isinstance(project, dict) else None
    return str(Path(config_dir) / name) if isinstance(config_dir, str) else name
