"""Plan time and peak memory for 1, 10, 50 and 100 tenants, against bare Pulumi mocks.

For each size, a stack with that many tenants (alternating SMB and enterprise) is
planned by the offline engine in a fresh process; then a bare program that registers
the same number of resources under the SDK's plain ``set_mocks`` runs in a fresh
process too. Same machine, same run, so the ratio is meaningful even when the machine
is noisy. The last line printed is one JSON object.

    python bench/plan_scale.py [--sizes 1,10,50,100] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_stack(folder: Path, tenants: int) -> Path:
    """A copy of our project whose stack ``bench`` has ``tenants`` tenants."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(
        f"name: sovereign-ml-platform\nruntime: python\nmain: {REPO / 'stacks'}\nstackConfigDir: .\n"
    )
    lines = [
        "config:",
        "  aws:region: me-central-1",
        "  sovereign-ml-platform:environment: prod",
        "  sovereign-ml-platform:network:",
        "    excluded_zone_ids: [mec1-az2]",
        "  sovereign-ml-platform:tenants:",
    ]
    for i in range(tenants):
        tier = "smb" if i % 2 == 0 else "enterprise"
        lines += [f"    - name: t{i:03d}-{tier[:3]}", f"      tier: {tier}"]
    (folder / "Pulumi.bench.yaml").write_text("\n".join(lines) + "\n")
    return folder


def child_plan(program: Path) -> dict[str, float]:
    from mlplatform.engine import plan_program

    t0 = time.perf_counter()
    plan = plan_program(program, "bench")
    seconds = time.perf_counter() - t0
    custom = sum(1 for r in plan["resources"] if r["custom"])
    return {"seconds": seconds, "resources": len(plan["resources"]), "custom": custom}


def child_bare(count: int) -> dict[str, float]:
    import pulumi
    from pulumi.runtime import mocks

    class Bare(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs):  # type: ignore[override]
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: mocks.MockCallArgs):  # type: ignore[override]
            return {}, []

    t0 = time.perf_counter()
    mocks.set_mocks(Bare(), project="bare", stack="bench", preview=False)
    outs = [
        pulumi.CustomResource(
            "bench:index:Resource",
            f"r{i}",
            {
                "tags": {"tenant": f"t{i % 100}", "n": str(i)},
                "spec": {"replicas": 2, "labels": {"a": "b"}},
            },
        ).urn
        for i in range(count)
    ]

    @pulumi.runtime.test
    def wait() -> pulumi.Output:
        return pulumi.Output.all(*outs)

    wait()
    return {"seconds": time.perf_counter() - t0, "resources": count}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50,100")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()

    if args.child:
        kind, value = args.child
        result = child_plan(Path(value)) if kind == "plan" else child_bare(int(value))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            program = write_stack(Path(tmp) / f"n{n}", n)
            ours = run_child("plan", str(program))
            bare = run_child("bare", str(int(ours["resources"])))
            row = {
                "tenants": n,
                "resources": int(ours["resources"]),
                "plan_s": round(ours["seconds"], 2),
                "plan_peak_rss_mib": round(ours["peak_rss_mib"], 1),
                "bare_mocks_s": round(bare["seconds"], 2),
                "bare_peak_rss_mib": round(bare["peak_rss_mib"], 1),
                "time_ratio": round(ours["seconds"] / bare["seconds"], 2),
                "ms_per_resource": round(1000 * ours["seconds"] / ours["resources"], 2),
            }
            rows.append(row)
            print(
                f"{n:>4} tenants: {row['resources']:>6} resources, plan {row['plan_s']:>6.2f}s "
                f"({row['plan_peak_rss_mib']:.0f} MiB) vs bare mocks {row['bare_mocks_s']:>6.2f}s "
                f"({row['bare_peak_rss_mib']:.0f} MiB): x{row['time_ratio']}",
                flush=True,
            )
    largest = rows[-1]
    print(
        json.dumps(
            {
                "benchmark": "plan_scale",
                "rows": rows,
                "target_100_tenants_under_s": 30,
                "target_ratio_max": 1.3,
                "largest": largest,
                "meets_time_target": largest["plan_s"] < 30,
                "meets_ratio_target": largest["time_ratio"] <= 1.3,
            }
        )
    )


if __name__ == "__main__":
    main()
