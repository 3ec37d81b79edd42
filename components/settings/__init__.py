"""Typed stack settings: the only reader of Pulumi config.

A stack file names the environment, a few platform knobs and a list of tenants
(``name``, ``tier`` and optional ``overrides``). The tier preset fills in everything
else. Everything is validated here, once, before any resource is registered; a problem
becomes one line naming the stack file, the config key path and what is allowed.

Config keys live in the project namespace (``sovereign-ml-platform:<key>``) and use the
field names of :mod:`components.settings.models`; ``aws:region`` is read for the region.
:mod:`components.settings.presets` holds the tier presets, and
:mod:`components.settings.loading` reads and validates a stack's config.
"""

from components.settings.loading import load_settings, settings_from_config, validation_lines
from components.settings.models import (
    DEFAULT_MODELS,
    PROFILES,
    PROJECT,
    ClusterSettings,
    ConfigError,
    DataClassification,
    Environment,
    EnvironmentProfile,
    HybridSettings,
    InferenceSettings,
    Mode,
    ModelSettings,
    NetworkSettings,
    NodeGroupSettings,
    PlatformSettings,
    Quota,
    RegistrySettings,
    StackSpec,
    Tenant,
    TenantOverrides,
    TenantSpec,
)
from components.settings.presets import PRESETS, resolve_tenant

__all__ = [
    "DEFAULT_MODELS",
    "PRESETS",
    "PROFILES",
    "PROJECT",
    "ClusterSettings",
    "ConfigError",
    "DataClassification",
    "Environment",
    "EnvironmentProfile",
    "HybridSettings",
    "InferenceSettings",
    "Mode",
    "ModelSettings",
    "NetworkSettings",
    "NodeGroupSettings",
    "PlatformSettings",
    "Quota",
    "RegistrySettings",
    "StackSpec",
    "Tenant",
    "TenantOverrides",
    "TenantSpec",
    "load_settings",
    "resolve_tenant",
    "settings_from_config",
    "validation_lines",
]
