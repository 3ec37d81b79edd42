"""``python -m workloads.dr {copy,drill}``: see :mod:`workloads.dr`.

Exit codes: 0 done (drill passed), 1 the drill found a problem or a copy failed,
2 bad arguments (or an unreadable credential file).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
from collections.abc import Mapping, Sequence

from contracts.backup import (
    DEST_ACCESS_KEY_ENV,
    DEST_ACCESS_KEY_FILE_ENV,
    DEST_SECRET_KEY_ENV,
    DEST_SECRET_KEY_FILE_ENV,
)
from workloads.common.credentials import CredentialError, read_credential


def _s3_uri(value: str) -> tuple[str, str]:
    """``s3://bucket[/folder]`` -> (bucket, folder)."""
    if not value.startswith("s3://") or not value[5:].split("/", 1)[0]:
        raise argparse.ArgumentTypeError(f"{value!r}: expected s3://bucket[/folder]")
    bucket, _, folder = value[5:].partition("/")
    return bucket, folder.strip("/")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workloads.dr")
    sub = parser.add_subparsers(dest="command", required=True)
    copy = sub.add_parser("copy", help="copy folders between S3 endpoints, keeping locks")
    copy.add_argument("--source", type=_s3_uri, required=True, help="s3://bucket[/folder]")
    copy.add_argument("--dest", type=_s3_uri, required=True, help="s3://bucket[/folder]")
    copy.add_argument("--source_endpoint", default=None, help="default: AWS S3 in the region")
    copy.add_argument(
        "--dest_endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL_S3"),
        help="https URL of the in-country store (default: $AWS_ENDPOINT_URL_S3)",
    )
    copy.add_argument("--prefix", action="append", required=True, help="folder to copy (repeat)")
    copy.add_argument("--region", default=os.environ.get("AWS_REGION", "me-central-1"))
    copy.add_argument("--ca_bundle", default=None, help="CA file of the in-country store")
    drill = sub.add_parser("drill", help="back up, lose, restore and verify one tenant")
    drill.add_argument("--tenant", default="acme")
    drill.add_argument("--rows", type=int, default=5_000, help="feature rows to seed")
    drill.add_argument("--records", type=int, default=60, help="audit records to seed")
    drill.add_argument("--work_dir", type=pathlib.Path, default=None)
    drill.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def dest_credentials(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The in-country store's (access key, secret key): from the files
    ``DR_DEST_ACCESS_KEY_ID_FILE`` and ``DR_DEST_SECRET_ACCESS_KEY_FILE`` name (the
    mounted Secret), else from ``DR_DEST_ACCESS_KEY_ID``/``DR_DEST_SECRET_ACCESS_KEY``
    (local runs); :class:`CredentialError` when a named file cannot be read."""
    return (
        read_credential(env, DEST_ACCESS_KEY_FILE_ENV, DEST_ACCESS_KEY_ENV),
        read_credential(env, DEST_SECRET_KEY_FILE_ENV, DEST_SECRET_KEY_ENV),
    )


def _copy(args: argparse.Namespace) -> int:
    import boto3

    from workloads.dr.copy import CopyError, copy_prefixes

    src_bucket, src_folder = args.source
    dst_bucket, dst_folder = args.dest
    if not args.dest_endpoint:
        print("error: --dest_endpoint (or AWS_ENDPOINT_URL_S3) is required", file=sys.stderr)
        return 2
    try:
        access_key, secret_key = dest_credentials(os.environ)
    except CredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Explicit, so an AWS_ENDPOINT_URL_S3 meant for the destination never redirects it.
    source = boto3.client(
        "s3",
        region_name=args.region,
        endpoint_url=args.source_endpoint or f"https://s3.{args.region}.amazonaws.com",
    )
    # The destination has its own credentials: the source's (IRSA) would be the wrong ones.
    dest = boto3.client(
        "s3",
        region_name=args.region,
        endpoint_url=args.dest_endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=args.ca_bundle if args.ca_bundle else True,
    )
    try:
        run = copy_prefixes(source, src_bucket, dest, dst_bucket, args.prefix,
                            src_folder=src_folder, dst_folder=dst_folder)  # fmt: skip
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {run.copied}, unchanged {run.skipped}, {len(run.objects)} objects, "
        f"{run.bytes} bytes in {run.finished_at - run.started_at:.1f} s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand."""
    args = _parser().parse_args(argv)
    if args.command == "copy":
        return _copy(args)
    from workloads.dr.drill import DrillError, run_drill

    if args.rows < 10 or args.records < 2:
        print("error: --rows must be at least 10 and --records at least 2", file=sys.stderr)
        return 2
    try:
        if args.work_dir is not None:
            report = run_drill(args.work_dir, tenant=args.tenant, rows=args.rows,
                               records=args.records)  # fmt: skip
        else:
            with tempfile.TemporaryDirectory(prefix="dr-drill-") as tmp:
                report = run_drill(pathlib.Path(tmp), tenant=args.tenant, rows=args.rows,
                                   records=args.records)  # fmt: skip
    except DrillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.to_json() if args.json else "\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
