"""The offline engine: run a Pulumi Python program under the SDK's mock monitor.

``plan_program`` does what the Pulumi CLI does up to the point where a real engine would
call the cloud: it reads the project and stack file, sets the stack config the way the
CLI does, runs the program's ``__main__.py`` inside a root Stack, and records every
registration (default providers included) as a plan. Nothing leaves the machine.

Two modes, as the engine has them: ``preview=True`` runs the program as ``pulumi
preview`` runs it for a stack that does not exist yet (outputs of resources being
created are unknown, callbacks on them are skipped, invokes are answered); the default
runs it as ``pulumi up`` would, with computed outputs filled as the cloud would fill
them and what cannot be filled unknown (see :mod:`.mocks`).

The program is someone else's code: its ``print`` goes to stderr (stdout carries our
JSON and SARIF), and a program that raises, calls ``sys.exit`` or ``os._exit`` is a
failed run, reported at the program's own file and line.

A run, step by step (``run_project``): ``_prepare`` the mocks and monitor; inside
``_sdk_hooks`` (invoke sites, lean stack traces) and ``_program_environment`` (working
directory, import path), ``_configure_sdk`` and ``_run_program``; a failure becomes one
error for the user (``_failure``); ``_assemble_plan`` orders the records into the plan.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlparse

from mlplatform.engine import cloud
from mlplatform.engine.stackfile import EngineError, Project, UsageError, load_project

if TYPE_CHECKING:
    from mlplatform.engine.mocks import DuplicateUrn, PlatformMocks

__all__ = [
    "EngineError",
    "PlanError",
    "UsageError",
    "load_project",
    "plan_program",
    "run_project",
]

_RUN_LOCK = threading.Lock()
_ENGINE_CHECKOUT = Path(__file__).resolve().parents[2]
"""Where the engine itself lives: code there (not the program's) is shown relative to it."""


class PlanError(EngineError):
    """The program failed while planning (not a configuration problem)."""


@dataclass
class _Run:
    """One run of a program: its project, the mocks and monitor, where invokes were made."""

    project: Project
    mocks: PlatformMocks
    monitor: Any
    invoke_sites: dict[str, str] = field(default_factory=dict)

    @property
    def program_root(self) -> Path:
        return self.project.root.resolve()


def run_project(project: Project, *, record: bool = True, preview: bool = False) -> dict[str, Any]:
    """Run ``project``'s program under mocks; return the plan dict. Not re-entrant.

    ``preview``: run it as ``pulumi preview`` would (see the module). ``record=False``
    runs the same program under the SDK's plain ``MockMonitor`` (same mocks, nothing
    recorded): the baseline ``bench/plan_scale.py`` measures us against.
    Raises UsageError (the program's own ``pulumi.RunError``) or PlanError (it failed).
    """
    run = _prepare(project, record, preview)
    with (
        _RUN_LOCK,
        _gc_tuned(),
        _sdk_hooks(run.program_root, run.invoke_sites),
        _program_environment(project),
    ):
        _configure_sdk(project, run.monitor, preview)
        try:
            with _worker_threads(run.monitor):
                _run_program(project)
        except (Exception, SystemExit) as exc:  # pulumi.RunError and sys.exit included
            raise _failure(run, exc) from None
        duplicate = _duplicate_urn_error(run)
        if duplicate is not None:
            raise duplicate
    return _assemble_plan(
        project,
        getattr(run.monitor, "records", []),
        preview,
        outputs=getattr(run.monitor, "stack_outputs", None),
    )


def plan_program(program_dir: Path, stack: str, *, preview: bool = False) -> dict[str, Any]:
    """Plan the Pulumi Python program in ``program_dir`` for ``stack``.

    Raises UsageError (bad usage or config: exit 2) or PlanError (the program failed).
    """
    return run_project(load_project(Path(program_dir), stack), preview=preview)


# --- before the run ---------------------------------------------------------------------


def _provider_config(project: Project) -> dict[str, dict[str, Any]]:
    """Provider config from stack config (``aws:region`` -> {"aws": {"region": ...}})."""
    config: dict[str, dict[str, Any]] = {}
    for key, value in project.raw_config.items():
        package, _, name = key.partition(":")
        if package in ("aws", "kubernetes", "random", "tls") and name:
            shown = "[secret]" if key in project.secret_keys else value
            config.setdefault(package, {})[name] = shown
    return config


def _prepare(project: Project, record: bool, preview: bool) -> _Run:
    """Mocks answering in the stack's region, and the monitor (recording or the SDK's)."""
    from pulumi.runtime.mocks import MockMonitor

    from mlplatform.engine.mocks import PlatformMocks, RecordingMonitor

    provider_config = _provider_config(project)
    region = provider_config.get("aws", {}).get("region")
    ctx = cloud.CloudContext(default_region=region if isinstance(region, str) else "me-central-1")
    mocks = PlatformMocks(ctx, preview=preview)
    monitor = RecordingMonitor(mocks, provider_config) if record else MockMonitor(mocks)
    return _Run(project, mocks, monitor)


@contextlib.contextmanager
def _gc_tuned() -> Iterator[None]:
    """No cyclic GC while a program runs; one collection of the run's garbage at its end.

    A plan keeps every registration alive until the end, so collections during the run
    rescan an ever larger young heap and find little: the SDK's garbage (Output,
    task and coroutine cycles) is mostly made as the run ends. Objects alive before the
    run are frozen out of the one collection, so it scans only what the run made (about
    0.3 s CPU of a 20-tenant plan), and the run's garbage is freed: a process that plans
    again and again does not grow. The collector's state goes back after.
    """
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.unfreeze()
        if enabled:
            gc.enable()


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
    init_frames = 0
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            init_frames += 1
            if init_frames == 3:
                break
        frame = frame.f_back  # type: ignore[assignment]
    caller = frame.f_back if frame is not None else None
    if caller is None or not caller.f_code.co_filename:
        return source_pb2.StackTrace()
    try:
        uri = pathlib.Path(caller.f_code.co_filename).as_uri()
    except ValueError:
        return source_pb2.StackTrace()
    position = source_pb2.SourcePosition(uri=uri, line=caller.f_lineno)
    return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=position)])


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _contains_unknowns(val: Any) -> bool:
    """The SDK's ``rpc.contains_unknowns``, the same answer without its garbage.

    The SDK's defines a recursive closure per call (a function, its cell and its
    annotations in a reference cycle): a 20-tenant plan makes about 100,000 such calls,
    and their cycles were three quarters of the garbage the cyclic collector had to find.
    This walks the same values (a dict's by key, a list's items, each container once)
    and answers the same: whether any of them is an unknown (``known_types.is_unknown``:
    an instance of the SDK's ``Unknown``).
    """
    if type(val) in _PLAIN_TYPES:
        return False
    from pulumi.output import Unknown

    if isinstance(val, Unknown):
        return True
    if not isinstance(val, (dict, list)):
        return False
    seen: set[int] = set()
    pending = [val]
    while pending:
        value = pending.pop()
        if isinstance(value, Unknown):
            return True
        if isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            pending.extend([value[key] for key in value] if isinstance(value, dict) else value)
    return False


