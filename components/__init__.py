"""Pulumi ComponentResources: the building blocks of the platform."""
