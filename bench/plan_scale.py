"""Plan time and peak memory by tenant count: the engine against the plain Pulumi SDK.

For each size, a stack with that many tenants (alternating SMB and enterprise) is run
three ways, each in a process of its own that stays up for all rounds:

- ``engine``: ``mlplatform.engine.plan_program`` (our offline engine: recording monitor,
  computed outputs, one cyclic GC pass per run, lean source positions, a search for
  unknowns that makes no garbage), as ``mlplatform plan`` runs it;
- ``sdk_program``: the **same program** under nothing but the SDK: ``set_mocks`` with a
  plain ``pulumi.runtime.Mocks`` that answers each resource with a dict lookup (the id
  and outputs the engine's mocks computed for it in the engine's cold run, so computing
  them counts as engine overhead) and the program's two invokes with constants, the
  config set as the CLI sets it, the program run with ``runpy`` and awaited as
  ``pulumi.runtime.test`` awaits. Default GC, the SDK's own stack traces; nothing from
  ``mlplatform`` is imported in that process (checked, ``baseline_imports_mlplatform``);
- ``flat_replay``: a flat program registering the very same custom resources (types,
  names and inputs read back from the engine's plan) as untyped ``CustomResource``s
  under the same plain mocks: the cost of registering alone.

Each process first runs once untimed (the cold run: imports of pulumi-aws and
pulumi-kubernetes, seconds once per process; the engine's is reported as ``cold_s``),
then the three are timed in turn, ``--rounds`` rounds, the order rotating each round
(see ``_harness.py``). Reported: median and spread of each, and per-round ratios:

- ``engine_overhead`` = engine / sdk_program: what our engine costs over the SDK running
  the same program (the honest overhead figure);
- ``vs_flat_replay`` = engine / flat_replay, the target (<= 1.3): it includes
  what the program itself does beyond registering (typed inputs, Outputs and applies,
  components, invokes), so ``sdk_program / flat_replay`` is reported beside it.

Each run is timed in wall-clock and in CPU seconds of its process (all threads): on a
loaded machine the wall clock mostly measures waiting for a core, the CPU time much
less so; both are reported, with their ratios.

``--profile`` writes cProfile statistics (CPU time) of one warm engine run and one warm
SDK run of the largest size (top functions by own time) into the JSON.

    python bench/plan_scale.py [--sizes 10,20] [--rounds 3] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as harness  # noqa: E402
from _stacks import write_stack  # noqa: E402

PROJECT = "sovereign-ml-platform"
STACK = "bench"


# ------------------------------------------------------------------ the three children
def _engine(program: Path) -> tuple[Callable[[], Any], dict[str, Any]]:
    from mlplatform.engine import plan_program
    from mlplatform.engine.mocks import PlatformMocks

    # The cold run notes every resource's id and outputs as the engine's mocks computed
    # them: the plain-SDK run of the same program answers from that table.
    answers: dict[str, Any] = {}
    original = PlatformMocks.resource

    def noting(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
        resource_id, state = original(self, args, *rest, **kwargs)
        answers[f"{args.typ}::{args.name}"] = [resource_id, state]
        return resource_id, state

    PlatformMocks.resource = noting  # type: ignore[method-assign]
    try:
        plan = plan_program(program, STACK)
    finally:
        PlatformMocks.resource = original  # type: ignore[method-assign]
    (program / "answers.json").write_text(json.dumps(answers, default=str))
    replay = [
        r
        for r in plan["resources"]
        if r["custom"] and not r["type"].startswith("pulumi:providers:")
    ]
    (program / "replay.json").write_text(json.dumps(replay))
    return lambda: plan_program(program, STACK), {"resources": len(plan["resources"])}


def _stack_config(program: Path) -> dict[str, str]:
    """The stack's config as the Pulumi CLI hands it to a program (objects as JSON)."""
    import yaml

    config = yaml.safe_load((program / f"Pulumi.{STACK}.yaml").read_text())["config"]
    flat = {}
    for key, value in config.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, bool):
            flat[full] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            flat[full] = json.dumps(value)
        else:
            flat[full] = str(value)
    return flat


