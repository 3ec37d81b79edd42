"""The platform's Pulumi program: load the stack's settings, build the platform, export outputs."""

import sys
from pathlib import Path

import pulumi

# `pulumi up` runs this folder directly; make the repository's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.settings import ConfigError, load_settings

try:
    settings = load_settings()
except ConfigError as exc:
    # One line per problem, no traceback, and nothing registered yet.
    raise pulumi.RunError("invalid stack configuration:\n" + "\n".join(exc.lines)) from None

from components.platform import Platform

platform = Platform(settings.prefix(), settings)
for key, value in platform.exports().items():
    pulumi.export(key, value)
