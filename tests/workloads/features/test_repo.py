"""The local Feast repo: applied objects and materialised online values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from workloads.features.repo import view_path


def test_local_config_is_sqlite_and_file(feature_repo: Path) -> None:
    config = yaml.safe_load((feature_repo / "feature_store.yaml").read_text())
    assert config["online_store"]["type"] == "sqlite"
    assert config["offline_store"]["type"] == "file"
    assert not Path(config["registry"]).is_absolute()


def test_online_store_holds_the_latest_snapshot(feature_repo: Path) -> None:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(feature_repo))
    service = store.get_feature_service("churn_model")
    activity = pd.read_parquet(view_path(feature_repo, "customer_activity"))
    latest = activity.sort_values("event_timestamp").groupby("customer_id").tail(1)
    sample = latest.sample(5, random_state=0).set_index("customer_id")
    online = store.get_online_features(
        features=service, entity_rows=[{"customer_id": int(i)} for i in sample.index]
    ).to_dict()
    for k, cid in enumerate(online["customer_id"]):
        assert online["txn_count_30d"][k] == sample.loc[cid, "txn_count_30d"]
        assert abs(online["balance_aed"][k] - sample.loc[cid, "balance_aed"]) < 1e-3
    names = [f.name for p in service.feature_view_projections for f in p.features]
    assert names[:2] == ["age", "tenure_months"]
    assert len(names) == 11
