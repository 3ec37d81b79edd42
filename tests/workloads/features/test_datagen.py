"""The synthetic data generator: determinism, shift injection, orphans, bad configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workloads.features.datagen import DataGenError, GeneratorConfig, generate, write_parquet

SMALL = {"n_customers": 400, "n_snapshots": 4}


def test_same_seed_same_data_and_other_seed_differs(tmp_path: Path) -> None:
    a = generate(GeneratorConfig(**SMALL, seed=3))
    b = generate(GeneratorConfig(**SMALL, seed=3))
    c = generate(GeneratorConfig(**SMALL, seed=4))
    pd.testing.assert_frame_equal(a.activity, b.activity)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert not a.activity["balance_aed"].equals(c.activity["balance_aed"])
    paths_a = write_parquet(a, tmp_path / "a")
    paths_b = write_parquet(b, tmp_path / "b")
    for key in paths_a:
        assert paths_a[key].read_bytes() == paths_b[key].read_bytes(), key


def test_shift_moves_inputs_not_identity() -> None:
    base = generate(GeneratorConfig(n_customers=3000, n_snapshots=2, seed=1))
    shifted = generate(GeneratorConfig(n_customers=3000, n_snapshots=2, seed=1, shift=1.5))
    assert shifted.activity["balance_aed"].median() < 0.6 * base.activity["balance_aed"].median()
    assert (
        shifted.activity["digital_logins_30d"].mean()
        > 1.4 * base.activity["digital_logins_30d"].mean()
    )
    northern = [2, 3, 4, 5, 6]
    assert (
        shifted.profile["emirate_code"].isin(northern).mean()
        > base.profile["emirate_code"].isin(northern).mean() + 0.1
    )
    assert shifted.profile["customer_id"].equals(base.profile["customer_id"])


def test_labels_are_distinct_both_classes_and_orphans_precede_snapshots() -> None:
    cfg = GeneratorConfig(**SMALL, labels_per_customer=2, orphan_label_share=0.25, seed=5)
    data = generate(cfg)
    assert not data.labels.duplicated(["customer_id", "event_timestamp"]).any()
    assert set(data.labels["churned"].unique()) == {0, 1}
    first_snapshot = data.activity["event_timestamp"].min()
    orphan_share = (data.labels["event_timestamp"] < first_snapshot).mean()
    assert 0.18 < orphan_share < 0.32
    assert str(data.labels["event_timestamp"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_customers", 3, "n_customers: must be >= 10"),
        ("n_snapshots", 1, "n_snapshots: must be >= 2"),
        ("orphan_label_share", 1.0, "orphan_label_share: must be in [0, 1)"),
        ("shift", 9.0, "shift: must be in [-3, 3]"),
    ],
)
def test_bad_config_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(
        DataGenError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        GeneratorConfig(**{**SMALL, field: value}).validate()


def test_churn_signal_is_learnable_from_the_current_snapshot() -> None:
    from workloads.features.datagen import churn_logit
    from workloads.training.train import roc_auc

    data = generate(GeneratorConfig(n_customers=2000, n_snapshots=4, seed=2))
    labels = data.labels.sort_values("event_timestamp")
    current = pd.merge_asof(
        labels, data.activity.sort_values("event_timestamp"), on="event_timestamp", by="customer_id"
    )
    current = current.merge(
        data.profile.drop(columns=["event_timestamp", "created"]), on="customer_id"
    )
    auc = roc_auc(current["churned"].to_numpy(), churn_logit(current, current))
    assert auc > 0.78
    assert 0.1 < float(np.mean(labels["churned"])) < 0.4


def test_init_cli_rejects_bad_sizes_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.features.__main__ import main

    assert main(["init", "--out", str(tmp_path / "r"), "--customers", "3"]) == 2
    assert capsys.readouterr().err.strip() == "error: n_customers: must be >= 10, got 3"
    assert not (tmp_path / "r").exists()
