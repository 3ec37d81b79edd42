"""Session fixtures: a small feature repo, a signing key pair, a model trained on it, and
moto's S3 server.

Creating the repo (about 1,500 customers) and training take seconds each, so they are
built once per test session, and only when a test asks for them (the root conftest
registers them for every test folder: workload, report and benchmark tests share one
model).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SMALL_REPO = {"n_customers": 1500, "n_snapshots": 6, "labels_per_customer": 2, "seed": 7}
TRAIN_EPOCHS = 30


@dataclass(frozen=True)
class Keys:
    """An Ed25519 key pair on disk."""

    private: Path
    public: Path


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    from workloads.common.signing import write_key_pair

    folder = tmp_path_factory.mktemp("keys")
    write_key_pair(folder / "signing.pem", folder / "signing.pub.pem")
    return Keys(folder / "signing.pem", folder / "signing.pub.pem")


@pytest.fixture(scope="session")
def feature_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workloads.features.datagen import GeneratorConfig
    from workloads.features.repo import create_local_repo

    path = tmp_path_factory.mktemp("feature_repo")
    create_local_repo(path, GeneratorConfig(**SMALL_REPO), materialize=True)
    return path


@dataclass(frozen=True)
class TrainedModel:
    """Output of the shared training run."""

    out: Path
    card: dict[str, Any]
    keys: Keys
    repo: Path


@pytest.fixture(scope="session")
def trained_model(
    tmp_path_factory: pytest.TempPathFactory, feature_repo: Path, signing_keys: Keys
) -> TrainedModel:
    from workloads.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("model")
    card = train(
        TrainConfig(
            repo=feature_repo, out=out, signing_key=signing_keys.private, epochs=TRAIN_EPOCHS
        )
    )
    card.pop("_notes", None)
    return TrainedModel(out=out, card=card, keys=signing_keys, repo=feature_repo)


@pytest.fixture(scope="session")
def object_store() -> Iterator[str]:
    """Moto's S3 server on 127.0.0.1, standing in for the in-country S3-compatible store."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
