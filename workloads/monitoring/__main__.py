"""``python -m workloads.monitoring``: one drift check over a window of prediction logs.

Reads the logged inputs of ``--model`` in the window, compares them with the training
reference, writes the JSON report (and optionally the Prometheus text exposition for
a node-exporter textfile collector), and when drift fires sends a retraining trigger
to ``--queue``. Run it on a schedule (a CronJob in the cluster).

Locally the log is a folder (``--log_dir``) and the reference a file (``--reference``).
In the cluster (``components.k8s.drift_monitor``) both come from the tenant bucket:
``--log_uri s3://<bucket>/predictions/`` (the hours overlapping the window are fetched,
see :mod:`workloads.monitoring.remote`), ``--models_uri s3://<bucket>/models/`` with
``--registry`` naming the champion (``--default_version`` before the loop has
registered one); the report is written next to the model (``drift/latest.json``),
encrypted with ``--kms_key``, where the retraining controller re-exports it as gauges.

Exit codes: 0 the check ran (drift or not; see the report), 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, write_to_textfile
from pydantic import ValidationError

from workloads.common.objectstore import ObjectStoreError
from workloads.monitoring.drift import DriftError, DriftReport, DriftThresholds, compute_drift
from workloads.monitoring.metrics import DriftMetrics
from workloads.monitoring.queues import open_queue
from workloads.monitoring.reference import ReferenceStatsError, load_reference
from workloads.monitoring.trigger import emit_retraining_trigger
from workloads.monitoring.window import WindowError, read_window


def run_check(
    *,
    log_dir: pathlib.Path,
    reference_path: pathlib.Path,
    model: str,
    start: float | None,
    end: float | None,
    thresholds: DriftThresholds,
    queue_spec: str | None = None,
    report_path: pathlib.Path | None = None,
    metrics_path: pathlib.Path | None = None,
    model_version: str | None = None,
) -> tuple[DriftReport, str | None]:
    """Run one check; return the report and the trigger's message id (if sent)."""
    reference = load_reference(reference_path)
    window = read_window(log_dir, model=model, start=start, end=end)
    columns = window.columns
    report = compute_drift(
        columns if window.n_rows else {name: [] for name in reference["features"]},
        reference,
        model=model,
        thresholds=thresholds,
        window_start=start,
        window_end=end,
    )
    report.meta.update(
        {
            "records": window.n_records,
            "files": window.files,
            "skipped_lines": window.skipped_lines,
            "model_versions": window.model_versions,
        }
    )
    message_id = None
    version = model_version or (window.model_versions[-1] if window.model_versions else None)
    if queue_spec and report.triggered:
        message_id = emit_retraining_trigger(report, open_queue(queue_spec), version)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        body = report.to_json() | {"trigger_message_id": message_id, "model_version": version}
        report_path.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n")
    if metrics_path is not None:
        registry = CollectorRegistry()
        DriftMetrics(registry).observe(report)
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(metrics_path), registry)
    return report, message_id


def _remote_inputs(
    args: argparse.Namespace, start: float, end: float, scratch: pathlib.Path
) -> tuple[pathlib.Path, pathlib.Path, str | None]:
    """Fetch the window's segments and the champion's reference; (log dir, reference, version)."""
    from workloads.common.objectstore import open_store
    from workloads.monitoring.remote import champion_version, fetch_window, load_remote_reference

    log_dir = args.log_dir
    if args.log_uri:
        log_dir = scratch / "log"
        fetched = fetch_window(open_store(args.log_uri), args.model_name, start, end, log_dir)
        note = " (truncated to the newest segments)" if fetched.truncated else ""
        print(f"fetched {fetched.segments} log segments, {fetched.bytes} bytes{note}")
    reference, version = args.reference, None
    if args.models_uri:
        registry = open_store(args.registry) if args.registry else None
        version = champion_version(registry, args.model_name, args.default_version)
        ref = load_remote_reference(open_store(args.models_uri), args.model_name, version)
        reference = scratch / "reference_stats.json"
        reference.write_text(json.dumps(ref))
    return log_dir, reference, version


