"""The local ML lifecycle in one call: feature repo, training, signed model.

Everything lands under ``base`` (default ``.mlplatform/local/`` of the working
directory, git-ignored) so a user can inspect it and serve the model again by hand::

    .mlplatform/local/feature_repo/   Feast repo (SQLite online, parquet offline)
    .mlplatform/local/model/          model.onnx, model_card.json, reference_stats.json,
                                      signature.json
    .mlplatform/local/keys/           dev signing key pair (created once)

``python -m workloads.training.local [--base DIR] [--customers N] [--seed S]`` prints
the serve command as its last line. The benchmarks reuse :func:`ensure_local_model`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from workloads.common.signing import (
    ArtifactVerificationError,
    ensure_dev_key_pair,
    load_public_key,
    verify_artifacts,
)

DEFAULT_BASE = Path(".mlplatform/local")


@dataclass(frozen=True)
class LocalModel:
    """Paths of a locally trained model."""

    repo: Path
    model_dir: Path
    public_key: Path
    private_key: Path


def _verifies(model_dir: Path, public: Path) -> bool:
    """Whether the model in ``model_dir`` verifies with the local public key."""
    try:
        verify_artifacts(model_dir, load_public_key(public), ())
    except ArtifactVerificationError:
        return False
    return True


def ensure_local_model(
    base: Path = DEFAULT_BASE, *, customers: int = 5000, seed: int = 7, retrain: bool = False
) -> LocalModel:
    """Build the repo and train once; reuse an existing signed model unless ``retrain``."""
    from workloads.features.datagen import GeneratorConfig
    from workloads.features.repo import create_local_repo
    from workloads.training.train import TrainConfig, train

    base = base.resolve()
    private, public, _ = ensure_dev_key_pair(key_dir=base / "keys")
    repo, model_dir = base / "feature_repo", base / "model"
    # A model the local key does not verify (older signature format, keys regenerated,
    # artifacts changed) is retrained: servers would refuse it.
    if retrain or not _verifies(model_dir, public):
        create_local_repo(repo, GeneratorConfig(n_customers=customers, seed=seed))
        train(TrainConfig(repo=repo, out=model_dir, signing_key=private, seed=seed))
    return LocalModel(repo=repo, model_dir=model_dir, public_key=public, private_key=private)


def main(argv: list[str] | None = None) -> int:
    """Run the lifecycle; print a JSON summary and the serve command."""
    p = argparse.ArgumentParser(
        prog="python -m workloads.training.local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", type=Path, default=DEFAULT_BASE)
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--retrain", action="store_true")
    args = p.parse_args(argv)
    local = ensure_local_model(
        args.base, customers=args.customers, seed=args.seed, retrain=args.retrain
    )
    card = json.loads((local.model_dir / "model_card.json").read_text(encoding="utf-8"))
    print(
        json.dumps(
            {
                "model_dir": str(local.model_dir),
                "model_version": card["model_version"],
                "roc_auc": card["metrics"]["roc_auc"],
            }
        ),
        file=sys.stderr,
    )
    print(
        f"python -m workloads.serving --model_name churn --model_dir {local.model_dir}"
        f" --http_port 8080 --public_key {local.public_key}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
