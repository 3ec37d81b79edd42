"""The benchmark smoke tests time the session's small signed model (built once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.model_fixtures import TrainedModel


@dataclass(frozen=True)
class SmallModel:
    """A trained, signed model folder and the public key that verifies it."""

    model_dir: Path
    public_key: Path


@pytest.fixture(scope="session")
def small_model(trained_model: TrainedModel) -> SmallModel:
    """The model of ``tests/model_fixtures.py``, shared with the workload tests."""
    return SmallModel(model_dir=trained_model.out, public_key=trained_model.keys.public)
