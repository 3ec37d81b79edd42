"""Policy throughput through the Analyzer protocol on the 100-tenant plan, vs plan time.

One run: a copy of our project with a ``bench`` stack of N tenants (alternating SMB and
enterprise) is planned by the offline engine, then both packs run over the plan through
the Analyzer gRPC protocol exactly as ``mlplatform policy`` runs them (pack processes
started as the Pulumi CLI starts them). Reported:

- ``protocol_resources_per_s``: resources / wall time of the Analyze + AnalyzeStack
  phase (both packs concurrently, each resource analyzed by every pack);
- ``end_to_end_resources_per_s``: resources / whole policy run (pack start-up included);
- ``policy_over_plan``: whole policy run time / plan time (target: at most 0.5).

The last line printed is one JSON object.

    python bench/policy_scale.py [--tenants 100] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlplatform.engine import plan_program  # noqa: E402
from mlplatform.policy import runner  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stacks import write_stack  # noqa: E402


def main() -> int:
    """Plan once, run the packs ``--repeat`` times, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100, help="tenants in the stack")
    parser.add_argument("--repeat", type=int, default=1, help="policy runs (median reported)")
    args = parser.parse_args()
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        program = write_stack(Path(tmp), args.tenants)
        started = time.perf_counter()
        plan = plan_program(program, "bench")
        plan_seconds = time.perf_counter() - started

    packs = runner.discover_packs(REPO)
    runs = []
    for _ in range(max(args.repeat, 1)):
        report = runner.run_packs(plan, packs)
        protocol = max(p.analyze_seconds + p.stack_seconds for p in report.packs)
        runs.append((report, protocol))
        print(
            f"policy run: {report.resources_analyzed} resources, {report.seconds:.2f}s total, "
            f"protocol phase {protocol:.2f}s, "
            + ", ".join(
                f"{p.name}: start {p.start_seconds:.2f}s analyze {p.analyze_seconds:.2f}s "
                f"stack {p.stack_seconds:.2f}s"
                for p in report.packs
            ),
            file=sys.stderr,
        )
    total = statistics.median(r.seconds for r, _ in runs)
    protocol = statistics.median(p for _, p in runs)
    report = runs[-1][0]
    resources = report.resources_analyzed
    result = {
        "bench": "policy_scale",
        "tenants": args.tenants,
        "resources": resources,
        "packs": [p.name for p in report.packs],
        "policies": sum(len(p.policies) for p in report.packs),
        "violations": len(report.violations),
        "mandatory_violations": len(report.mandatory_violations),
        "plan_seconds": round(plan_seconds, 3),
        "policy_seconds": round(total, 3),
        "protocol_seconds": round(protocol, 3),
        "protocol_resources_per_s": round(resources / protocol, 1),
        "end_to_end_resources_per_s": round(resources / total, 1),
        "policy_over_plan": round(total / plan_seconds, 3),
        "targets": {"protocol_resources_per_s": 2000, "policy_over_plan": 0.5},
        "repeat": len(runs),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    result["load_average_start"] = [round(x, 2) for x in load_start]
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