CALLER = "aws:index/getCallerIdentity:getCallerIdentity"
PARTITION = "aws:index/getPartition:getPartition"
INVOKES: dict[str, dict[str, str]] = {
    CALLER: {
        "accountId": "123456789012",
        "arn": "arn:aws:iam::123456789012:user/bench",
        "userId": "AIDABENCH",
        "id": "123456789012",
    },
    PARTITION: {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
}


def _plain_mocks(answers: dict[str, Any]) -> Any:
    import pulumi

    class PlainMocks(pulumi.runtime.Mocks):
        """A dict lookup per resource (the outputs the engine computed; else the inputs
        echoed) and per invoke: the cheapest mocks that let the program run."""

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            known = answers.get(f"{args.typ}::{args.name}")
            if known is not None:
                return known[0], dict(known[1])
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
            return dict(INVOKES.get(args.token, {})), []

    return PlainMocks()


def _sdk_program(program: Path) -> tuple[Callable[[], Any], dict[str, Any]]:
    import runpy

    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    config = _stack_config(program)
    answers = json.loads((program / "answers.json").read_text())
    main = REPO / "stacks" / "__main__.py"
    sys.path.insert(0, str(main.parent))

    def run() -> None:
        pulumi.runtime.set_all_config(config)
        pulumi.runtime.set_mocks(_plain_mocks(answers), project=PROJECT, stack=STACK, preview=False)
        # What ``@pulumi.runtime.test`` does: run, then wait for every outstanding RPC.
        _sync_await(run_pulumi_func(run_main))

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    run()
    return run, {"mlplatform_imported": any(m.startswith("mlplatform") for m in sys.modules)}


def _flat_replay(program: Path) -> tuple[Callable[[], Any], dict[str, Any]]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    resources = json.loads((program / "replay.json").read_text())

    def register() -> None:
        for i, r in enumerate(resources):
            pulumi.CustomResource(r["type"], f"{i}-{r['name']}", dict(r["inputs"]))

    def run() -> None:
        pulumi.runtime.set_mocks(_plain_mocks({}), project="bare", stack=STACK, preview=False)
        _sync_await(run_pulumi_func(register))

    run()
    return run, {
        "resources": len(resources),
        "mlplatform_imported": any(m.startswith("mlplatform") for m in sys.modules),
    }


CHILDREN = {"engine": _engine, "sdk_program": _sdk_program, "flat_replay": _flat_replay}


def child(kind: str, program: Path) -> None:
    """Serve ``run`` lines on stdin with one timed run each; ``quit`` ends with peak RSS."""
    t0 = time.perf_counter()
    run, info = CHILDREN[kind](program)
    info["cold_s"] = time.perf_counter() - t0
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(json.dumps({"seconds": wall, "cpu_seconds": cpu}), flush=True)
        elif line.strip() == "profile":
            print(json.dumps({"profile": _profiled(run)}), flush=True)
        else:
            break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mib": round(rss, 1)}), flush=True)


def _profiled(run: Callable[[], Any], top: int = 15) -> dict[str, Any]:
    """cProfile of one run: total, and the top functions by own time (seconds)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)  # CPU time: a loaded machine preempts
    t0 = time.perf_counter()
    profiler.runcall(run)
    total = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    return {
        "profiled_s": round(total, 2),
        "top_own_time": [
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 3),
                "cumulative_s": round(cum, 3),
            }
            for (file, line, name), (_, calls, own, cum, _) in rows
        ],
    }


# ------------------------------------------------------------------ the parent
class Child:
    """A child process kept up across rounds."""

    def __init__(self, kind: str, program: Path) -> None:
        self.kind = kind
        # The program writes to stderr on every run: a file, not a pipe nobody drains.
        self.stderr = program / f"{kind}.stderr"
        with self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--child", kind, str(program)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=REPO,
            )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        out: IO[str] = self.proc.stdout  # type: ignore[assignment]
        while line := out.readline():
            if line.startswith("{"):
                return dict(json.loads(line))
        self.proc.wait()
        err = self.stderr.read_text(errors="replace")
        raise SystemExit(f"plan_scale: {self.kind} child failed:\n{err[-3000:]}")

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        result = self.ask("quit")
        self.proc.wait(timeout=60)
        return result


def measure_size(tenants: int, folder: Path, rounds: int, profile: bool) -> dict[str, Any]:
    program = write_stack(folder / f"n{tenants}", tenants)
    children = {"engine": Child("engine", program)}  # writes replay.json first
    try:
        children["sdk_program"] = Child("sdk_program", program)
        children["flat_replay"] = Child("flat_replay", program)
    except BaseException:
        for c in children.values():
            c.proc.kill()
            c.proc.wait()
        raise
    try:

        def timed(c: Child) -> Callable[[], dict[str, Any]]:
            return lambda: c.ask("run")

        raw = harness.interleaved(
            {kind: timed(c) for kind, c in children.items()},
            rounds,
            warmup=False,  # each child's cold run was its warm-up
        )
        seconds = {kind: [r["seconds"] for r in runs] for kind, runs in raw.items()}
        cpu = {kind: [r["cpu_seconds"] for r in runs] for kind, runs in raw.items()}
        profiles = (
            {kind: children[kind].ask("profile")["profile"] for kind in ("engine", "sdk_program")}
            if profile
            else None
        )
    finally:
        rss = {kind: c.close()["peak_rss_mib"] for kind, c in children.items()}
    engine, sdk, flat = seconds["engine"], seconds["sdk_program"], seconds["flat_replay"]

    def ratio(a: list[float], b: list[float]) -> list[float]:
        return [x / y for x, y in zip(a, b, strict=True)]

    row: dict[str, Any] = {
        "tenants": tenants,
        "resources": children["engine"].info["resources"],
        "flat_replay_resources": children["flat_replay"].info["resources"],
        "engine_cold_s": round(children["engine"].info["cold_s"], 2),
        "seconds": {kind: harness.summary(v) for kind, v in seconds.items()},
        "cpu_seconds": {kind: harness.summary(v) for kind, v in cpu.items()},
        "peak_rss_mib": rss,
        "engine_overhead": {
            "ratio": harness.summary(ratio(engine, sdk)),
            "verdict_engine_vs_sdk": harness.compare(engine, sdk, higher_is_better=False)[
                "verdict"
            ],
        },
        "engine_overhead_cpu": harness.summary(ratio(cpu["engine"], cpu["sdk_program"])),
        "vs_flat_replay": harness.summary(ratio(engine, flat)),
        "vs_flat_replay_cpu": harness.summary(ratio(cpu["engine"], cpu["flat_replay"])),
        "sdk_program_vs_flat_replay": harness.summary(ratio(sdk, flat)),
        "target_vs_flat_replay_le_1_3": harness.target(ratio(engine, flat), 1.3, at_least=False),
        "target_vs_flat_replay_le_1_3_cpu": harness.target(
            ratio(cpu["engine"], cpu["flat_replay"]), 1.3, at_least=False
        ),
        "baseline_imports_mlplatform": bool(
            children["sdk_program"].info["mlplatform_imported"]
            or children["flat_replay"].info["mlplatform_imported"]
        ),
        "ms_per_resource_engine": round(
            1000 * harness.summary(engine)["median"] / children["engine"].info["resources"], 2
        ),
    }
    if profiles:
        row["profiles"] = profiles
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,20")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1 tenant, 2 rounds")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.quick:
        args.sizes, args.rounds = "1", 2
    result: dict[str, Any] = {"benchmark": "plan_scale", "rounds": args.rounds}
    rows = []
    with harness.recorded(result), tempfile.TemporaryDirectory() as tmp:
        sizes = [int(x) for x in args.sizes.split(",")]
        for n in sizes:
            row = measure_size(n, Path(tmp), args.rounds, args.profile and n == sizes[-1])
            rows.append(row)
            s = row["seconds"]
            print(
                f"{n:>4} tenants: {row['resources']:>6} resources | engine "
                f"{s['engine']['median']:.2f}s [{s['engine']['min']:.2f}-{s['engine']['max']:.2f}] "
                f"(cold {row['engine_cold_s']:.2f}s) | SDK, same program "
                f"{s['sdk_program']['median']:.2f}s | flat replay {s['flat_replay']['median']:.2f}s"
                f" | overhead x{row['engine_overhead']['ratio']['median']} | vs flat x"
                f"{row['vs_flat_replay']['median']} [{row['vs_flat_replay']['min']}-"
                f"{row['vs_flat_replay']['max']}] (CPU time: x{row['vs_flat_replay_cpu']['median']})",
                flush=True,
            )
    result["rows"] = rows
    largest = rows[-1]
    result["targets"] = {
        "vs_flat_replay_le_1_3": largest["target_vs_flat_replay_le_1_3"],
        "vs_flat_replay_le_1_3_cpu": largest["target_vs_flat_replay_le_1_3_cpu"],
        "baseline_outside_engine": not any(r["baseline_imports_mlplatform"] for r in rows),
    }
    harness.emit(result)


if __name__ == "__main__":
    main()
