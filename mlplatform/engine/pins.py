"""Provider versions a checked program pins, against the ones the offline engine plans with.

A program is planned with the Pulumi SDKs installed here; one written for other versions
may use arguments or types those do not have (or no longer have). Its
``requirements.txt`` and ``pyproject.toml`` say what it expects; a pin that excludes the
installed version is worth one line of warning.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

CHECKED = ("pulumi", "pulumi-aws", "pulumi-kubernetes", "pulumi-random")
"""The SDKs whose schemas decide how a program plans."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _shown(specifier: SpecifierSet) -> str:
    """``>=7.23.0,<7.24.0``: lower bounds first, as people write them."""
    return ",".join(
        str(spec) for spec in sorted(specifier, key=lambda s: (s.operator[0] != ">", str(s)))
    )


def _poetry_specifier(spec: str) -> str:
    """Poetry's ``^1.2.3`` and ``~1.2`` as PEP 440 specifiers."""
    spec = spec.strip()
    if spec.startswith("^"):
        numbers = [int(part) for part in re.findall(r"\d+", spec)[:3]] or [0]
        index = next((i for i, part in enumerate(numbers) if part != 0), len(numbers) - 1)
        upper = [*numbers[:index], numbers[index] + 1]
        return f">={spec[1:]},<{'.'.join(map(str, upper))}"
    if spec.startswith("~") and not spec.startswith("~="):
        parts = re.findall(r"\d+", spec)
        bound = [parts[0], str(int(parts[1]) + 1)] if len(parts) > 1 else [str(int(parts[0]) + 1)]
        return f">={spec[1:]},<{'.'.join(bound)}"
    return "" if spec == "*" else spec


def declared_pins(program_dir: Path) -> list[tuple[str, str, str]]:
    """``(file, package, specifier)`` for each checked SDK the program's files pin."""
    pins: list[tuple[str, str, str]] = []
    requirements = program_dir / "requirements.txt"
    if requirements.is_file():
        for line in requirements.read_text(errors="replace").splitlines():
            text = line.split("#", 1)[0].strip()
            if not text or text.startswith("-"):
                continue
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if _canonical(requirement.name) in CHECKED and str(requirement.specifier):
                pins.append(
                    (requirements.name, _canonical(requirement.name), _shown(requirement.specifier))
                )
    pyproject = program_dir / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(errors="replace"))
        except tomllib.TOMLDecodeError:
            return pins
        for text in data.get("project", {}).get("dependencies", []) or []:
            try:
                requirement = Requirement(str(text))
            except InvalidRequirement:
                continue
            if _canonical(requirement.name) in CHECKED and str(requirement.specifier):
                pins.append(
                    (pyproject.name, _canonical(requirement.name), _shown(requirement.specifier))
                )
        poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
        for name, value in poetry.items():
            spec = value.get("version") if isinstance(value, dict) else value
            if _canonical(name) in CHECKED and isinstance(spec, str) and _poetry_specifier(spec):
                pins.append((pyproject.name, _canonical(name), _poetry_specifier(spec)))
    return pins


def version_warning(program_dir: Path) -> str | None:
    """One line naming the pins the installed SDKs do not satisfy; None when all do."""
    differing: dict[str, list[str]] = {}
    installed: dict[str, str] = {}
    for file, package, specifier in declared_pins(program_dir):
        try:
            version = metadata.version(package)
            wanted = SpecifierSet(specifier)
        except (metadata.PackageNotFoundError, InvalidSpecifier):
            continue
        if not wanted.contains(version, prereleases=True):
            differing.setdefault(file, []).append(f"{package}{specifier}")
            installed[package] = version
    if not differing:
        return None
    pinned = "; ".join(f"{file} pins {', '.join(pins)}" for file, pins in differing.items())
    ours = ", ".join(f"{package} {version}" for package, version in sorted(installed.items()))
    return f"{pinned}; planned with {ours} (resource arguments and outputs can differ)"
