"""The offline engine: run a Pulumi Python program under the SDK's mock monitor.

``plan_program`` does what ``pulumi preview`` does up to the point where a real engine
would call the cloud: it reads the project and stack file, sets the stack config the
way the CLI does, runs the program's ``__main__.py`` inside a root Stack, and records
every registration (default providers included) as a plan. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlplatform.engine import cloud
from mlplatform.engine.stackfile import Project, UsageError, load_project

__all__ = ["PlanError", "UsageError", "load_project", "plan_program", "run_project"]

_RUN_LOCK = threading.Lock()


class PlanError(Exception):
    """The program failed while planning (not a configuration problem)."""

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


def _provider_config(project: Project) -> dict[str, dict[str, Any]]:
    """Provider config from stack config (``aws:region`` -> {"aws": {"region": ...}})."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in project.raw_config.items():
        pkg, _, name = key.partition(":")
        if pkg in ("aws", "kubernetes", "random", "tls") and name:
            out.setdefault(pkg, {})[name] = "[secret]" if key in project.secret_keys else value
    return out


def _program_site(program_root: Path) -> str | None:
    """The first frame of the user's program on the current stack, as ``file:line``."""
    for frame in reversed(traceback.extract_stack()):
        try:
            path = Path(frame.filename).resolve()
        except OSError:
            continue
        if program_root in path.parents and "site-packages" not in path.parts:
            return f"{path.relative_to(program_root)}:{frame.lineno}"
    return None


