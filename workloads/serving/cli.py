"""Serve a signed ONNX model over KServe V1/V2 REST and V2 gRPC.

``python -m workloads.serving --model_name NAME --model_dir DIR --http_port P
[--grpc_port P] [--enable_grpc true|false] [--metrics_port P] [--bind_address 127.0.0.1]
[--workers N] [--public_key FILE] [--served_state URI] [--served_slot NAME]
[--allow_rollback true|false] [--prediction_log_dir DIR [--prediction_log_uri s3://B/P/
--prediction_log_kms_key ARN]] [--max_batch_rows N]
[--max_body_bytes N] [--intra_op_threads N] [--execution_provider auto|cpu|cuda]
[--feature_repo DIR [--feature_service NAME]]``

Flags follow KServe's model server (``--model_name``, ``--model_dir``, ``--http_port``,
``--grpc_port``, ``--workers``, ``--max_threads``, ``--enable_grpc``); unlike KServe it
binds ``--bind_address`` (default ``$MLPLATFORM_BIND_ADDRESS``, else loopback; the
container image sets ``0.0.0.0``). Only the public model API is served
(``contracts.serving.MODEL_API``: inference, model metadata, health); KServe's model
repository API (load/unload) is off over REST and gRPC. Prometheus metrics are served
only on ``--metrics_port`` (off by default).

The model directory must hold ``model.onnx``, ``model_card.json`` and
``signature.json``; the signature is verified with the Ed25519 public key from
``--public_key``, else the PEM text in ``$MLPLATFORM_VERIFY_KEY_PEM``, else the file
``$MLPLATFORM_VERIFY_KEY``, else the local dev key
``.mlplatform/local/keys/dev_signing_key.pub.pem`` if it exists. The signature must be
for ``--model_name``, and the model no older (by signed creation time) than the newest
this server slot served (recorded at ``--served_state``, default
``<model_dir>.served.json``; ``--allow_rollback true`` is the operator's override, see
``workloads.serving.rollback``). A missing, unsigned, tampered, misnamed or rolled-back
model exits with code 1 and one line on stderr; bad flags exit with 2.

``--prediction_log_dir`` turns on JSON Lines request/response logging for drift
detection (off by default; see ``workloads.serving.predlog``); with
``--prediction_log_uri`` the folder is a bounded spool whose closed segments are shipped
to the tenant's bucket with SSE-KMS (``--prediction_log_kms_key``), or, on the in-country
store in store mode (``MLPLATFORM_OBJECT_STORE_SSE=store`` and ``AWS_ENDPOINT_URL_S3``),
with the store's own encryption; without either the server refuses to start
(``workloads.serving.shipping``). ``--workers N`` starts N
processes sharing the port (SO_REUSEPORT), each loading and verifying the model.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.signing import VERIFY_KEY_ENV, VERIFY_KEY_PEM_ENV
from workloads.common.signing import DEV_KEY_DIR, DEV_PUBLIC_KEY
from workloads.serving.rollback import ALLOW_ROLLBACK_ENV

if TYPE_CHECKING:
    import uvicorn

    from workloads.serving.model import OnnxModel, ServingOptions
    from workloads.serving.predlog import PredictionLogger

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
BIND_ADDRESS_ENV = "MLPLATFORM_BIND_ADDRESS"
SERVED_STATE_ENV = "MLPLATFORM_SERVED_STATE"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on", "y", "t"):
        return True
    if lowered in ("0", "false", "no", "off", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def _bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    """The CLI's argument parser (KServe model-server conventions)."""
    p = argparse.ArgumentParser(
        prog="python -m workloads.serving",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--model_name", default="model", help="name on the endpoint paths")
    p.add_argument("--model_dir", type=Path, required=True, help="folder with the artifacts")
    p.add_argument("--http_port", type=_bounded(1, 65535), default=8080)
    p.add_argument("--grpc_port", type=_bounded(1, 65535), default=8081)
    p.add_argument("--enable_grpc", type=_bool, default=True, help="serve V2 gRPC too")
    p.add_argument(
        "--metrics_port",
        type=_bounded(0, 65535),
        default=0,
        help="serve Prometheus GET /metrics on this port (0, the default: not served);"
        " never on --http_port",
    )
    p.add_argument(
        "--bind_address",
        default=os.environ.get(BIND_ADDRESS_ENV, "127.0.0.1"),
        help=f"address to listen on (default ${BIND_ADDRESS_ENV} or 127.0.0.1;"
        " the container image sets 0.0.0.0)",
    )
    p.add_argument("--workers", type=_bounded(1, 64), default=1, help="server processes")
    p.add_argument("--max_threads", type=_bounded(1, 256), default=4, help="gRPC handler threads")
    p.add_argument(
        "--public_key",
        type=Path,
        default=None,
        help=f"Ed25519 public key PEM file (or PEM text in ${VERIFY_KEY_PEM_ENV},"
        f" or a file named by ${VERIFY_KEY_ENV})",
    )
    p.add_argument(
        "--served_state",
        default=os.environ.get(SERVED_STATE_ENV) or None,
        help="where the newest version served is recorded (anti-rollback):"
        " s3://bucket/prefix/, file:///dir or a folder; default"
        f" ${SERVED_STATE_ENV}, else <model_dir>.served.json",
    )
    p.add_argument(
        "--served_slot",
        default=None,
        help="name of this server in the record (default: --model_name; in the cluster"
        " the InferenceService)",
    )
    p.add_argument(
        "--allow_rollback",
        type=_bool,
        default=_bool(os.environ.get(ALLOW_ROLLBACK_ENV) or "false"),
        help="operator override: serve a model signed earlier than the one last served"
        f" (or ${ALLOW_ROLLBACK_ENV}=true)",
    )
    p.add_argument(
        "--served_state_kms_key",
        default=None,
        help="KMS key (ARN) the S3 record is written with (SSE-KMS); omit only on the"
        " in-country store in store mode",
    )
    p.add_argument(
        "--prediction_log_dir",
        type=Path,
        default=None,
        help="write request/response JSON Lines here (off when not given)",
    )
    p.add_argument(
        "--prediction_log_uri",
        default=None,
        help="ship closed log segments to s3://bucket/prefix/ (the server appends <model>/);"
        " --prediction_log_dir is then the local spool",
    )
    p.add_argument(
        "--prediction_log_kms_key",
        default=None,
        help="KMS key (ARN) the shipped segments are encrypted with (SSE-KMS); omit only"
        " on the in-country store in store mode",
    )
    p.add_argument(
        "--prediction_log_segment_seconds",
        type=_bounded(1, 3600),
        default=60,
        help="close and ship a log segment at least this often",
    )
    p.add_argument(
        "--prediction_log_queue",
        type=_bounded(1, 10_000_000),
        default=10_000,
        help="records buffered before the log drops (never blocks requests)",
    )
    p.add_argument(
        "--max_batch_rows",
        type=_bounded(1, 1_000_000),
        default=1024,
        help="most rows accepted in one request",
    )
    p.add_argument(
        "--max_body_bytes",
        type=_bounded(1024, 1 << 30),
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted",
    )
    p.add_argument(
        "--intra_op_threads",
        type=_bounded(1, 256),
        default=1,
        help="ONNX Runtime intra-op threads (1 is fastest for small models)",
    )
    p.add_argument(
        "--ort_allow_spinning",
        type=_bool,
        default=False,
        help="let ORT worker threads spin (helps large models with --intra_op_threads > 1)",
    )
    p.add_argument("--execution_provider", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument(
        "--feature_repo",
        type=Path,
        default=None,
        help="Feast repo for enrichment: requests may carry entity ids only",
    )
    p.add_argument(
        "--feature_service",
        default=None,
        help="feature service for enrichment (default: the model card's)",
    )
    p.add_argument("--log_level", choices=["debug", "info", "warning", "error"], default="warning")
    p.add_argument(
        "--grace_period",
        type=_bounded(0, 600),
        default=10,
        help="seconds to finish in-flight requests on shutdown",
    )
    return p


def resolve_public_key(given: Path | None) -> Path | bytes:
    """The public key: a file from the flag, PEM text from ``$MLPLATFORM_VERIFY_KEY_PEM``
    (what the cluster sets), a file from ``$MLPLATFORM_VERIFY_KEY``, or the local dev key."""
    if given is not None:
        return given
    if os.environ.get(VERIFY_KEY_PEM_ENV, "").strip():
        return os.environ[VERIFY_KEY_PEM_ENV].encode()
    if os.environ.get(VERIFY_KEY_ENV):
        return Path(os.environ[VERIFY_KEY_ENV])
    dev = Path.cwd() / DEV_KEY_DIR / DEV_PUBLIC_KEY
    if dev.is_file():
        return dev
    raise SystemExit(
        "error: no public key to verify the model: pass --public_key or set"
        f" {VERIFY_KEY_PEM_ENV} or {VERIFY_KEY_ENV}"
    )


def _listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, reuse_port=reuse_port, backlog=2048)


def _load_or_refuse(model: OnnxModel) -> bool:
    """Load (verify) the model; on failure say why in one line and return False."""
    from workloads.serving.model import ModelLoadError

    try:
        model.load()
    except ModelLoadError as exc:
        print(f"error: refusing to serve: {exc}", file=sys.stderr)
        return False
    return True


def _start_prediction_log(
    args: argparse.Namespace, model: OnnxModel, options: ServingOptions
) -> PredictionLogger | None:
    """Start logging requests and responses when ``--prediction_log_dir`` is given."""
    from workloads.serving.predlog import PredictionLogger

    if args.prediction_log_dir is None:
        return None
    shipper = None
    if args.prediction_log_uri:
        from workloads.common.objectstore import open_store
        from workloads.serving.shipping import SegmentShipper

        store = open_store(args.prediction_log_uri, args.prediction_log_kms_key)
        shipper = SegmentShipper(store, model.name)
    logger = PredictionLogger(
        args.prediction_log_dir,
        model.name,
        model.version,
        model.features,
        queue_size=args.prediction_log_queue,
        shipper=shipper,
        segment_seconds=args.prediction_log_segment_seconds,
    )
    logger.start()
    options.prediction_logger = logger
    return logger


def _http_server(app: Any, args: argparse.Namespace) -> tuple[uvicorn.Server, uvicorn.Config]:
    import uvicorn

    loop_name = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config = uvicorn.Config(
        app,
        loop=loop_name,
        http="auto",
        lifespan="off",
        access_log=False,
        log_level=args.log_level,
        server_header=False,
        timeout_graceful_shutdown=args.grace_period,
        log_config=None,
    )
    return uvicorn.Server(config), config


async def _serve_http_and_grpc(
    args: argparse.Namespace,
    model: OnnxModel,
    server: uvicorn.Server,
    sock: socket.socket,
    dataplane: Any,
    metrics_sock: socket.socket | None,
) -> None:
    """Serve HTTP on ``sock`` (gRPC and metrics when enabled) until told to stop."""
    import uvicorn

    from workloads.serving.app import metrics_app, start_grpc

    metrics_task = metrics_server = None
    if metrics_sock is not None:
        metrics_server = uvicorn.Server(
            uvicorn.Config(
                metrics_app,
                lifespan="off",
                access_log=False,
                log_level=args.log_level,
                server_header=False,
                log_config=None,
            )
        )
        # ``_serve`` rather than ``serve``: the inference server owns the signal handlers
        # and this one stops when it does (below).
        metrics_task = asyncio.create_task(metrics_server._serve(sockets=[metrics_sock]))
    grpc_server = None
    if args.enable_grpc:
        grpc_server = await start_grpc(
            dataplane,
            args.bind_address,
            args.grpc_port,
            max_threads=args.max_threads,
            max_message_bytes=args.max_body_bytes,
        )
    print(
        f"serving {model.name} version {model.version} on http://{args.bind_address}:"
        f"{args.http_port}"
        + (f" and grpc {args.bind_address}:{args.grpc_port}" if grpc_server else "")
        + (f", metrics on port {args.metrics_port}" if metrics_sock is not None else "")
        + f" (pid {os.getpid()}, providers {model.providers})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        if grpc_server is not None:
            await grpc_server.stop(grace=min(args.grace_period, 5))
        if metrics_server is not None and metrics_task is not None:
            metrics_server.should_exit = True
            await metrics_task


def _served_state(args: argparse.Namespace) -> Any:
    """The anti-rollback record of this server (see :mod:`workloads.serving.rollback`)."""
    from workloads.serving.rollback import ServedState

    return ServedState.open(
        args.served_state,
        args.model_dir,
        args.served_slot or args.model_name,
        args.served_state_kms_key,
    )


def serve(args: argparse.Namespace, public_key: Path | bytes) -> int:
    """Load the model and serve until SIGTERM/SIGINT; return the exit code."""
    from workloads.serving.app import build_app
    from workloads.serving.model import OnnxModel, ServingOptions

    options = ServingOptions(
        public_key=public_key,
        served_state=_served_state(args),
        served_slot=args.served_slot or args.model_name,
        allow_rollback=args.allow_rollback,
        max_batch_rows=args.max_batch_rows,
        intra_op_threads=args.intra_op_threads,
        allow_spinning=args.ort_allow_spinning,
        execution_provider=args.execution_provider,
        feature_repo=args.feature_repo,
        feature_service=args.feature_service,
    )
    model = OnnxModel(args.model_name, args.model_dir, options)
    if not _load_or_refuse(model):
        return 1
    logger = _start_prediction_log(args, model, options)
    app, dataplane = build_app(model, max_body_bytes=args.max_body_bytes)
    metrics_sock = None
    try:
        sock = _listen_socket(args.bind_address, args.http_port, args.workers > 1)
        if args.metrics_port:
            metrics_sock = _listen_socket(args.bind_address, args.metrics_port, args.workers > 1)
    except OSError as exc:
        print(f"error: cannot listen on {args.bind_address}: {exc}", file=sys.stderr)
        return 1
    server, config = _http_server(app, args)
    # uvicorn re-raises SIGTERM/SIGINT after a graceful stop so the previous handler
    # runs; make that handler a no-op so the cleanup below (log flush) still happens.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve_http_and_grpc(args, model, server, sock, dataplane, metrics_sock))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if logger is not None:
            logger.close()
    return 0


def _worker(argv: list[str], public_key: Path | bytes) -> None:
    args = parser().parse_args(argv)
    sys.exit(serve(args, public_key))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    args = cli.parse_args(argv)
    if args.prediction_log_uri is not None and (
        args.prediction_log_dir is None or not args.prediction_log_uri.startswith("s3://")
    ):
        cli.error("--prediction_log_uri needs s3://bucket/prefix/ and --prediction_log_dir")
    if args.prediction_log_uri is not None:
        # Refuse at start, not at every upload: a key (SSE-KMS), or the in-country
        # store's explicit store-encryption mode with its endpoint.
        from workloads.common.s3 import S3UploadError, sse_arguments

        try:
            sse_arguments(args.prediction_log_kms_key)
        except S3UploadError as exc:
            cli.error(f"--prediction_log_kms_key: {exc}")
    public_key = resolve_public_key(args.public_key)
    try:
        _served_state(args)
    except (ValueError, RuntimeError) as exc:  # a bad URI (ObjectStoreError, S3 target)
        cli.error(f"--served_state: {exc}")
    if args.workers == 1:
        return serve(args, public_key)
    # Verify once up front so a bad model fails fast with one line, not N times.
    from workloads.serving.model import OnnxModel, ServingOptions

    options = ServingOptions(
        public_key=public_key,
        warmup=False,
        served_state=_served_state(args),
        served_slot=args.served_slot or args.model_name,
        allow_rollback=args.allow_rollback,
    )
    if not _load_or_refuse(OnnxModel(args.model_name, args.model_dir, options)):
        return 1
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker, args=(argv, public_key), name=f"worker-{index}")
        for index in range(args.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: Any) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)
