"""The stages of the local lifecycle, one function each (``__main__`` runs them in order).

Each stage appends the lines it prints to ``notes`` and raises :class:`StageError`
when the loop cannot go on. Everything a stage writes lands under :class:`Workdir`.
"""

from __future__ import annotations

import argparse
import pathlib
from dataclasses import dataclass
from typing import Any

from workloads.lifecycle.runtime import Processes, last_json_line


@dataclass(frozen=True)
class Workdir:
    """Where the lifecycle keeps what it makes (see the package's ``__main__``)."""

    root: pathlib.Path

    @property
    def feature_repo(self) -> pathlib.Path:
        """The local Feast repository (data, registry, SQLite online store)."""
        return self.root / "feature_repo"

    @property
    def champion(self) -> pathlib.Path:
        """The champion's model directory."""
        return self.root / "models" / "champion"

    @property
    def predictions(self) -> pathlib.Path:
        """The champion server's prediction log."""
        return self.root / "predictions"

    @property
    def monitoring(self) -> pathlib.Path:
        """Drift reports, the trigger queue and retraining requests."""
        return self.root / "monitoring"

    @property
    def alerts(self) -> pathlib.Path:
        """The webhook token and the audit log."""
        return self.root / "alerts"


# --- stages 1-3: features, champion, serving ------------------------------------------


def materialise_features(
    procs: Processes, args: argparse.Namespace, workdir: Workdir, notes: list[str]
) -> None:
    """Generate the data into a Feast repo and materialise the online store."""
    output = procs.run(
        "features",
        [
            "-m",
            "workloads.features",
            "init",
            "--out",
            str(workdir.feature_repo),
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
        ],
        timeout=300,
    )
    result = last_json_line(output)
    notes.append(
        f"{result['n_labels']} labels, {result['n_activity_rows']} activity rows, "
        f"online store materialised: {result['materialized']}"
    )


def _train(
    procs: Processes, name: str, workdir: Workdir, out: pathlib.Path, flags: list[str]
) -> dict[str, Any]:
    """Run the training job into ``out``; return its summary line."""
    output = procs.run(
        name,
        [
            "-m",
            "workloads.training",
            "--repo",
            str(workdir.feature_repo),
            "--out",
            str(out),
            *flags,
        ],
        timeout=600,
    )
    return last_json_line(output)


def train_champion(
    procs: Processes,
    args: argparse.Namespace,
    workdir: Workdir,
    notes: list[str],
    version: str | None = None,
) -> dict[str, Any]:
    """Train, gate, export and sign the champion (as ``version``, the stack's, when
    given); return the trainer's summary."""
    flags = ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    result = _train(
        procs,
        "train-champion",
        workdir,
        workdir.champion,
        [*flags, "--model-version", version] if version else flags,
    )
    metrics = result["metrics"]
    notes.append(
        f"version {result['model_version']}: roc_auc {metrics['roc_auc']:.3f}, "
        f"accuracy {metrics['accuracy_at_0_5']:.3f}, ONNX parity "
        f"{result['onnx_parity']['max_abs_diff']:.1e} -> gate passed, signed"
    )
    notes.append(lineage_note(workdir.champion / "model_card.json"))
    return result


def lineage_note(card_path: pathlib.Path) -> str:
    """What the card's lineage names: the views' partitions, those holding ingested events."""
    import json

    import pyarrow.parquet as pq

    if not card_path.is_file():
        return f"lineage: no model card at {card_path}"
    files = json.loads(card_path.read_text())["lineage"]["files"]
    parts = [f for f in files if "view" in f]
    ingested = [
        f
        for f in parts
        if pathlib.Path(f["uri"]).is_file()
        and not all(
            str(i).startswith("seed:")
            for i in pq.read_table(f["uri"], columns=["event_id"]).column(0).to_pylist()
        )
    ]
    named = ", ".join(
        f"{f['view']}/{pathlib.Path(f['uri']).parent.name}/{pathlib.Path(f['uri']).name} "
        f"sha256:{f['sha256'][:12]}"
        for f in ingested[:2]
    )
    return (
        f"lineage: {len(parts)} partitions of {len({f['view'] for f in parts})} views in the card,"
        f" {len(ingested)} with ingested events ({named or 'none'})"
    )
