"""Import directions between the top-level packages (an AST scan, so nothing is imported).

- ``contracts``: the standard library and small pure libraries only;
- ``components`` (infrastructure) and ``workloads`` (what runs in the images): ``contracts``,
  never each other;
- ``stacks`` (the Pulumi program): ``components`` and ``contracts``;
- ``mlplatform`` (CLI, offline engine, policy runner): ``contracts`` only; it plans any
  Pulumi program and knows nothing of this blueprint's settings or components;
- ``policies`` (the packs the Pulumi CLI starts on its own): nothing of ours.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = frozenset({"components", "contracts", "mlplatform", "policies", "stacks", "workloads"})
ALLOWED: dict[str, frozenset[str]] = {
    "contracts": frozenset(),
    "components": frozenset({"contracts"}),
    "workloads": frozenset({"contracts"}),
    "stacks": frozenset({"components", "contracts"}),
    "mlplatform": frozenset({"contracts"}),
    "policies": frozenset(),
}
"""Which of our other packages each package may import."""
CONTRACTS_THIRD_PARTY = frozenset({"pydantic", "yaml", "cryptography"})
"""The only third-party libraries ``contracts`` may import (pure, small, in every image)."""


def imported_modules(source: str, filename: str) -> Iterator[tuple[int, str]]:
    """``(line, top-level module)`` of every absolute import in ``source``."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def layering_violations(root: Path) -> list[str]:
    """One ``file:line: package imports X`` line per import that breaks the rules above."""
    problems: list[str] = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            for line, module in imported_modules(path.read_text(), str(rel)):
                if module == package:
                    continue
                if module in OURS and module not in allowed:
                    problems.append(f"{rel}:{line}: {package} must not import {module}")
                elif (
                    package == "contracts"
                    and module not in OURS
                    and module not in sys.stdlib_module_names
                    and module not in CONTRACTS_THIRD_PARTY
                ):
                    problems.append(
                        f"{rel}:{line}: contracts may import only the standard library and "
                        f"{', '.join(sorted(CONTRACTS_THIRD_PARTY))}, not {module}"
                    )
    return problems


def test_repository_respects_the_import_directions() -> None:
    assert layering_violations(ROOT) == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        (
            "components",
            "from workloads.serving import app\n",
            "components must not import workloads",
        ),
        ("workloads", "import components.platform\n", "workloads must not import components"),
        (
            "mlplatform",
            "from components import settings\n",
            "mlplatform must not import components",
        ),
        ("contracts", "import pulumi\n", "contracts may import only the standard library"),
        ("contracts", "from workloads.common import s3\n", "contracts must not import workloads"),
        ("policies", "from contracts import names\n", "policies must not import contracts"),
        ("stacks", "import mlplatform.cli\n", "stacks must not import mlplatform"),
    ],
)
def test_a_forbidden_import_is_reported(
    tmp_path: Path, package: str, source: str, expected: str
) -> None:
    (tmp_path / package / "sub").mkdir(parents=True)
    (tmp_path / package / "sub" / "module.py").write_text("import json\n" + source)
    problems = layering_violations(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{package}/sub/module.py:2: {expected}"), problems


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "a.py").write_text(
        "import pulumi\nfrom contracts.names import labels\nfrom components import b\n"
    )
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "n.py").write_text(
        "import re\nimport yaml\nfrom pydantic import BaseModel\n"
    )
    assert layering_violations(tmp_path) == []
