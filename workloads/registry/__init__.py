"""The tenant's model registry: one JSON index per model in the tenant bucket."""
