"""Canary decision boundaries: noise neither promotes nor rolls back beyond alpha."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from workloads.rollout.canary import (
    Action,
    ArmObservations,
    CanaryPolicy,
    decide,
    quantile_bounds,
)

POLICY = CanaryPolicy()


def _arm(
    rng: np.random.Generator,
    n: int,
    error_rate: float,
    latency_scale: float = 1.0,
    accuracy: float | None = None,
    labelled: int = 0,
) -> ArmObservations:
    correct = int(rng.binomial(labelled, accuracy)) if accuracy is not None else 0
    return ArmObservations(
        requests=n,
        errors=int(rng.binomial(n, error_rate)),
        latency_ms=(rng.lognormal(np.log(20.0), 0.4, n) * latency_scale).tolist(),
        labelled=labelled,
        correct=correct,
    )


def test_below_minimum_sample_size_holds_even_when_terrible() -> None:
    rng = np.random.default_rng(0)
    champion = _arm(rng, 2_000, 0.01)
    challenger = _arm(rng, POLICY.min_requests - 1, 0.5, latency_scale=5)
    decision = decide(champion, challenger, POLICY)
    assert decision.action is Action.HOLD
    assert "below the minimum sample size: 499 < 500" in decision.reasons[0]


def test_identical_arms_roll_back_at_most_alpha() -> None:
    rollbacks = 0
    trials = 300
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        champion = _arm(rng, 1_000, 0.02, accuracy=0.9, labelled=400)
        challenger = _arm(rng, 1_000, 0.02, accuracy=0.9, labelled=400)
        rollbacks += decide(champion, challenger, POLICY).action is Action.ROLLBACK
    assert rollbacks / trials <= POLICY.alpha


def test_challenger_worse_by_the_margin_promotes_at_most_alpha() -> None:
    promotions = 0
    trials = 300
    for seed in range(trials):
        rng = np.random.default_rng(10_000 + seed)
        champion = _arm(rng, 3_000, 0.02)
        challenger = _arm(rng, 3_000, 0.02 + POLICY.error_rate_margin)
        promotions += decide(champion, challenger, POLICY).action is Action.PROMOTE
    assert promotions / trials <= POLICY.alpha


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"error_rate": 0.08}, "error rate"),
        ({"error_rate": 0.02, "latency_scale": 2.0}, "p99 latency"),
        ({"error_rate": 0.02, "accuracy": 0.8, "labelled": 800}, "accuracy"),
    ],
)
def test_clearly_worse_challenger_rolls_back(kwargs: dict, reason: str) -> None:
    rng = np.random.default_rng(1)
    champion = _arm(rng, 3_000, 0.02, accuracy=0.9, labelled=800)
    challenger = _arm(rng, 3_000, **kwargs)
    decision = decide(champion, challenger, POLICY)
    assert decision.action is Action.ROLLBACK
    assert any(reason in r for r in decision.reasons), decision.reasons


def test_equal_or_better_challenger_with_enough_data_promotes() -> None:
    rng = np.random.default_rng(2)
    champion = _arm(rng, 5_000, 0.02, accuracy=0.9, labelled=5_000)
    equal = _arm(rng, 5_000, 0.02, accuracy=0.9, labelled=5_000)
    better = _arm(rng, 5_000, 0.005, latency_scale=0.8, accuracy=0.95, labelled=5_000)
    assert decide(champion, equal, POLICY).action is Action.PROMOTE
    assert decide(champion, better, POLICY).action is Action.PROMOTE


def test_inconclusive_evidence_holds() -> None:
    # Enough requests to clear the error check, too few latency samples for a p99 bound.
    champion = ArmObservations(requests=600, errors=0, latency_ms=[20.0] * 50)
    challenger = ArmObservations(requests=600, errors=0, latency_ms=[20.0] * 50)
    decision = decide(champion, challenger, POLICY)
    assert decision.action is Action.HOLD
    assert decision.reasons == [
        "p99 latency not shown within +20% + 2 ms (too few samples or slower)"
    ]


def test_zero_errors_in_both_arms_is_well_defined() -> None:
    champion = ArmObservations(requests=5_000, errors=0, latency_ms=[10.0] * 5_000)
    challenger = ArmObservations(requests=5_000, errors=0, latency_ms=[10.0] * 5_000)
    decision = decide(champion, challenger, POLICY)
    assert decision.action is Action.PROMOTE
    assert all(math.isfinite(v) for v in decision.metrics["error_rate_diff_bounds"])


def test_quantile_bounds_cover_the_true_p99() -> None:
    covered_upper = covered_lower = 0
    trials = 400
    true_p99 = float(np.exp(np.log(20.0) + 0.4 * 2.3263478740408408))
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        lo, hi = quantile_bounds(rng.lognormal(np.log(20.0), 0.4, 2_000), 0.99, 0.05)
        covered_upper += hi >= true_p99
        covered_lower += lo <= true_p99
    assert covered_upper / trials >= 0.93
    assert covered_lower / trials >= 0.93
    # Ten samples bound the p99 from below but not from above.
    assert quantile_bounds([1.0] * 10, 0.99, 0.05) == (1.0, math.inf)
    assert quantile_bounds([], 0.99, 0.05) == (-math.inf, math.inf)


def test_bad_observations_are_rejected_with_the_field() -> None:
    with pytest.raises(ValidationError, match=r"errors \(5\) cannot exceed requests \(3\)"):
        ArmObservations(requests=3, errors=5)
    with pytest.raises(ValidationError, match="latency_ms must hold finite"):
        ArmObservations(requests=3, errors=0, latency_ms=[float("nan")])
    with pytest.raises(ValidationError, match="min_labelled cannot exceed min_requests"):
        CanaryPolicy(min_requests=10, min_labelled=20)


def test_small_canary_with_much_slower_challenger_rolls_back_on_the_rank_test() -> None:
    rng = np.random.default_rng(5)
    champion = _arm(rng, 600, 0.0)
    # A few noisy-neighbour spikes on the champion make its p99 upper bound useless.
    champion.latency_ms[:6] = [400.0] * 6
    challenger = _arm(rng, 600, 0.0, latency_scale=2.5)
    decision = decide(champion, challenger, POLICY)
    assert decision.action is Action.ROLLBACK
    assert "rank test" in decision.reasons[0]
    # With 600 samples the p99 bounds alone are too wide to show it.
    c_lo = decision.metrics["challenger_p99_bounds_ms"][0]
    h_hi = decision.metrics["champion_p99_bounds_ms"][1]
    assert c_lo <= h_hi * 1.2


def test_better_accuracy_promotes_when_only_p99_non_inferiority_is_unproven() -> None:
    """1,000 requests a side cannot bound a p99 within +20 %, but a challenger shown more
    accurate, with nothing shown worse, is promoted; without the rule it holds, and a
    challenger shown slower is still rolled back."""
    rng = np.random.default_rng(5)
    relative = CanaryPolicy(latency_slack_ms=0)  # the relative tolerance alone
    champion = ArmObservations(
        requests=6000, errors=0, latency_ms=list(rng.gamma(4, 1.0, 6000)),
        labelled=6000, correct=4600,
    )  # fmt: skip
    same_speed = list(rng.gamma(4, 1.0, 1000))
    better = ArmObservations(
        requests=1000, errors=0, latency_ms=same_speed, labelled=1000, correct=830
    )
    decision = decide(champion, better, relative)
    assert decision.action is Action.PROMOTE, decision.reasons
    assert "accuracy better" in decision.reasons[0]
    strict = decide(
        champion, better, CanaryPolicy(promote_on_better_quality=False, latency_slack_ms=0)
    )
    assert strict.action is Action.HOLD
    assert strict.reasons == [
        "p99 latency not shown within +20% + 0 ms (too few samples or slower)"
    ]
    slower = better.model_copy(update={"latency_ms": [2 * v for v in same_speed]})
    assert decide(champion, slower, relative).action is Action.ROLLBACK
    as_good = better.model_copy(update={"correct": 767})
    assert decide(champion, as_good, relative).action is Action.HOLD


def test_sub_millisecond_latency_differences_are_not_a_regression() -> None:
    """A fresh challenger process answering in 1.7 ms at p99 against the champion's 1.0 ms
    is significantly slower with thousands of samples, and immaterial: within the
    absolute slack it neither rolls back nor blocks promotion; without the slack (the
    relative tolerance alone) the same numbers roll it back."""
    rng = np.random.default_rng(11)
    champion = ArmObservations(
        requests=20_000, errors=0, latency_ms=list(rng.gamma(8, 0.08, 20_000)),
        labelled=20_000, correct=16_000,
    )  # fmt: skip
    challenger = ArmObservations(
        requests=4_000, errors=0, latency_ms=list(rng.gamma(8, 0.13, 4_000)),
        labelled=4_000, correct=3_200,
    )  # fmt: skip
    relative = decide(champion, challenger, CanaryPolicy(latency_slack_ms=0))
    assert relative.action is Action.ROLLBACK and "p99 latency" in relative.reasons[0]
    assert relative.metrics["challenger_p99_ms"] < 2.5
    decision = decide(champion, challenger, CanaryPolicy())
    assert decision.action is Action.PROMOTE, decision.reasons
    slow = challenger.model_copy(update={"latency_ms": [v + 5.0 for v in challenger.latency_ms]})
    assert decide(champion, slow, CanaryPolicy()).action is Action.ROLLBACK
