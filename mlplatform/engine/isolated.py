"""Planning a program in a process of its own, for a gate the program cannot switch off.

A checked program is code from elsewhere running with our privileges. In the process
that then judges it, it could patch the policy runner, replace the report or end the
process with exit code 0. ``plan_isolated`` runs it in a child interpreter instead; only
the plan (JSON) comes back. A child that ends without handing a plan back, for whatever
reason, is a failed run: never a pass.

    python -m mlplatform.engine.isolated PROGRAM STACK RESULT [--preview]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlplatform.engine.stackfile import EngineError, UsageError


class IsolatedPlanError(EngineError):
    """The program's run failed (or ended early) in its own process."""


def plan_isolated(program_dir: Path, stack: str, *, preview: bool = False) -> dict[str, Any]:
    """Plan ``program_dir`` for ``stack`` in a child process; the plan, or the run's error.

    What the program prints comes out on stderr. Raises UsageError (bad usage or config)
    or IsolatedPlanError (the program failed or ended early).
    """
    with tempfile.TemporaryDirectory(prefix="mlplatform-plan-") as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", __name__, str(program_dir), stack, str(result)]
        completed = subprocess.run(
            [*command, "--preview"] if preview else command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for stream in (completed.stdout, completed.stderr):
            if stream:
                sys.stderr.write(stream)
        answer = _read(result)
    if answer is not None and "error" in answer:
        error = UsageError if answer["error"] == "usage" else IsolatedPlanError
        raise error([str(line) for line in answer.get("lines") or []])
    if completed.returncode != 0 or answer is None or not isinstance(answer.get("plan"), dict):
        raise IsolatedPlanError(
            f"{program_dir}: the program ended the run early (exit code {completed.returncode}) "
            "before its plan was complete; the run failed"
        )
    plan: dict[str, Any] = answer["plan"]
    return plan


def _read(path: Path) -> dict[str, Any] | None:
    try:
        answer = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def main(argv: list[str]) -> int:
    """The child: plan, then write ``{"plan": ...}`` or ``{"error": kind, "lines": [...]}``."""
    from mlplatform.engine import plan_program

    program, stack, result = argv[:3]
    preview = "--preview" in argv[3:]
    # The program sees the argv a language host gives it, not where our answer goes.
    del sys.argv[1:]
    try:
        answer: dict[str, Any] = {"plan": plan_program(Path(program), stack, preview=preview)}
    except UsageError as exc:
        answer = {"error": "usage", "lines": exc.lines}
    except EngineError as exc:
        answer = {"error": "plan", "lines": exc.lines}
    Path(result).write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