def _publish(args: argparse.Namespace, version: str | None, report_path: pathlib.Path) -> None:
    """Write the report next to the champion in the tenant bucket."""
    from workloads.common.objectstore import open_store
    from workloads.monitoring.remote import report_keys

    if not args.models_uri or version is None:
        return
    store = open_store(args.models_uri, args.kms_key)
    body = report_path.read_bytes()
    end = json.loads(body).get("window_end") or time.time()
    for key in report_keys(args.model_name, version, float(end)):
        store.put(key, body)
    print(f"report: {store.describe(report_keys(args.model_name, version, float(end))[-1])}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one check, print a summary line per feature."""
    parser = argparse.ArgumentParser(
        prog="python -m workloads.monitoring", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--log_dir", "--log-dir", type=pathlib.Path)
    parser.add_argument("--log_uri", help="s3://bucket/predictions/: shipped log segments")
    parser.add_argument("--reference", type=pathlib.Path)
    parser.add_argument("--models_uri", help="s3://bucket/models/: reference and reports")
    parser.add_argument("--registry", help="s3://bucket/registry/: names the champion")
    parser.add_argument("--default_version", help="champion before the registry has one")
    parser.add_argument("--kms_key", help="KMS key of the reports written to --models_uri")
    parser.add_argument("--model_name", "--model-name", required=True)
    parser.add_argument(
        "--since", type=float, help="window = the last SECONDS (default: every record)"
    )
    parser.add_argument("--start", type=float, help="window start, unix seconds")
    parser.add_argument("--end", type=float, help="window end (exclusive), unix seconds")
    parser.add_argument("--psi_threshold", "--psi-threshold", type=float, default=0.2)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--min_rows", "--min-rows", type=int, default=500)
    parser.add_argument("--queue", help="file:DIR or sqs:URL; where triggers are sent")
    parser.add_argument("--report", type=pathlib.Path, help="write the JSON report here")
    parser.add_argument("--metrics_file", "--metrics-file", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.since is not None and (args.start is not None or args.end is not None):
        parser.error("--since cannot be combined with --start/--end")
    if (args.log_dir is None) == (args.log_uri is None):
        parser.error("give exactly one of --log_dir and --log_uri")
    if (args.reference is None) == (args.models_uri is None):
        parser.error("give exactly one of --reference and --models_uri")
    start, end = args.start, args.end
    if args.since is not None:
        end = time.time()
        start = end - args.since
    if args.log_uri and (start is None or end is None):
        parser.error("--log_uri needs a window: --since, or --start and --end")
    try:
        thresholds = DriftThresholds(
            psi_threshold=args.psi_threshold, alpha=args.alpha, min_rows=args.min_rows
        )
        with tempfile.TemporaryDirectory(prefix="drift-") as scratch:
            log_dir, reference, version = _remote_inputs(
                args, start or 0.0, end or 0.0, pathlib.Path(scratch)
            )
            report_path = args.report or (
                pathlib.Path(scratch) / "report.json" if args.models_uri else None
            )
            report, message_id = run_check(
                log_dir=log_dir,
                reference_path=reference,
                model=args.model_name,
                start=start,
                end=end,
                thresholds=thresholds,
                queue_spec=args.queue,
                report_path=report_path,
                metrics_path=args.metrics_file,
                model_version=version,
            )
            if report_path is not None:
                _publish(args, version, report_path)
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"error: --{err['loc'][0]}: {err['msg']}", file=sys.stderr)
        return 2
    except (ReferenceStatsError, WindowError, DriftError, ObjectStoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for feature in report.features:
        flag = "DRIFT" if feature.drifted else "ok"
        print(
            f"{feature.feature:<24} psi={feature.psi:.4f} {feature.test}={feature.statistic:.4g} "
            f"p={feature.p_value:.3g} n={feature.n} {flag}"
        )
    status = "retraining triggered" if report.triggered else "no drift"
    sent = f" (message {message_id})" if message_id else ""
    print(f"{report.model}: {report.n_rows} rows, {status}{sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
