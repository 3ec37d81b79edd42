"""Declaring a rule: one call to :func:`rule` per rule, in every pack.

A rule is one validator function plus its metadata: a kebab-case name, a description,
a severity, an enforcement level, the framework controls it serves, remediation text
and, when it is configurable, its settings (each a :class:`Setting`: the JSON schema of
the value and its default). :func:`rule` wraps the validator in the pulumi-policy class
the CrossGuard engine understands (a resource or a stack validation policy), so the
same object is served by the packs and called directly by the tests.

The wrappers hand validators plain data, never pulumi-policy's unknown-checking
proxies (see :mod:`policies.rules.common` for why), and the merged configuration:
each setting's default, overridden by the pack configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.rules.common import (
    ResourceCheck,
    StackCheck,
    StackResource,
    plain,
    plain_once,
    plain_provider_once,
)

ResourceValidator = Callable[[ResourceCheck], None]
StackValidator = Callable[[StackCheck], None]
TypeFilter = Iterable[str] | Callable[[str], bool]
"""The resource types a resource rule looks at: a set of type tokens, or a predicate."""


@dataclass(frozen=True)
class Framework:
    """One control of a compliance framework that a rule serves."""

    name: str
    """Framework name, e.g. ``UAE PDPL``."""
    control: str
    """Article or control id within it, e.g. ``Art. 22`` or ``EKS.1``."""
    version: str = ""
    """Edition of the framework, when it matters."""

    @property
    def tag(self) -> str:
        """A machine-readable tag, ``framework:<name>:<control>``, sent over the protocol."""
        return f"framework:{self.name}:{self.control}"


@dataclass(frozen=True)
class Setting:
    """One configurable setting of a rule: its default and the JSON schema of its value."""

    default: Any
    """The value a validator sees when the pack configuration does not set it."""
    schema: Mapping[str, Any]
    """JSON schema of the value (``type``, ``items``, ``description``...), without the default."""

    def property_schema(self) -> dict[str, Any]:
        """The schema the engine receives: :attr:`schema` with its ``default``."""
        return {**self.schema, "default": self.default}


@dataclass(frozen=True)
class RuleInfo:
    """Everything about a rule except its validator."""

    name: str
    description: str
    severity: Severity
    enforcement_level: EnforcementLevel
    frameworks: tuple[Framework, ...]
    remediation: str
    settings: Mapping[str, Setting] = field(default_factory=dict)

    def config_defaults(self) -> dict[str, Any]:
        """Each setting's default, by setting name."""
        return {key: setting.default for key, setting in self.settings.items()}

    def policy_arguments(self) -> dict[str, Any]:
        """The keyword arguments pulumi-policy's policy classes take (``validate`` aside)."""
        primary = self.frameworks[0] if self.frameworks else None
        return {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.enforcement_level,
            "severity": self.severity,
            "remediation_steps": self.remediation,
            "config_schema": (
                PolicyConfigSchema(
                    properties={
                        key: setting.property_schema() for key, setting in self.settings.items()
                    }
                )
                if self.settings
                else None
            ),
            "framework": (
                PolicyComplianceFramework(
                    name=primary.name, version=primary.version or None, reference=primary.control
                )
                if primary
                else None
            ),
            "tags": [framework.tag for framework in self.frameworks],
        }


def _merged_config(defaults: dict[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    # Validators only read their config, so the defaults are shared, not copied.
    if not given:
        return defaults
    merged = dict(defaults)
    for key, value in (given or {}).items():
        merged[key] = plain(value)
    return merged


class RulePolicy(ResourceValidationPolicy):
    """A resource rule: filters by type, unwraps proxies, then calls the validator."""

    def __init__(self, info: RuleInfo, validator: ResourceValidator, types: TypeFilter) -> None:
        self.info = info
        self.frameworks = info.frameworks
        self.config_defaults = info.config_defaults()
        self.validator = validator
        if callable(types):
            self.resource_types: frozenset[str] | None = None
            self.type_predicate: Callable[[str], bool] | None = types
        else:
            self.resource_types = frozenset(types)
            self.type_predicate = None
        super().__init__(validate=self._validate, **info.policy_arguments())

    def applies_to(self, resource_type: str) -> bool:
        """Whether this rule looks at resources of ``resource_type`` at all."""
        if self.resource_types is not None:
            return resource_type in self.resource_types
        return self.type_predicate is not None and self.type_predicate(resource_type)

    def _validate(self, args: ResourceValidationArgs, report_violation: Any) -> None:
        if not self.applies_to(args.resource_type):
            return
        provider = args.provider
        check = ResourceCheck(
            resource_type=args.resource_type,
            name=args.name,
            urn=args.urn,
            props=plain_once(args.props),
            provider_type=provider.resource_type if provider is not None else None,
            provider_name=provider.name if provider is not None else None,
            provider_props=plain_provider_once(provider.props) if provider is not None else {},
            config=_merged_config(self.config_defaults, args.get_config()),
            report=lambda message: report_violation(message, None),
        )
        self.validator(check)


class StackRulePolicy(StackValidationPolicy):
    """A stack rule: wraps every resource for plain-data access, then calls the validator."""

    def __init__(self, info: RuleInfo, validator: StackValidator) -> None:
        self.info = info
        self.frameworks = info.frameworks
        self.config_defaults = info.config_defaults()
        self.validator = validator
        super().__init__(validate=self._validate, **info.policy_arguments())

    def _validate(self, args: StackValidationArgs, report_violation: Any) -> None:
        check = StackCheck(
            resources=[StackResource(resource) for resource in args.resources],
            config=_merged_config(self.config_defaults, args.get_config()),
            report=lambda message, urn: report_violation(message, urn),
        )
        self.validator(check)


@overload
def rule(
    name: str,
    description: str,
    validator: ResourceValidator,
    *,
    types: TypeFilter,
    severity: Severity,
    frameworks: Sequence[Framework],
    remediation: str,
    config: Mapping[str, Setting] | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> RulePolicy: ...


@overload
def rule(
    name: str,
    description: str,
    validator: StackValidator,
    *,
    stack: Literal[True],
    severity: Severity,
    frameworks: Sequence[Framework],
    remediation: str,
    config: Mapping[str, Setting] | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackRulePolicy: ...


def rule(
    name: str,
    description: str,
    validator: Any,
    *,
    types: TypeFilter | None = None,
    stack: bool = False,
    severity: Severity,
    frameworks: Sequence[Framework],
    remediation: str,
    config: Mapping[str, Setting] | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> RulePolicy | StackRulePolicy:
    """Declare one rule.

    A resource rule names the resource ``types`` it looks at (type tokens, or a
    predicate over them) and its validator gets one :class:`ResourceCheck` per resource
    of those types; a ``stack`` rule's validator gets the whole stack as one
    :class:`StackCheck`. ``config`` maps each setting name to its :class:`Setting`;
    the pack configuration may override the defaults within the schemas. The first of
    ``frameworks`` is reported as the policy's compliance framework, all of them as
    ``framework:<name>:<control>`` tags.
    """
    info = RuleInfo(
        name=name,
        description=description,
        severity=severity,
        enforcement_level=enforcement_level,
        frameworks=tuple(frameworks),
        remediation=remediation,
        settings=dict(config or {}),
    )
    if stack == (types is not None):
        raise TypeError(f"rule {name!r}: give either resource types or stack=True")
    if types is not None:
        return RulePolicy(info, validator, types)
    return StackRulePolicy(info, validator)
