"""Test helper: what an image built from one of our Dockerfiles holds, and what a command needs.

- :func:`image_files` reads a Dockerfile's ``COPY`` lines (from the build context, not
  ``--from`` another stage) and returns the repository files they bring in, and the
  requirements file it installs (``pip install -r``) and its ``ENTRYPOINT``.
- :func:`imports_of` follows a ``python -m <module>`` command through every import of our
  packages (absolute and relative, at any depth in the code, ``TYPE_CHECKING`` blocks
  excepted) and returns the modules it reaches (with their files) and the third-party
  top-level names they import.
- :func:`distribution_of` maps a top-level import name to the distributions that provide
  it (from the installed metadata, so ``yaml`` is PyYAML and ``google`` is protobuf).

No Docker needed: the Dockerfile is the source of truth the test reads.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = frozenset({"contracts", "workloads", "components", "mlplatform", "policies", "stacks"})


@dataclass
class Image:
    """What a Dockerfile puts in its image."""

    files: set[str] = field(default_factory=set)
    """Repository-relative paths copied into ``/app`` (same relative layout)."""
    requirements: str | None = None
    """Repository-relative path of the requirements file installed."""
    entrypoint: list[str] = field(default_factory=list)
    workdir: str = "/"


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def image_files(dockerfile: Path, text: str | None = None) -> Image:
    """The repository files a Dockerfile copies from the build context (the repo root)."""
    image = Image()
    copied_to: dict[str, str] = {}
    for line in _logical_lines(dockerfile.read_text() if text is None else text):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "WORKDIR":
            image.workdir = rest.strip()
        elif instruction == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif instruction == "COPY":
            parts = shlex.split(rest)
            if any(p.startswith("--from") for p in parts):
                continue
            *sources, dest = [p for p in parts if not p.startswith("--")]
            for source in sources:
                copied_to[source.rstrip("/")] = dest
        elif instruction == "RUN":
            match = re.search(r"pip install[^&]*?-r\s+(\S+)", rest)
            if match:
                image.requirements = match.group(1)
    for source, dest in copied_to.items():
        path = ROOT / source
        if dest == image.requirements:
            image.requirements = source
            continue
        if dest.rstrip("/") != f"/app/{source}":
            raise AssertionError(f"{dockerfile}: COPY {source} {dest}: expected /app/{source}")
        if path.is_dir():
            image.files |= {p.relative_to(ROOT).as_posix() for p in path.rglob("*") if p.is_file()}
        elif path.is_file():
            image.files.add(source)
        else:
            raise AssertionError(f"{dockerfile}: COPY {source}: no such file in the repository")
    return image


def module_file(module: str) -> Path | None:
    """The source file of one of our modules (package ``__init__`` or module), if any."""
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str) -> list[str]:
    """Absolute names of everything ``path`` imports (``from a import b``: ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append(name)
            found.extend(f"{name}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@dataclass
class Reach:
    """What a command reaches."""

    modules: dict[str, str] = field(default_factory=dict)
    """Our module -> repository-relative file."""
    third_party: dict[str, str] = field(default_factory=dict)
    """Top-level third-party name -> the first module of ours that imports it."""


@functools.cache
def imports_of(module: str) -> Reach:
    """Every module of ours ``python -m module`` reaches, and the third-party names they use."""
    reach = Reach()
    todo = (
        [module, f"{module}.__main__"]
        if (ROOT / Path(*module.split(".")) / "__init__.py").is_file()
        else [module]
    )
    while todo:
        name = todo.pop()
        if name in reach.modules:
            continue
        top = name.split(".")[0]
        if top not in OURS:
            continue
        path = module_file(name)
        if path is None:
            continue  # ``from pkg import function``: the name is not a module
        reach.modules[name] = path.relative_to(ROOT).as_posix()
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        for imported in _imports(path, name):
            top = imported.split(".")[0]
            if top in OURS:
                todo.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__":
                reach.third_party.setdefault(top, name)
    return reach


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def distribution_of(top_level: str) -> set[str]:
    """Canonical names of the installed distributions providing ``top_level``."""
    names = _packages_distributions().get(top_level, [])
    return {canonical(n) for n in names}


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(text: str) -> dict[str, str]:
    """``name -> version`` of every exact pin (``name[extras]==version``) in a requirements text."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[canonical(match.group(1))] = match.group(3)
    return pins


def command_problems(image: Image, pins: dict[str, str], module: str) -> list[str]:
    """Why ``python -m module`` would fail in ``image`` (empty: every import is there)."""
    reach = imports_of(module)
    problems = [
        f"{module}: imports {name} ({path}), not copied into the image"
        for name, path in sorted(reach.modules.items())
        if path not in image.files
    ]
    for top, importer in sorted(reach.third_party.items()):
        dists = distribution_of(top)
        if not dists & set(pins):
            problems.append(
                f"{module}: {importer} imports {top} (distribution {sorted(dists) or '?'}), "
                "not pinned in the image's requirements"
            )
    return problems
