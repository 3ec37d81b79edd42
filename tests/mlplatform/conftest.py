"""Small Pulumi programs written into a temporary folder, for the engine's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ProgramWriter = Callable[..., Path]


def write_program(
    root: Path,
    body: str,
    *,
    region: str = "us-east-2",
    config: str = "",
    files: dict[str, str] | None = None,
    name: str = "team-app",
) -> Path:
    """A Pulumi Python project in ``root`` with a stack ``test`` in ``region``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime:\n  name: python\n")
    stack = f"config:\n  aws:region: {region}\n" + textwrap.indent(textwrap.dedent(config), "  ")
    (root / "Pulumi.test.yaml").write_text(stack)
    (root / "__main__.py").write_text(textwrap.dedent(body))
    for relative, text in (files or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def program(tmp_path: Path) -> ProgramWriter:
    """``program(body, **options)`` -> the folder of a new program (see ``write_program``)."""
    count = 0

    def make(body: str, **options: Any) -> Path:
        nonlocal count
        count += 1
        return write_program(tmp_path / f"program-{count}", body, **options)

    return make
