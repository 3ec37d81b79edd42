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


class EngineError(Exception):
    """An error for the user: one line per problem (``lines``), no traceback, exit code 2."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class UsageError(EngineError):
    """Bad usage or configuration."""


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
        return set(value) == {"secure"} or any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


def _strip_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {key: _strip_secure(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip_secure(item) for item in value]
    return value


_STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


def load_project(program_dir: Path, stack: str) -> Project:
    """Read ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` from ``program_dir``."""
    program_dir = program_dir.resolve()
    project_file, project_meta = _read_project_file(program_dir)
    name = project_meta["name"]
    main_dir = _main_dir(program_dir, project_file, project_meta)
    config_dir = (program_dir / str(project_meta.get("stackConfigDir") or ".")).resolve()
    stack_file = config_dir / f"Pulumi.{stack}.yaml"
    project = Project(
        root=program_dir, name=name, main_dir=main_dir, stack=stack, stack_file=stack_file
    )
    config = _read_stack_config(project, config_dir)
    for key, value in _merged_config(name, project_meta.get("config"), config).items():
        if _has_secure(value):
            project.secret_keys.append(key)
        clean = _strip_secure(value)
        project.raw_config[key] = clean
        project.config[key] = _encode(clean)
    return project


def _read_project_file(program_dir: Path) -> tuple[Path, dict[str, Any]]:
    """``Pulumi.yaml`` (or ``.yml``) and its content: a named Python project."""
    project_file = program_dir / "Pulumi.yaml"
    if not project_file.is_file():
        alternative = program_dir / "Pulumi.yml"
        if not alternative.is_file():
            raise UsageError(
                f"{program_dir}: no Pulumi.yaml here; --program must name a Pulumi project folder"
            )
        project_file = alternative
    project_meta = _load_yaml(project_file, project_file.name)
    if not isinstance(project_meta, dict) or not isinstance(project_meta.get("name"), str):
        raise UsageError(f"{project_file.name}: 'name' is required (the project name)")
    runtime = project_meta.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise UsageError(
            f"{project_file.name}: runtime: '{runtime_name}' is not supported; allowed: python"
        )
    return project_file, project_meta


def _main_dir(program_dir: Path, project_file: Path, project_meta: dict[str, Any]) -> Path:
    """The folder of the program's ``__main__.py`` (``main:`` may name it or a file in it)."""
    main_dir = (program_dir / str(project_meta.get("main") or ".")).resolve()
    if main_dir.is_file():
        main_dir = main_dir.parent
    if not (main_dir / "__main__.py").is_file():
        raise UsageError(
            f"{project_file.name}: main: no __main__.py in {main_dir.name or main_dir}/"
        )
    return main_dir


def _read_stack_config(project: Project, config_dir: Path) -> dict[Any, Any]:
    """The ``config:`` mapping of the stack file, which must exist and be well-formed."""
    stack_file = project.stack_file
    shown = project.display(stack_file)
    if not stack_file.is_file():
        available = sorted(
            path.name[len("Pulumi.") : -len(".yaml")] for path in config_dir.glob("Pulumi.*.yaml")
        )
        raise UsageError(
            f"unknown stack '{project.stack}': no {project.display(config_dir / stack_file.name)}; "
            f"available: {', '.join(available) or 'none'}"
        )
    stack_data = _load_yaml(stack_file, shown) or {}
    if not isinstance(stack_data, dict):
        raise UsageError(f"{shown}: the top level must be a mapping with a 'config' key")
    unknown_top = sorted(set(stack_data) - set(_STACK_FILE_KEYS))
    if unknown_top:
        raise UsageError(
            f"{shown}: unknown top-level key(s) {', '.join(unknown_top)}; "
            f"allowed: {', '.join(_STACK_FILE_KEYS)}"
        )
    config = stack_data.get("config") or {}
    if not isinstance(config, dict):
        raise UsageError(f"{shown}: config: must be a mapping of keys to values")
    return config


def _merged_config(project_name: str, defaults: Any, config: dict[Any, Any]) -> dict[str, Any]:
    """Project-level defaults (``Pulumi.yaml`` ``config:``, ``default:`` or a bare value),
    then the stack's values, under full ``namespace:key`` names."""
    merged: dict[str, Any] = {}
    if isinstance(defaults, dict):
        for key, spec in defaults.items():
            full_key = key if ":" in key else f"{project_name}:{key}"
            if isinstance(spec, dict) and "default" in spec:
                merged[full_key] = spec["default"]
            elif not isinstance(spec, dict):
                merged[full_key] = spec
    for key, value in config.items():
        full_key = str(key) if ":" in str(key) else f"{project_name}:{key}"
        merged[full_key] = value
    return merged
