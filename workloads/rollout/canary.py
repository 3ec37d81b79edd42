"""Canary analysis: promote, hold or roll back a challenger model against the champion.

A pure function of the two arms' observations (:func:`decide`); no I/O. Three checks,
each one-sided, at a share of the policy's ``alpha`` (Bonferroni, so noise alone rolls
back with probability at most ``alpha`` overall):

- **Error rate**: difference of proportions challenger - champion with the
  Agresti-Caffo interval (add one error and one success to each arm; well-behaved at
  zero errors, unlike the plain Wald interval). Worse when the lower bound is above 0;
  non-inferior when the upper bound is below ``error_rate_margin``.
- **p99 latency**: distribution-free confidence bounds for each arm's 99th
  percentile from order statistics (the binomial count of samples below the true
  quantile). Worse when the challenger's lower bound exceeds the champion's upper
  bound times ``1 + latency_tolerance`` plus ``latency_slack_ms``, or (more power on
  small canaries) when a one-sided Mann-Whitney test finds the challenger's latencies
  higher *and* its p99 exceeds the champion's by more than that allowance.
  Non-inferior when the challenger's upper bound is within the allowance of the
  champion's lower bound, which needs a few thousand samples per arm; before that the
  check holds. The absolute slack keeps sub-millisecond differences between two
  processes (a freshly started challenger, cache warm-up) from counting as a
  regression: they are real, often significant with thousands of samples, and
  immaterial to a client.
- **Quality** on labelled feedback (accuracy), when either arm has labels: same
  interval as the error rate, with ``quality_margin``. Without labels it is skipped.

Decision: HOLD below ``min_requests`` per arm; ROLLBACK when any check is worse;
PROMOTE when every applicable check is non-inferior, or (``promote_on_better_quality``)
when accuracy is shown *better* and the only open question is p99 non-inferiority (on a
10 % share that needs tens of thousands of requests; the rank test and the bounds still
roll back a challenger shown slower); otherwise HOLD (not enough evidence either way). A challenger truly worse than a margin promotes with
probability at most the check's alpha: the margins are the "noise" the policy accepts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats


class Action(StrEnum):
    """What to do with the canary."""

    PROMOTE = "promote"
    HOLD = "hold"
    ROLLBACK = "rollback"


class CanaryPolicy(BaseModel):
    """Thresholds of the canary analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_requests: int = Field(
        default=500, ge=1, description="Requests each arm needs before any decision."
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Overall false-rollback rate when both arms are equal (split over checks).",
    )
    error_rate_margin: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Absolute error-rate increase still acceptable for promotion.",
    )
    latency_tolerance: float = Field(
        default=0.2, ge=0, description="Relative p99 latency increase still acceptable."
    )
    latency_slack_ms: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Absolute p99 increase (ms) on top of the relative tolerance still acceptable:"
            " sub-millisecond differences between processes are not a regression."
        ),
    )
    quality_margin: float = Field(
        default=0.02, gt=0, lt=1, description="Absolute accuracy drop still acceptable."
    )
    min_labelled: int = Field(
        default=200, ge=1, description="Labelled predictions per arm before quality counts."
    )
    promote_on_better_quality: bool = Field(
        default=True,
        description=(
            "Promote a challenger whose accuracy is shown better, when nothing is shown "
            "worse and only p99 non-inferiority is still unproven (it needs thousands of "
            "requests on the challenger's share)."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> CanaryPolicy:
        if self.min_labelled > self.min_requests:
            raise ValueError("min_labelled cannot exceed min_requests")
        return self


class ArmObservations(BaseModel):
    """What one arm (champion or challenger) served during the analysis window."""

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(ge=0, description="Requests served.")
    errors: int = Field(ge=0, description="Requests that failed (5xx, timeouts).")
    latency_ms: list[float] = Field(
        default_factory=list, description="Per-request latency samples in milliseconds."
    )
    labelled: int = Field(default=0, ge=0, description="Predictions with ground-truth labels.")
    correct: int = Field(default=0, ge=0, description="Labelled predictions that were right.")

    @model_validator(mode="after")
    def _check(self) -> ArmObservations:
        if self.errors > self.requests:
            raise ValueError(f"errors ({self.errors}) cannot exceed requests ({self.requests})")
        if self.correct > self.labelled:
            raise ValueError(f"correct ({self.correct}) cannot exceed labelled ({self.labelled})")
        if any(not math.isfinite(v) or v < 0 for v in self.latency_ms):
            raise ValueError("latency_ms must hold finite, non-negative numbers")
        return self


@dataclass(frozen=True)
class CanaryDecision:
    """The decision, the reasons a human reads, and the numbers behind it."""

    action: Action
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)


def _diff_interval(x1: int, n1: int, x2: int, n2: int, z: float) -> tuple[float, float, float]:
    """Agresti-Caffo interval for p1 - p2: (point estimate, lower, upper)."""
    p1, p2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
    point = x1 / n1 - x2 / n2 if n1 and n2 else math.nan
    return point, p1 - p2 - z * se, p1 - p2 + z * se


def quantile_bounds(samples: Sequence[float], q: float, alpha: float) -> tuple[float, float]:
    """One-sided (1 - alpha) lower and upper confidence bounds of the q-quantile.

    The number of samples below the true quantile is Binomial(n, q); the bounds are
    the order statistics that bracket it. ``inf`` when n is too small for the upper
    bound, ``-inf`` likewise for the lower.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    if n == 0:
        return -math.inf, math.inf
    # P(X_(k) >= Q) >= 1 - alpha with k = smallest index with BinomCDF(k-1) >= 1-alpha.
    k_upper = int(stats.binom.ppf(1 - alpha, n, q)) + 1
    k_lower = int(stats.binom.ppf(alpha, n, q))
    upper = float(x[k_upper - 1]) if k_upper <= n else math.inf
    lower = float(x[k_lower - 1]) if k_lower >= 1 else -math.inf
    return lower, upper


def decide(
    champion: ArmObservations, challenger: ArmObservations, policy: CanaryPolicy | None = None
) -> CanaryDecision:
    """Promote, hold or roll back the challenger (see the module doc for the rules)."""
    policy = policy or CanaryPolicy()
    fewest = min(champion.requests, challenger.requests)
    metrics: dict[str, Any] = {
        "champion_requests": champion.requests,
        "challenger_requests": challenger.requests,
    }
    if fewest < policy.min_requests:
        return CanaryDecision(
            Action.HOLD,
            [f"below the minimum sample size: {fewest} < {policy.min_requests} requests per arm"],
            metrics,
        )
    use_quality = champion.labelled > 0 or challenger.labelled > 0
    checks = 3 if use_quality else 2
    analysis = _Analysis(champion, challenger, policy, policy.alpha / checks, metrics)
    analysis.check_error_rate()
    analysis.check_latency()
    if use_quality:
        analysis.check_quality()

    if analysis.worse:
        return CanaryDecision(Action.ROLLBACK, analysis.worse, analysis.metrics)
    if analysis.not_shown and analysis.better_quality and policy.promote_on_better_quality:
        only_latency = all(r.startswith("p99 latency not shown") for r in analysis.not_shown)
        if only_latency:
            return CanaryDecision(
                Action.PROMOTE,
                [
                    "accuracy better than the champion's (difference > 0 at "
                    f"{1 - analysis.check_alpha:.3f} confidence), error rate within its "
                    "margin, latency not worse (p99 non-inferiority needs more samples)"
                ],
                analysis.metrics,
            )
    if analysis.not_shown:
        return CanaryDecision(Action.HOLD, analysis.not_shown, analysis.metrics)
    return CanaryDecision(
        Action.PROMOTE, ["every check is within its margin of the champion"], analysis.metrics
    )


@dataclass
class _Analysis:
    """The checks of one decision; each adds its numbers and, if any, a reason."""

    champion: ArmObservations
    challenger: ArmObservations
    policy: CanaryPolicy
    check_alpha: float
    """Each check's share of the policy's alpha (Bonferroni)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    worse: list[str] = field(default_factory=list)
    """Reasons to roll back."""
    not_shown: list[str] = field(default_factory=list)
    """Checks that could not show the challenger within its margin (hold)."""
    better_quality: bool = False
    """Accuracy shown better than the champion's (not only within the margin)."""

    @property
    def z(self) -> float:
        """One-sided normal quantile of the checks' confidence."""
        return float(stats.norm.ppf(1 - self.check_alpha))

    def check_error_rate(self) -> None:
        champion, challenger, policy = self.champion, self.challenger, self.policy
        err_point, err_lo, err_hi = _diff_interval(
            challenger.errors, challenger.requests, champion.errors, champion.requests, self.z
        )
        metrics = self.metrics
        metrics |= {
            "champion_error_rate": champion.errors / champion.requests,
            "challenger_error_rate": challenger.errors / challenger.requests,
            "error_rate_diff": err_point,
            "error_rate_diff_bounds": [err_lo, err_hi],
        }
        if err_lo > 0:
            self.worse.append(
                f"error rate {metrics['challenger_error_rate']:.4f} vs "
                f"{metrics['champion_error_rate']:.4f} (difference > 0 at "
                f"{1 - self.check_alpha:.3f} confidence)"
            )
        elif err_hi >= policy.error_rate_margin:
            self.not_shown.append(
                f"error rate not shown within +{policy.error_rate_margin} "
                f"(upper bound +{err_hi:.4f})"
            )

    def check_latency(self) -> None:
        champion, challenger, policy = self.champion, self.challenger, self.policy
        # The latency check's share of alpha is split in two: the order-statistic bounds
        # of the p99 (each one-sided at check_alpha / 4) and the rank test (check_alpha / 2).
        bound_alpha = self.check_alpha / 4
        challenger_lo, challenger_hi = quantile_bounds(challenger.latency_ms, 0.99, bound_alpha)
        champion_lo, champion_hi = quantile_bounds(champion.latency_ms, 0.99, bound_alpha)
        challenger_p99, champion_p99 = _p99(challenger.latency_ms), _p99(champion.latency_ms)
        rank_p = (
            float(
                stats.mannwhitneyu(
                    challenger.latency_ms,
                    champion.latency_ms,
                    alternative="greater",
                    method="asymptotic",
                ).pvalue
            )
            if challenger.latency_ms and champion.latency_ms
            else 1.0
        )
        self.metrics |= {
            "champion_p99_ms": champion_p99,
            "challenger_p99_ms": challenger_p99,
            "champion_p99_bounds_ms": [champion_lo, champion_hi],
            "challenger_p99_bounds_ms": [challenger_lo, challenger_hi],
            "latency_slower_p_value": rank_p,
        }
        tolerance, slack = 1 + policy.latency_tolerance, policy.latency_slack_ms
        allowance = f"x {tolerance:.2f} + {slack:g} ms"
        compared = f"p99 latency {challenger_p99:.1f} ms vs {champion_p99:.1f} ms"
        if math.isfinite(champion_hi) and challenger_lo > champion_hi * tolerance + slack:
            self.worse.append(
                f"{compared} (challenger's lower bound {challenger_lo:.1f} ms > champion's "
                f"upper bound {allowance})"
            )
        elif rank_p < self.check_alpha / 2 and challenger_p99 > champion_p99 * tolerance + slack:
            self.worse.append(
                f"{compared} (> {allowance}), and latencies are higher overall "
                f"(rank test p = {rank_p:.2g})"
            )
        elif not (
            math.isfinite(challenger_hi)
            and math.isfinite(champion_lo)
            and challenger_hi <= champion_lo * tolerance + slack
        ):
            # Non-inferior only when the challenger's upper bound is within the allowance
            # of the champion's lower bound: then Q99(challenger) <= allowance(Q99(champion)).
            self.not_shown.append(
                f"p99 latency not shown within +{policy.latency_tolerance:.0%} + {slack:g} ms "
                "(too few samples or slower)"
            )

    def check_quality(self) -> None:
        champion, challenger, policy = self.champion, self.challenger, self.policy
        if min(champion.labelled, challenger.labelled) < policy.min_labelled:
            self.not_shown.append(
                f"quality: fewer than {policy.min_labelled} labelled predictions per arm"
            )
            return
        _, accuracy_lo, accuracy_hi = _diff_interval(
            challenger.correct, challenger.labelled, champion.correct, champion.labelled, self.z
        )
        metrics = self.metrics
        metrics |= {
            "champion_accuracy": champion.correct / champion.labelled,
            "challenger_accuracy": challenger.correct / challenger.labelled,
            "accuracy_diff_bounds": [accuracy_lo, accuracy_hi],
        }
        if accuracy_hi < 0:
            self.worse.append(
                f"accuracy {metrics['challenger_accuracy']:.4f} vs "
                f"{metrics['champion_accuracy']:.4f} (difference < 0 at "
                f"{1 - self.check_alpha:.3f} confidence)"
            )
        elif accuracy_lo <= -policy.quality_margin:
            self.not_shown.append(f"accuracy not shown within -{policy.quality_margin}")
        self.better_quality = accuracy_lo > 0


def _p99(samples: Sequence[float]) -> float:
    return float(np.quantile(samples, 0.99)) if len(samples) else math.nan
