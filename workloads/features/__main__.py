"""Feature repository CLI.

``python -m workloads.features init --out DIR [--customers N] [--snapshots N]
[--labels-per-customer N] [--seed S] [--shift X] [--orphan-label-share F]
[--no-materialize]`` generates the synthetic churn data into a local Feast repo at
``DIR`` (default ``.mlplatform/local/feature_repo``), applies the definitions and
materialises the online store.

``python -m workloads.features render --project P --registry-uri s3://... --offline-uri
s3://... --kms-key-id K (--dynamodb [--region R] | --redis-host H [--redis-port P]
[--redis-cluster] [--redis-password-env VAR])`` prints the platform's
``feature_store.yaml``.

Exit codes: 0 ok, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from contracts.feature_store import (
    DynamoDBOnlineStore,
    PlatformFeatureStoreSettings,
    RedisOnlineStore,
    render_platform_feature_store_yaml,
)
from contracts.names import DEFAULT_REGION
from contracts.telemetry import REDIS_PORT
from workloads.features.datagen import DataGenError, GeneratorConfig

DEFAULT_REPO = Path(".mlplatform/local/feature_repo")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workloads.features",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="generate data into a local Feast repo and apply it")
    init.add_argument("--out", type=Path, default=DEFAULT_REPO, help="repo folder")
    init.add_argument("--customers", type=int, default=5000, help="number of customers")
    init.add_argument("--snapshots", type=int, default=8, help="weekly activity snapshots")
    init.add_argument("--labels-per-customer", type=int, default=1, help="labels per customer")
    init.add_argument("--seed", type=int, default=7, help="random seed")
    init.add_argument("--shift", type=float, default=0.0, help="covariate shift in [-3, 3]")
    init.add_argument(
        "--orphan-label-share",
        type=float,
        default=0.0,
        help="share of labels placed before any activity snapshot",
    )
    init.add_argument("--no-materialize", action="store_true", help="skip the online store")
    render = sub.add_parser("render", help="print the platform feature_store.yaml")
    render.add_argument("--project", required=True)
    render.add_argument("--registry-uri", required=True)
    render.add_argument("--offline-uri", required=True)
    render.add_argument("--kms-key-id", required=True)
    online = render.add_mutually_exclusive_group(required=True)
    online.add_argument("--dynamodb", action="store_true", help="DynamoDB online store")
    online.add_argument("--redis-host", help="Redis online store host")
    render.add_argument("--region", default=DEFAULT_REGION)
    render.add_argument("--redis-port", type=int, default=REDIS_PORT)
    render.add_argument("--redis-cluster", action="store_true")
    render.add_argument("--redis-password-env", default="FEAST_REDIS_PASSWORD")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "init":
        from workloads.features.repo import create_local_repo

        config = GeneratorConfig(
            n_customers=args.customers,
            n_snapshots=args.snapshots,
            labels_per_customer=args.labels_per_customer,
            seed=args.seed,
            shift=args.shift,
            orphan_label_share=args.orphan_label_share,
        )
        try:
            config.validate()
        except DataGenError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        repo = create_local_repo(args.out, config, materialize=not args.no_materialize)
        print(
            json.dumps(
                {
                    "repo": str(repo.path),
                    "labels": str(repo.labels_path),
                    "n_labels": repo.n_labels,
                    "n_activity_rows": repo.n_activity_rows,
                    "materialized": repo.materialized,
                }
            )
        )
        return 0
    try:
        store = (
            DynamoDBOnlineStore(region=args.region)
            if args.dynamodb
            else RedisOnlineStore(
                host=args.redis_host,
                port=args.redis_port,
                cluster=args.redis_cluster,
                password_env=args.redis_password_env,
            )
        )
        settings = PlatformFeatureStoreSettings(
            project=args.project,
            registry_uri=args.registry_uri,
            offline_data_uri=args.offline_uri,
            kms_key_id=args.kms_key_id,
            online=store,
        )
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"])
            print(f"error: {where}: {err['msg']}", file=sys.stderr)
        return 2
    sys.stdout.write(render_platform_feature_store_yaml(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