@contextlib.contextmanager
def _gc_tuned() -> Iterator[None]:
    """Fewer cyclic-GC passes while a program runs.

    A plan keeps every registration alive until the end, so the default thresholds
    make the collector rescan an ever larger heap (the SDK allocates several asyncio
    tasks and futures per resource): measured here, 40 % of a 40-tenant plan's time.
    Objects alive before the run are frozen out of the scans; thresholds go back after.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _lean_stack_trace() -> Any:
    """The SDK's ``_get_stack_trace``, keeping only what a plan records.

    The SDK walks the whole stack with source lines read from disk and turns every frame
    into a ``file://`` URI for each registration; the engine only records the source
    position (the first frame below the third ``__init__``, exactly as the SDK picks
    it), so this returns a one-frame trace and reads no source lines.
    """
    import pathlib

    from pulumi.runtime.proto import source_pb2

    frame = sys._getframe(1)
    seen = 0
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            seen += 1
            if seen == 3:
                break
        frame = frame.f_back  # type: ignore[assignment]
    caller = frame.f_back if frame is not None else None
    if caller is None or not caller.f_code.co_filename:
        return source_pb2.StackTrace()
    try:
        uri = pathlib.Path(caller.f_code.co_filename).as_uri()
    except ValueError:
        return source_pb2.StackTrace()
    pos = source_pb2.SourcePosition(uri=uri, line=caller.f_lineno)
    return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=pos)])


def _user_frame(tb: Any, program_root: Path, repo_roots: list[Path]) -> str | None:
    frames = traceback.extract_tb(tb)
    for frame in reversed(frames):
        path = Path(frame.filename).resolve()
        if "site-packages" in path.parts:
            continue
        for root in [program_root, *repo_roots]:
            if root in path.parents:
                return f"{path.relative_to(root)}:{frame.lineno}"
    return None


def run_project(project: Project, *, record: bool = True) -> dict[str, Any]:
    """Run ``project``'s program under mocks; return the plan dict. Not re-entrant.

    ``record=False`` runs the same program under the SDK's plain ``MockMonitor`` (same
    mocks, nothing recorded): the baseline ``bench/plan_scale.py`` measures us against.
    """
    import pulumi
    import pulumi.runtime
    from pulumi.runtime import config as pconfig
    from pulumi.runtime import settings as psettings
    from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    from mlplatform.engine.mocks import PlatformMocks, RecordingMonitor

    provider_cfg = _provider_config(project)
    region = provider_cfg.get("aws", {}).get("region")
    ctx = cloud.CloudContext(default_region=region if isinstance(region, str) else "me-central-1")
    mocks = PlatformMocks(ctx)
    monitor = RecordingMonitor(mocks, provider_cfg) if record else MockMonitor(mocks)
    invoke_sites: dict[str, str] = {}
    program_root = project.root.resolve()

    original_invoke = pulumi.runtime.invoke
    original_invoke_output = getattr(pulumi.runtime, "invoke_output", None)

    def _site_recording(fn: Any) -> Any:
        def wrapper(tok: str, *args: Any, **kwargs: Any) -> Any:
            site = _program_site(program_root)
            if site:
                invoke_sites.setdefault(tok, site)
            return fn(tok, *args, **kwargs)

        return wrapper

    with _RUN_LOCK, _gc_tuned():
        old_cwd = os.getcwd()
        old_path = list(sys.path)
        before_modules = set(sys.modules)
        pulumi.runtime.invoke = _site_recording(original_invoke)
        from pulumi.runtime import resource as presource

        original_stack_trace = presource._get_stack_trace
        presource._get_stack_trace = _lean_stack_trace
        if original_invoke_output is not None:
            pulumi.runtime.invoke_output = _site_recording(original_invoke_output)
        try:
            settings = MockSettings(
                monitor=monitor,
                monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
                engine=MockEngine(None),
                project=project.name,
                stack=project.stack,
                root_directory=str(project.root.resolve()),
                dry_run=False,
                organization="organization",
                callbacks=None,
            )
            psettings.configure(settings)
            psettings.ROOT.set(None)
            pconfig.set_all_config(dict(project.config), list(project.secret_keys))
            os.chdir(project.main_dir)
            sys.path.insert(0, str(project.main_dir))
            # The SDK wants an event loop on this thread.
            try:
                asyncio.get_event_loop()
            except RuntimeError:
                asyncio.set_event_loop(asyncio.new_event_loop())

            def program() -> None:
                runpy.run_path(str(project.main_dir / "__main__.py"), run_name="__main__")

            try:
                _sync_await(run_in_stack(program))
            except (pulumi.RunError, Exception) as exc:
                if mocks.unanswered:
                    token, why = mocks.unanswered[0]
                    where = invoke_sites.get(token, "location unknown (asynchronous invoke)")
                    raise PlanError(
                        f"{where}: data source '{token}' cannot be answered offline ({why}); "
                        "add an answer to mlplatform/engine/cloud.py INVOKES or avoid the call"
                    ) from None
                if isinstance(exc, pulumi.RunError):
                    # A RunError is the program's own message for the user: show it as is.
                    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                    if lines and lines[0].rstrip().endswith(":") and len(lines) > 1:
                        lines = lines[1:]
                    raise UsageError(lines or [type(exc).__name__]) from None
                site: str | None = _user_frame(
                    exc.__traceback__, program_root, [Path(__file__).resolve().parents[2]]
                )
                msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                raise PlanError(
                    f"{site or project.display(project.main_dir / '__main__.py')}: the program failed: "
                    f"{type(exc).__name__}: {msg}"
                ) from None
        finally:
            pulumi.runtime.invoke = original_invoke
            presource._get_stack_trace = original_stack_trace
            if original_invoke_output is not None:
                pulumi.runtime.invoke_output = original_invoke_output
            os.chdir(old_cwd)
            sys.path[:] = old_path
            # Forget modules imported from the program folder so the next run starts clean.
            for mod in set(sys.modules) - before_modules:
                file = getattr(sys.modules[mod], "__file__", None) or ""
                if (
                    file
                    and program_root in Path(file).resolve().parents
                    and "site-packages" not in file
                ):
                    del sys.modules[mod]

    stack_urn = "urn:pulumi:" + "::".join(
        [project.stack, project.name, "pulumi:pulumi:Stack", f"{project.name}-{project.stack}"]
    )
    resources: list[dict[str, Any]] = [
        {
            "urn": stack_urn,
            "id": None,
            "type": "pulumi:pulumi:Stack",
            "name": f"{project.name}-{project.stack}",
            "parent": None,
            "provider": None,
            "custom": False,
            "inputs": {},
            "options": {},
            "secretInputs": [],
        }
    ]
    # Registration order is not deterministic (the SDK registers concurrently); a plan
    # must be, so providers come first and everything else follows in URN order.
    records = [r for r in getattr(monitor, "records", []) if r["type"] != "pulumi:pulumi:Stack"]
    records.sort(key=lambda r: (not r["type"].startswith("pulumi:providers:"), r["urn"]))
    resources += records
    shown_config = {
        k: ("[secret]" if k in project.secret_keys else v)
        for k, v in sorted(project.raw_config.items())
    }
    return {
        "project": project.name,
        "stack": project.stack,
        "config": shown_config,
        "resources": resources,
    }


def plan_program(program_dir: Path, stack: str) -> dict[str, Any]:
    """Plan the Pulumi Python program in ``program_dir`` for ``stack``.

    Raises UsageError (bad usage or config: exit 2) or PlanError (the program failed).
    """
    return run_project(load_project(Path(program_dir), stack))
