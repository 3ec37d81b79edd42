"""A small signed model for the benchmark smoke tests (built once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class SmallModel:
    """A trained, signed model folder and the public key that verifies it."""

    model_dir: Path
    public_key: Path


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    from workloads.common.signing import write_key_pair
    from workloads.features.datagen import GeneratorConfig
    from workloads.features.repo import create_local_repo
    from workloads.training.train import TrainConfig, train

    keys = tmp_path_factory.mktemp("keys")
    write_key_pair(keys / "signing.pem", keys / "signing.pub.pem")
    repo = tmp_path_factory.mktemp("feature_repo")
    create_local_repo(
        repo,
        GeneratorConfig(n_customers=300, n_snapshots=3, labels_per_customer=2, seed=3),
        materialize=True,
    )
    out = tmp_path_factory.mktemp("model")
    # The benchmarks time the model, not its quality: a short run, no quality gate.
    train(TrainConfig(repo=repo, out=out, signing_key=keys / "signing.pem", epochs=2, min_auc=0.0))
    return SmallModel(model_dir=out, public_key=keys / "signing.pub.pem")
