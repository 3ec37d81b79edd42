"""Reading a Pulumi project the way the Pulumi CLI does: ``Pulumi.yaml`` and its stack files.

Stack config is turned into the flat ``{"<namespace>:<key>": "<string>"}`` map that the
CLI hands a Python program: plain keys get the project namespace, objects and lists
are JSON-encoded, ``secure:`` values become secrets (offline they cannot be decrypted,
so a fixed placeholder stands in and the key is marked secret).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECRET_PLACEHOLDER = "offline-secret-placeholder"  # noqa: S105 - a marker, not a secret


class UsageError(Exception):
    """Bad usage or configuration: one line per problem, exit code 2."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


@dataclass
class Project:
    """A Pulumi project folder and one of its stacks, with the stack's config."""

    root: Path
    name: str
    main_dir: Path
    stack: str
    stack_file: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    raw_config: dict[str, Any] = field(default_factory=dict)

    def display(self, path: Path) -> str:
        """``path`` relative to the project root when possible."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def _load_yaml(path: Path, shown: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{shown}: malformed YAML{where}: {problem}") from None
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read: {exc.strerror}") from None


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _strip_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _strip_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secure(v) for v in value]
    return value


def load_project(program_dir: Path, stack: str) -> Project:
    """Read ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` from ``program_dir``."""
    program_dir = program_dir.resolve()
    pfile = program_dir / "Pulumi.yaml"
    if not pfile.is_file():
        alt = program_dir / "Pulumi.yml"
        if not alt.is_file():
            raise UsageError(
                f"{program_dir}: no Pulumi.yaml here; --program must name a Pulumi project folder"
            )
        pfile = alt
    meta = _load_yaml(pfile, pfile.name)
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise UsageError(f"{pfile.name}: 'name' is required (the project name)")
    runtime = meta.get("runtime")
    rname = runtime.get("name") if isinstance(runtime, dict) else runtime
    if rname != "python":
        raise UsageError(f"{pfile.name}: runtime: '{rname}' is not supported; allowed: python")
    name = meta["name"]
    main_dir = (program_dir / str(meta.get("main") or ".")).resolve()
    if main_dir.is_file():
        main_dir = main_dir.parent
    if not (main_dir / "__main__.py").is_file():
        raise UsageError(f"{pfile.name}: main: no __main__.py in {main_dir.name or main_dir}/")
    config_dir = (program_dir / str(meta.get("stackConfigDir") or ".")).resolve()
    sfile = config_dir / f"Pulumi.{stack}.yaml"
    project = Project(root=program_dir, name=name, main_dir=main_dir, stack=stack, stack_file=sfile)
    shown = project.display(sfile)
    if not sfile.is_file():
        available = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml")
        )
        raise UsageError(
            f"unknown stack '{stack}': no {project.display(config_dir / sfile.name)}; "
            f"available: {', '.join(available) or 'none'}"
        )
    data = _load_yaml(sfile, shown) or {}
    if not isinstance(data, dict):
        raise UsageError(f"{shown}: the top level must be a mapping with a 'config' key")
    unknown_top = sorted(
        set(data) - {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}
    )
    if unknown_top:
        raise UsageError(
            f"{shown}: unknown top-level key(s) {', '.join(unknown_top)}; allowed: config, secretsprovider, encryptedkey, encryptionsalt, environment"
        )
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise UsageError(f"{shown}: config: must be a mapping of keys to values")

    # Project-level defaults (Pulumi.yaml `config:` with `default:` or a bare value).
    defaults = meta.get("config") or {}
    merged: dict[str, Any] = {}
    if isinstance(defaults, dict):
        for key, spec in defaults.items():
            full = key if ":" in key else f"{name}:{key}"
            if isinstance(spec, dict) and "default" in spec:
                merged[full] = spec["default"]
            elif not isinstance(spec, dict):
                merged[full] = spec
    for key, value in config.items():
        full = str(key) if ":" in str(key) else f"{name}:{key}"
        merged[full] = value

    for key, value in merged.items():
        if _has_secure(value):
            project.secret_keys.append(key)
        clean = _strip_secure(value)
        project.raw_config[key] = clean
        project.config[key] = _encode(clean)
    return project
