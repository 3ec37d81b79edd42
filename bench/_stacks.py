"""Generated stacks for the benchmarks: the prod stack file with N tenants."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def write_stack(folder: Path, tenants: int) -> Path:
    """A project folder whose stack ``bench`` is ``stacks/Pulumi.prod.yaml`` with ``tenants``
    tenants (alternating SMB and enterprise) instead of the shipped ones."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(
        f"name: sovereign-ml-platform\nruntime: python\nmain: {REPO / 'stacks'}\n"
        "stackConfigDir: .\n"
    )
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.prod.yaml").read_text())
    stack["config"]["sovereign-ml-platform:tenants"] = [
        {
            "name": f"t{i:03d}-{'smb' if i % 2 == 0 else 'ent'}",
            "tier": "smb" if i % 2 == 0 else "enterprise",
        }
        for i in range(tenants)
    ]
    (folder / "Pulumi.bench.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return folder
