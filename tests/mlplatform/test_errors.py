"""Errors point at the checked program's own file and line, never at the engine's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlplatform.cli import main
from mlplatform.engine import PlanError, plan_program

ProgramWriter = Callable[..., Path]


def plan_error(prog: Path) -> str:
    with pytest.raises(PlanError) as info:
        plan_program(prog, "test")
    assert len(info.value.lines) == 1
    return info.value.lines[0]


def test_a_crash_in_a_callback_names_the_line_of_the_callback(program: ProgramWriter) -> None:
    # kubernetes-py-guestbook's shape: the callback lives in a module of the program.
    prog = program(
        """
        from service import frontend
        frontend("web")
        """,
        files={
            "service.py": """
            import pulumi_kubernetes as k8s

            def frontend(name):
                svc = k8s.core.v1.Service(name, spec={"type": "LoadBalancer", "ports": [{"port": 80}]})
                # On AWS a load balancer has a hostname, no ip: this callback really fails.
                return svc.status.apply(lambda s: s.load_balancer.ingress[0].ip + ":80")
            """
        },
    )
    assert plan_error(prog) == (
        "service.py:7: the program failed: TypeError: "
        "unsupported operand type(s) for +: 'NoneType' and 'str'"
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"__main__.py": "import pulumi\n\nx = (\n"},
            "__main__.py:3: the program failed: SyntaxError: '(' was never closed",
        ),
        (
            {"__main__.py": "import helpers\n", "helpers.py": "def f(:\n    pass\n"},
            "helpers.py:1: the program failed: SyntaxError: invalid syntax",
        ),
    ],
    ids=["in-main", "in-an-imported-module"],
)
def test_a_syntax_error_names_its_own_line(
    program: ProgramWriter, files: dict[str, str], expected: str
) -> None:
    prog = program("", files=files)
    assert plan_error(prog) == expected


def test_an_exit_code_of_the_program_never_leaks_out(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = program("import sys\n\nsys.exit(5)\n")
    assert main(["plan", "--stack", "test", "--program", str(prog)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: __main__.py:3: the program exited early (exit code 5) before it finished; "
        "the run failed: a plan needs the whole program"
    )


def test_differing_provider_pins_are_one_warning(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prog = program(
        "import pulumi\n",
        files={
            "requirements.txt": "pulumi>=3.0.0,<4.0.0\npulumi-aws>=7.23.0,<7.24.0  # pinned\n"
            "pulumi-kubernetes>=4.0.0\n"
        },
    )
    assert (
        main(["plan", "--stack", "test", "--program", str(prog), "--out", str(tmp_path / "o")]) == 0
    )
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "warning: requirements.txt pins pulumi-aws>=7.23.0,<7.24.0; planned with pulumi-aws 7."
    )
