"""The bulk prediction histogram matches Prometheus' own le-bucket semantics."""

from __future__ import annotations

import numpy as np

from workloads.serving.metrics import PredictionDistribution


def test_bulk_and_single_observations_match_a_reference_count() -> None:
    dist = PredictionDistribution()
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.random(500), [0.1, 0.5, 0.9, 0.0, 1.0]]).astype(np.float32)
    dist.observe("m", scores[:300])
    for s in scores[300:]:
        dist.observe("m", np.asarray([s]))
    (family,) = list(dist.collect())
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    for edge in ("0.1", "0.5", "0.9", "+Inf"):
        want = float(np.sum(scores.astype(np.float64) <= float(edge))) if edge != "+Inf" else 505
        assert buckets[edge] == want, edge
    total = next(s.value for s in family.samples if s.name.endswith("_sum"))
    assert abs(total - float(scores.astype(np.float64).sum())) < 1e-3
