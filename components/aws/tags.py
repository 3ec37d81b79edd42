"""Tags of a tenant's data-bearing AWS resources (the residency and Zero Trust packs read them)."""

from __future__ import annotations

from collections.abc import Mapping

DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
"""Allowed values of the ``data-classification`` tag (the residency pack checks them)."""


def data_tags(
    tenant: str, classification: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Tags every data-bearing AWS resource of a tenant carries (owner and classification)."""
    if classification not in DATA_CLASSIFICATIONS:
        raise ValueError(
            f"data_classification {classification!r}: allowed {', '.join(DATA_CLASSIFICATIONS)}"
        )
    return {"tenant": tenant, "data-classification": classification, **dict(extra or {})}
