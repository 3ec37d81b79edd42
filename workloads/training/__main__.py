"""Train, gate, export and sign the churn model.

``python -m workloads.training --repo DIR --out DIR [options]``

Writes into ``--out``: ``model.onnx``, ``model_card.json``, ``reference_stats.json`` and
``signature.json`` (Ed25519 over the SHA-256 of the other three). Nothing is written
when the quality gate, the point-in-time join or the ONNX parity check fails.

Signing key: ``--signing-key FILE`` or ``$MLPLATFORM_SIGNING_KEY`` (PKCS#8 PEM Ed25519).
Without either, a local dev key pair is created (once) under
``.mlplatform/local/keys/`` of the working directory and its path is printed; serve the
model with ``--public_key .mlplatform/local/keys/dev_signing_key.pub.pem``.

Exit codes: 0 ok; 1 the job failed (quality gate, lost rows, parity, upload);
2 bad arguments or unusable inputs. The last stdout line is a JSON summary.

Distributed: ``torchrun --nproc_per_node=N -m workloads.training ...`` trains with N
processes (DDP; NCCL on GPU, gloo on CPU; the global batch stays ``--batch-size``).
Only rank 0 gates, writes, signs and uploads, prints the summary and records
``world_size`` and ``backend`` in the model card; other ranks print nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contracts.names import DEFAULT_REGION
from workloads.common.signing import SigningKeyError
from workloads.training.data import LostRowsError, TrainingDataError
from workloads.training.train import TrainConfig, TrainingFailedError, train


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be positive layer sizes, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m workloads.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repo", type=Path, required=True, help="Feast repo (feature_store.yaml)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the artifacts")
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels parquet (entity id, event_timestamp, label);"
        " default REPO/data/churn_labels.parquet",
    )
    p.add_argument("--feature-service", default="churn_model", help="Feast feature service")
    p.add_argument("--entity-key", default="customer_id", help="entity join key column")
    p.add_argument("--label", default="churned", help="label column (0/1)")
    p.add_argument("--model-name", default="churn", help="model name for the card")
    p.add_argument(
        "--model-version",
        default=None,
        help="version string; default sha-<first 12 hex of model.onnx digest>",
    )
    p.add_argument("--epochs", type=_positive_int, default=30)
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--hidden", type=_hidden, default=(64, 64), help="hidden sizes, e.g. 64,64")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--val-share",
        type=float,
        default=0.2,
        help="newest share of label rows used for validation",
    )
    p.add_argument(
        "--min-auc", type=float, default=0.70, help="quality gate: minimum validation ROC-AUC"
    )
    p.add_argument(
        "--max-lost-share",
        type=float,
        default=0.05,
        help="fail when the point-in-time join loses more than this share of labels",
    )
    p.add_argument(
        "--max-parity-diff",
        type=float,
        default=1e-4,
        help="maximum |ONNX - torch| on the validation rows",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto picks CUDA (with mixed precision) when available",
    )
    p.add_argument(
        "--signing-key",
        type=Path,
        default=None,
        help="Ed25519 private key PEM (or $MLPLATFORM_SIGNING_KEY)",
    )
    p.add_argument("--upload-to", default=None, help="s3://bucket/prefix to upload artifacts to")
    p.add_argument(
        "--kms-key-id",
        default=None,
        help="KMS key for SSE-KMS (with --upload-to); omit only on the in-country store"
        " in store mode (MLPLATFORM_OBJECT_STORE_SSE=store with an endpoint)",
    )
    p.add_argument("--s3-endpoint-url", default=None, help="S3 endpoint (e.g. a VPC endpoint)")
    p.add_argument("--s3-region", default=DEFAULT_REGION)
    p.add_argument(
        "--shuffle-labels",
        action="store_true",
        help="negative control: permute labels; the quality gate must then fail",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = parser().parse_args(argv)
    config = TrainConfig(**vars(args))
    try:
        card = train(config)
    except (LostRowsError, TrainingFailedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (TrainingDataError, SigningKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "model_version" not in card:
        return 0  # a torchrun worker (rank > 0): rank 0 reports, gates and writes
    for note in card.pop("_notes", []):
        print(note, file=sys.stderr)
    print(
        json.dumps(
            {
                "out": str(config.out),
                "model_version": card["model_version"],
                "metrics": card["metrics"],
                "onnx_parity": card["onnx_parity"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
