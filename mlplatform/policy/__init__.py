"""Offline CrossGuard: run the policy packs over a plan through the Analyzer protocol."""

from mlplatform.policy.runner import (
    PackConfigError,
    PackError,
    PolicyReport,
    Violation,
    discover_packs,
    load_pack_config,
    run_packs,
)

__all__ = [
    "PackConfigError",
    "PackError",
    "PolicyReport",
    "Violation",
    "discover_packs",
    "load_pack_config",
    "run_packs",
]
