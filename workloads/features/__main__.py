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

``python -m workloads.features materialize --repo DIR [--online-ttl-days N]`` loads the
online store up to now (``materialize_incremental``) from the repo's
``feature_store.yaml``, with every written row expiring after the tenant's online
retention (DynamoDB: ``expires_at`` on each item, :mod:`workloads.features.online_store`;
Redis: ``key_ttl_seconds``). This is the per-tenant materialisation CronJob's command
(:func:`contracts.feature_store.materialize_args`); it prints one JSON line.

Exit codes: 0 ok, 1 materialisation failed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig

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
    mat = sub.add_parser("materialize", help="load the online store up to now, rows expiring")
    mat.add_argument("--repo", type=Path, required=True, help="folder of feature_store.yaml")
    mat.add_argument(
        "--online-ttl-days",
        type=int,
        default=None,
        help="online retention: rows written expire this many days later (required for DynamoDB)",
    )
    return parser


def materialize(repo: Path, config: RepoConfig) -> dict[str, object]:
    """``materialize_incremental`` up to now with the writer ``config``; a summary."""
    from datetime import UTC, datetime

    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo), config=config)
    end = datetime.now(UTC)
    store.materialize_incremental(end_date=end)
    online = config.online_store
    return {
        "repo": str(repo),
        "end": end.isoformat(),
        "online_store": online.type,
        "ttl_seconds": getattr(online, "ttl_seconds", None)
        or getattr(online, "key_ttl_seconds", None),
    }


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
    if args.command == "materialize":
        if args.online_ttl_days is not None and args.online_ttl_days < 1:
            print(
                f"error: --online-ttl-days must be >= 1, got {args.online_ttl_days}",
                file=sys.stderr,
            )
            return 2
        from workloads.features.online_store import writer_config

        ttl = args.online_ttl_days * 86400 if args.online_ttl_days is not None else None
        try:
            writer = writer_config(args.repo, ttl)
        except ValueError as exc:  # the repo's configuration (file and field named)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            summary = materialize(args.repo, writer)
        except Exception as exc:  # one line for the job's log; the CronJob retries
            print(f"error: materialize failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(summary), flush=True)
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