@contextlib.contextmanager
def _sdk_hooks(program_root: Path, invoke_sites: dict[str, str]) -> Iterator[None]:
    """The engine's hooks in the SDK for one run, the SDK's own put back after.

    Invokes note the program line that made them in ``invoke_sites`` (for the error when
    one cannot be answered); registrations get the lean one-frame stack trace; the
    search for unknowns in a value makes no garbage (:func:`_contains_unknowns`);
    resource references reach the monitor as the engine sees them
    (:func:`.mocks.reference_hook`).
    """
    import pulumi.runtime
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime import rpc as sdk_rpc

    from mlplatform.engine.mocks import reference_hook

    def noting_site(invoke: Any) -> Any:
        def wrapper(token: str, *args: Any, **kwargs: Any) -> Any:
            site = _program_site(program_root)
            if site:
                invoke_sites.setdefault(token, site)
            return invoke(token, *args, **kwargs)

        return wrapper

    original_invoke = pulumi.runtime.invoke
    original_invoke_output = getattr(pulumi.runtime, "invoke_output", None)
    original_stack_trace = sdk_resource._get_stack_trace
    pulumi.runtime.invoke = noting_site(original_invoke)
    if original_invoke_output is not None:
        pulumi.runtime.invoke_output = noting_site(original_invoke_output)
    original_contains_unknowns = sdk_rpc.contains_unknowns
    sdk_resource._get_stack_trace = _lean_stack_trace
    sdk_rpc.contains_unknowns = _contains_unknowns
    try:
        with reference_hook():
            yield
    finally:
        pulumi.runtime.invoke = original_invoke
        if original_invoke_output is not None:
            pulumi.runtime.invoke_output = original_invoke_output
        sdk_resource._get_stack_trace = original_stack_trace
        sdk_rpc.contains_unknowns = original_contains_unknowns


@contextlib.contextmanager
def _worker_threads(monitor: Any) -> Iterator[None]:
    """The threads the SDK runs monitor calls on, for this run only.

    Each of them gets an event loop of its own; the run ends the threads and closes
    those loops, rather than leave them to the interpreter's exit (where the cyclic
    collector finalized them half torn down: "Invalid file descriptor: -1" now and then).
    A fresh idle pool is left behind for whatever uses the loop next.
    """
    loop = asyncio.get_event_loop()
    pool = ThreadPoolExecutor(thread_name_prefix="mlplatform-run")
    loop.set_default_executor(pool)
    try:
        yield
    finally:
        pool.shutdown(wait=True)
        loop.set_default_executor(ThreadPoolExecutor())
        close_loops = getattr(monitor, "close_thread_loops", None)
        if close_loops is not None:
            close_loops()


