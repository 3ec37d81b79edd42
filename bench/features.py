"""Feature store benchmark on the local Feast repo (SQLite online, parquet offline).

Measures, in one run on a freshly generated repo of ``--customers`` customers:

- online lookup of the ``churn_model`` feature service for 1 and 100 entities
  (``get_online_features``), p50/p99 over ``--iters`` calls each;
- point-in-time historical retrieval for 10,000 entity rows (``--entity-rows``), the
  best and median of ``--repeats`` runs, with the number of rows that came back.

``python bench/features.py [--customers N] [--iters N] [--entity-rows N]``. Last stdout
line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--entity-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_start = os.getloadavg()
    import pandas as pd
    from feast import FeatureStore

    from workloads.features.datagen import GeneratorConfig
    from workloads.features.repo import create_local_repo, view_path

    results: dict[str, object] = {
        "bench": "features",
        "cpus": os.cpu_count(),
        "customers": args.customers,
    }
    with tempfile.TemporaryDirectory() as tmp:
        labels_per_customer = max(1, -(-args.entity_rows // args.customers))
        t0 = time.perf_counter()
        repo = create_local_repo(
            Path(tmp) / "repo",
            GeneratorConfig(
                n_customers=args.customers, labels_per_customer=labels_per_customer, seed=11
            ),
        )
        results["create_and_materialize_s"] = time.perf_counter() - t0
        store = FeatureStore(repo_path=str(repo.path))
        service = store.get_feature_service("churn_model")
        ids = pd.read_parquet(view_path(repo.path, "customer_profile"))["customer_id"]
        rng = np.random.default_rng(0)
        for n in (1, 100):
            samples = []
            for _ in range(args.iters):
                rows = [{"customer_id": int(i)} for i in rng.choice(ids, n, replace=False)]
                start = time.perf_counter()
                out = store.get_online_features(features=service, entity_rows=rows).to_dict()
                samples.append(time.perf_counter() - start)
                assert all(v is not None for v in out["balance_aed"]), "missing online values"
            ms = np.asarray(samples[10:]) * 1e3
            results[f"online_{n}_entities"] = {
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
                "calls": len(ms),
            }
        labels = pd.read_parquet(repo.labels_path).head(args.entity_rows)
        entity = labels[["customer_id", "event_timestamp"]]
        times = []
        returned = 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            frame = store.get_historical_features(entity_df=entity, features=service).to_df()
            times.append(time.perf_counter() - start)
            returned = len(frame)
        results["historical"] = {
            "entity_rows": len(entity),
            "rows_returned": returned,
            "best_s": min(times),
            "median_s": float(np.median(times)),
        }
    results["load_average_start"] = [round(x, 2) for x in load_start]
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
