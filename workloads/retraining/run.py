"""``torchrun -m workloads.retraining.run``: one training run started by the controller.

Each node of the run's ``TrainJob`` runs it under ``torchrun`` (``python -m`` works
for one process); only rank 0 registers the model.

Runs the training entry point (:mod:`workloads.training`: point-in-time data, torch,
quality gate, ONNX, Ed25519 signature) with ``--model-version`` set to the run's
version and ``--upload-to <models_uri><model>/<version>/``, then registers the uploaded
version as the model's challenger in the registry, with the run's metrics, the artifact
digests from ``signature.json`` and the trigger. Every write is SSE-KMS with
``--kms_key`` (AWS); without it the run writes only on the in-country store in the
explicit store-encryption mode (``MLPLATFORM_OBJECT_STORE_SSE=store`` and
``AWS_ENDPOINT_URL_S3``, which the on-prem run template sets), and otherwise fails before
training (:func:`workloads.common.s3.sse_arguments`).

Arguments after ``--`` go to the trainer unchanged. Exit codes: the trainer's (1: the
gate failed, nothing was uploaded or registered; 2: bad inputs), 3 when the model was
uploaded but could not be registered (the run is retried: training is deterministic for
a seed and registering the same version again is a no-op).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Sequence

from workloads.common.objectstore import ObjectStoreError, open_store
from workloads.registry.index import ModelRegistry, RegistryError
from workloads.training.__main__ import main as train_main
from workloads.training.distributed import from_environment


def main(argv: Sequence[str] | None = None) -> int:
    """Train, upload, register."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m workloads.retraining.run")
    parser.add_argument("--repo", required=True, help="Feast repo (feature_store.yaml)")
    parser.add_argument("--work_dir", type=pathlib.Path, required=True)
    parser.add_argument("--models_uri", required=True, help="s3://bucket/models/")
    parser.add_argument("--registry", required=True, help="s3://bucket/registry/")
    parser.add_argument(
        "--kms_key",
        default=None,
        help="tenant key (SSE-KMS); omit only on the in-country store in store mode",
    )
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--trigger", required=True, help="the trigger's dedupe key")
    args = parser.parse_args(argv)
    out = args.work_dir / args.version
    destination = f"{args.models_uri.rstrip('/')}/{args.model_name}/{args.version}/"
    code = train_main(
        [
            "--repo", args.repo, "--out", str(out), "--model-name", args.model_name,
            "--model-version", args.version, "--upload-to", destination,
            *(["--kms-key-id", args.kms_key] if args.kms_key else []), *extra,
        ]
    )  # fmt: skip
    if code != 0 or not from_environment().is_main:
        # Under torchrun (Kubeflow Trainer's runtime) every rank trains; only rank 0
        # gates, writes, signs and uploads, so only rank 0 registers.
        return code
    card = json.loads((out / "model_card.json").read_text())
    signature = json.loads((out / "signature.json").read_text())
    digests = {name: item["sha256"] for name, item in signature["artifacts"].items()}
    registry = ModelRegistry(
        open_store(args.registry, args.kms_key), who=f"training-run {args.trigger[:20]}"
    )
    try:
        registry.register_challenger(
            args.model_name,
            args.version,
            uri=destination,
            metrics=card["metrics"],
            digests=digests,
            trigger=args.trigger,
            why=f"retrained on trigger {args.trigger}; passed the quality gate",
        )
    except (RegistryError, ObjectStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(json.dumps({"registered": args.version, "model": args.model_name, "uri": destination}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