def _refuse_hard_exit(code: int) -> NoReturn:
    """``os._exit`` while a program runs: an early exit like ``sys.exit``, not a pass."""
    raise SystemExit(code)


@contextlib.contextmanager
def _program_environment(project: Project) -> Iterator[None]:
    """The program's folder as working directory and first on the import path.

    Its ``print`` goes to stderr and ``os._exit`` raises ``SystemExit``. After the run,
    the old ones come back and modules imported from the program folder are forgotten,
    so the next run starts clean.
    """
    program_root = project.root.resolve()
    old_cwd = os.getcwd()
    old_path = list(sys.path)
    modules_before = set(sys.modules)
    hard_exit = os._exit
    try:
        os.chdir(project.main_dir)
        sys.path.insert(0, str(project.main_dir))
        os._exit = _refuse_hard_exit  # type: ignore[assignment]
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        os._exit = hard_exit
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for module_name in set(sys.modules) - modules_before:
            file = getattr(sys.modules[module_name], "__file__", None) or ""
            if (
                file
                and program_root in Path(file).resolve().parents
                and "site-packages" not in file
            ):
                del sys.modules[module_name]


def _configure_sdk(project: Project, monitor: Any, preview: bool) -> None:
    """SDK settings for this project and stack, the stack's config, an event loop."""
    from pulumi.runtime import config as sdk_config
    from pulumi.runtime import settings as sdk_settings
    from pulumi.runtime.mocks import MockEngine, MockSettings

    settings = MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
        engine=MockEngine(None),
        project=project.name,
        stack=project.stack,
        root_directory=str(project.root.resolve()),
        dry_run=preview,
        organization="organization",
        callbacks=None,
    )
    sdk_settings.configure(settings)
    sdk_settings.ROOT.set(None)
    sdk_config.set_all_config(dict(project.config), list(project.secret_keys))
    # The SDK wants an event loop on this thread.
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


# --- the run and its failures -------------------------------------------------------------


def _run_program(project: Project) -> None:
    """Run ``__main__.py`` inside a root Stack, as the language host does."""
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    main = project.main_dir / "__main__.py"

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    _sync_await(run_in_stack(program))


def _failure(run: _Run, exc: BaseException) -> UsageError | PlanError:
    """The one error a failed run is shown as, most telling cause first, at the program's line."""
    import pulumi

    duplicate = _duplicate_urn_error(run)
    if duplicate is not None:
        return duplicate
    if run.mocks.unanswered:
        token, why = run.mocks.unanswered[0]
        where = run.invoke_sites.get(token, "location unknown (asynchronous invoke)")
        return PlanError(f"{where}: data source '{token}' cannot be answered offline ({why})")
    if isinstance(exc, pulumi.RunError):
        # A RunError is the program's own message for the user: show it as is.
        lines = [line for line in str(exc).splitlines() if line.strip()]
        if lines and lines[0].rstrip().endswith(":") and len(lines) > 1:
            lines = lines[1:]
        return UsageError(lines or [type(exc).__name__])
    main = run.project.display(run.project.main_dir / "__main__.py")
    if isinstance(exc, SystemExit):
        where = _user_frame(exc.__traceback__, run.program_root) or main
        return PlanError(
            f"{where}: the program exited early (exit code {exc.code!r}) before it finished; "
            "the run failed: a plan needs the whole program"
        )
    if isinstance(exc, SyntaxError) and exc.filename:
        where = _display_site(Path(exc.filename).resolve(), exc.lineno or 0, run.program_root)
        return PlanError(f"{where}: the program failed: SyntaxError: {exc.msg}")
    text = str(exc).strip()
    message = text.splitlines()[-1] if text else type(exc).__name__
    site = _user_frame(exc.__traceback__, run.program_root)
    if site is None:
        internal = _engine_frame(exc.__traceback__)
        if internal is not None:
            return PlanError(
                f"{main}: the offline engine failed while running the program ({internal}): "
                f"{type(exc).__name__}: {message}"
            )
    return PlanError(f"{site or main}: the program failed: {type(exc).__name__}: {message}")


def _duplicate_urn_error(run: _Run) -> PlanError | None:
    """URNs the program registered more than once, as the engine reports them; None if none.

    One line per URN, at the last of its registrations in source order (registrations
    run concurrently, so the order they reached the monitor in is not stable).
    """
    duplicates: list[DuplicateUrn] = getattr(run.monitor, "duplicates", [])
    lines = []
    for urn in sorted({duplicate.urn for duplicate in duplicates}):
        positions = sorted(
            {
                position
                for duplicate in duplicates
                if duplicate.urn == urn
                for position in (
                    _source_position(duplicate.first_source),
                    _source_position(duplicate.second_source),
                )
                if position is not None
            }
        )
        sites = [_display_site(path, line, run.program_root) for path, line in positions]
        where = sites.pop() if sites else "location unknown"
        also = f" (also registered at {', '.join(sites)})" if sites else ""
        lines.append(f"{where}: Duplicate resource URN '{urn}'{also}; try giving it a unique name")
    return PlanError(lines) if lines else None


def _source_position(source: dict[str, Any] | None) -> tuple[Path, int] | None:
    """A registration's recorded source position (a ``file://`` URI and a line).

    None where there is none, or where it lies in an installed library (the SDK records
    the provider SDK's own line for ``Resource.get``).
    """
    if not source:
        return None
    path = Path(unquote(urlparse(source["uri"]).path)).resolve()
    return None if "site-packages" in path.parts else (path, int(source["line"]))


def _relative_site(path: Path, line: int | None, program_root: Path) -> str | None:
    """``file:line`` relative to the program (or the engine's checkout); None elsewhere."""
    for root in (program_root, _ENGINE_CHECKOUT):
        if root in path.parents:
            return f"{path.relative_to(root)}:{line}"
    return None


def _display_site(path: Path, line: int, program_root: Path) -> str:
    return _relative_site(path, line, program_root) or f"{path}:{line}"


def _frames(trace: TracebackType | None) -> Iterator[tuple[Path, int | None]]:
    """The frames of a traceback, innermost first, outside installed libraries."""
    for frame in reversed(traceback.extract_tb(trace)):
        if frame.filename.startswith("<"):
            continue  # <frozen runpy>, <string>: not a file anyone can open
        path = Path(frame.filename).resolve()
        if "site-packages" not in path.parts:
            yield path, frame.lineno


def _user_frame(trace: TracebackType | None, program_root: Path) -> str | None:
    """The innermost frame of a traceback in the program's own files, as ``file:line``.

    The engine's own files never are (not even when the program is this repository's).
    """
    engine = _ENGINE_CHECKOUT / "mlplatform"
    for path, line in _frames(trace):
        if program_root in path.parents and engine not in path.parents:
            return f"{path.relative_to(program_root)}:{line}"
    return None


def _engine_frame(trace: TracebackType | None) -> str | None:
    """Where the engine's own code raised, when it did (a failure of ours, not the program's).

    Only the innermost frame counts: the engine is on every stack (it drives the run),
    so an error the SDK raised, with no frame of the program, is not ours.
    """
    frames = traceback.extract_tb(trace)
    if not frames:
        return None
    path = Path(frames[-1].filename).resolve()
    if (_ENGINE_CHECKOUT / "mlplatform") in path.parents:
        return f"{path.relative_to(_ENGINE_CHECKOUT)}:{frames[-1].lineno}"
    return None


# --- the plan -------------------------------------------------------------------------------


def _assemble_plan(
    project: Project,
    records: list[dict[str, Any]],
    preview: bool = False,
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The root Stack, then the recorded resources in a stable order, and the shown config.

    ``outputs`` (the program's ``pulumi.export`` values, secrets masked) are kept as the
    plan's ``outputs``: ``mlplatform cost`` reads the budgets a program exports there.
    """
    stack_name = f"{project.name}-{project.stack}"
    stack_urn = "urn:pulumi:" + "::".join(
        [project.stack, project.name, "pulumi:pulumi:Stack", stack_name]
    )
    stack: dict[str, Any] = {
        "urn": stack_urn,
        "id": None,
        "type": "pulumi:pulumi:Stack",
        "name": stack_name,
        "parent": None,
        "provider": None,
        "custom": False,
        "inputs": {},
        "options": {},
        "secretInputs": [],
    }
    # Registration order is not deterministic (the SDK registers concurrently); a plan
    # must be, so providers come first and everything else follows in URN order.
    resources = sorted(
        (record for record in records if record["type"] != "pulumi:pulumi:Stack"),
        key=lambda record: (not record["type"].startswith("pulumi:providers:"), record["urn"]),
    )
    shown_config = {
        key: ("[secret]" if key in project.secret_keys else value)
        for key, value in sorted(project.raw_config.items())
    }
    plan: dict[str, Any] = {
        "project": project.name,
        "stack": project.stack,
        "config": shown_config,
        "resources": [stack, *resources],
    }
    if outputs:
        plan["outputs"] = outputs
    if preview:
        # Only a preview says so: an update's plan keeps the shape it always had.
        plan["preview"] = True
    return plan
