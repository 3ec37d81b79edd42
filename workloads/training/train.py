"""The training job: Feast data -> torch model -> quality gate -> ONNX -> signed artifacts.

Steps, each of which fails loudly with a one-line :class:`TrainingFailedError` message:

1. point-in-time join of the labels with the feature service (lost rows counted);
2. time-ordered split (the newest ``val_share`` of label rows validates, as it would
   in production where the model predicts the future);
3. seeded training of :class:`TabularMLP` (CUDA with mixed precision when present), in
   one process or, under ``torchrun``, in several (DDP: NCCL on GPU, gloo on CPU, a
   distributed sampler over the training rows; :mod:`workloads.training.distributed`);
4. the quality gate: validation ROC-AUC must reach ``min_auc``;
5. reference statistics of the training features for drift detection;
6. ONNX export with a dynamic batch axis and a parity check against torch;
7. model card, Ed25519 signature over every artefact, optional S3 upload (SSE-KMS).

Nothing is written to the output folder before the gate passes; with several processes
only rank 0 gates and writes, so a run produces exactly one signed artifact set.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from contracts.names import DEFAULT_REGION
from workloads.common.signing import SIGNATURE_FILE, artifact_digests, key_id, sign_artifacts
from workloads.training import distributed
from workloads.training.lineage import training_lineage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from workloads.training.data import TrainingData

MODEL_FILE = "model.onnx"
CARD_FILE = "model_card.json"
REFERENCE_FILE = "reference_stats.json"
ARTIFACTS = (MODEL_FILE, CARD_FILE, REFERENCE_FILE, SIGNATURE_FILE)
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
CLASSES = ("retained", "churned")


class TrainingFailedError(RuntimeError):
    """The job cannot produce a model worth serving; the message is one line."""


@dataclass
class TrainConfig:
    """Options of one training run (the CLI flags map one to one)."""

    repo: Path
    out: Path
    labels: Path | None = None
    feature_service: str = "churn_model"
    entity_key: str = "customer_id"
    label: str = "churned"
    model_name: str = "churn"
    model_version: str | None = None
    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    hidden: tuple[int, ...] = (64, 64)
    dropout: float = 0.1
    seed: int = 7
    val_share: float = 0.2
    min_auc: float = 0.70
    max_lost_share: float = 0.05
    max_parity_diff: float = 1e-4
    device: str = "auto"
    signing_key: Path | None = None
    upload_to: str | None = None
    kms_key_id: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = DEFAULT_REGION
    shuffle_labels: bool = False


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie-averaged ranks)."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise TrainingFailedError("validation set holds a single class; ROC-AUC is undefined")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    order = np.argsort(-score, kind="stable")
    y_sorted = np.asarray(y)[order].astype(np.float64)
    hits = np.cumsum(y_sorted)
    precision = hits / np.arange(1, len(y_sorted) + 1)
    return float((precision * y_sorted).sum() / max(y_sorted.sum(), 1.0))


def _select_device(choice: str) -> Any:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainingFailedError("--device cuda: no CUDA device is available")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime", "onnxscript", "feast", "numpy", "pandas"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _logits_module(model: Any) -> Any:
    """A module whose ``forward`` is ``model.logits`` (what DDP must wrap to sync gradients)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner.logits(x)

    return Logits(model)


def _epoch_orders(config: TrainConfig, n_rows: int, context: distributed.Context) -> Iterator[Any]:
    """Per epoch, the row indices this process trains on, in order.

    One process: a seeded permutation of every row. Several: this rank's shard of a
    :class:`~torch.utils.data.DistributedSampler` seeded identically on every rank
    (``set_epoch`` reshuffles per epoch; every shard has the same length, so every rank
    takes the same number of steps and the gradient all-reduces line up).
    """
    import torch
    from torch.utils.data import Dataset, DistributedSampler

    if not context.distributed:
        generator = torch.Generator(device="cpu").manual_seed(config.seed)
        for _ in range(config.epochs):
            yield torch.randperm(n_rows, generator=generator)
        return
    rows = cast("Dataset[int]", range(n_rows))  # a sized sequence of row indices
    sampler: DistributedSampler[int] = DistributedSampler(
        rows,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=False,
    )
    for epoch in range(config.epochs):
        sampler.set_epoch(epoch)
        yield torch.tensor(list(iter(sampler)), dtype=torch.long)


def _fit(
    config: TrainConfig,
    model: Any,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    device: Any,
    context: distributed.Context | None = None,
) -> dict[str, Any]:
    import torch

    context = context or distributed.Context()
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs = torch.from_numpy(x_tr).to(device)
    targets = torch.from_numpy(y_tr.astype(np.int64)).to(device)
    net: Any = model.logits
    if context.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            _logits_module(model), device_ids=[device.index] if device.type == "cuda" else None
        )
    # The global batch stays --batch-size: each of the N processes takes 1/N of it and
    # DDP averages their gradients, so N processes make the same steps one process would.
    batch_size = max(1, math.ceil(config.batch_size / context.world_size))
    losses = []
    started = time.perf_counter()
    model.train()
    for order in _epoch_orders(config, len(inputs), context):
        order = order.to(device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                loss = loss_fn(net(inputs[batch]), targets[batch])
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach()) * len(batch)
        total, rows = distributed.all_sum(context, [total, float(len(order))], device)
        losses.append(total / rows)
    model.eval()
    return {
        "device": str(device),
        "mixed_precision": str(amp_dtype).replace("torch.", "") if use_amp else "off",
        "final_train_loss": losses[-1],
        "world_size": context.world_size,
        "backend": context.backend,
        "per_process_batch_size": batch_size,
        "fit_seconds": round(time.perf_counter() - started, 3),
    }


def _predict(model: Any, x: np.ndarray, device: Any) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(x).to(device)).float().cpu().numpy()


def export_onnx(model: Any, n_features: int, path: Path) -> None:
    """Export with a dynamic batch axis to a single self-contained file."""
    import torch

    model = model.cpu().eval()
    # A batch of 4: the exporter specialises sizes 0 and 1, so 1 would freeze the axis.
    example = torch.zeros(4, n_features, dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        external_data=False,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    strip_source_locations(path)


SOURCE_LOCATION_KEYS = frozenset({"pkg.torch.onnx.stack_trace"})
"""Node metadata the exporter fills with the build machine's file paths and line numbers."""


def strip_source_locations(path: Path) -> None:
    """Drop the exporter's stack traces from every node, in place.

    They name absolute source paths and line numbers of the machine that trained the
    model: the file (and the ``sha-`` version derived from its digest) would differ per
    checkout for the same weights, and the build machine's paths would ship with it.
    """
    import onnx

    model = onnx.load(str(path))
    graphs: list[Any] = [model.graph, *model.functions]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            kept = [p for p in node.metadata_props if p.key not in SOURCE_LOCATION_KEYS]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs += list(attribute.graphs)
    onnx.save(model, str(path))


def onnx_parity(model: Any, path: Path, x: np.ndarray) -> float:
    """Max absolute difference between torch and ONNX Runtime outputs on ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    want = _predict(model.cpu(), x, _select_device("cpu"))
    if got.shape != want.shape:
        raise TrainingFailedError(f"ONNX output shape {got.shape} != torch {want.shape}")
    return float(np.max(np.abs(got - want)))


def _signing_key(config: TrainConfig) -> tuple[Any, str]:
    from workloads.common.signing import ensure_dev_key_pair, load_private_key

    path = config.signing_key or (
        Path(os.environ["MLPLATFORM_SIGNING_KEY"])
        if os.environ.get("MLPLATFORM_SIGNING_KEY")
        else None
    )
    if path is not None:
        return load_private_key(path), f"signing key {path}"
    private, public, created = ensure_dev_key_pair()
    verb = "created" if created else "using"
    return load_private_key(private), (
        f"no --signing-key given: {verb} local dev key pair {private} (public key {public});"
        " give the server --public_key " + str(public)
    )


@dataclass(frozen=True)
class _Split:
    """Feature matrix and labels, the oldest rows to train, the newest to validate."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def _check_options(config: TrainConfig) -> None:
    if config.device not in ("auto", "cpu", "cuda"):
        raise TrainingFailedError(f"--device must be auto, cpu or cuda, got {config.device!r}")
    if not 0.0 < config.val_share < 0.9:
        raise TrainingFailedError(f"--val-share must be in (0, 0.9), got {config.val_share}")
    if config.upload_to:
        # Before minutes of training: a key (SSE-KMS), or the in-country store's explicit
        # store-encryption mode with its endpoint; on AWS a missing key is an error.
        from workloads.common.s3 import S3UploadError, sse_arguments

        try:
            sse_arguments(config.kms_key_id, endpoint_url=config.s3_endpoint_url)
        except S3UploadError as exc:
            raise TrainingFailedError(f"--upload-to {config.upload_to}: {exc}") from None


def _make_repeatable(seed: int) -> None:
    """Seed every generator the run draws from and ask torch for deterministic kernels."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    # Seeds third-party code that draws from the global RNG.
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _time_split(config: TrainConfig, data: TrainingData, names: list[str]) -> _Split:
    """The newest ``val_share`` of the label rows validate (rows are in time order)."""
    x = data.frame[names].to_numpy(dtype=np.float32)
    y = data.frame[config.label].to_numpy(dtype=np.int64)
    if config.shuffle_labels:
        # Negative control: destroys the feature-label relation; the gate must fail.
        y = np.random.default_rng(config.seed + 1).permutation(y)
    n_val = max(int(len(x) * config.val_share), 1)
    return _Split(x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:])


def _validation_metrics(
    y_val: np.ndarray, proba: np.ndarray, fit: dict[str, Any]
) -> dict[str, float]:
    eps = 1e-7
    return {
        "roc_auc": roc_auc(y_val, proba),
        "average_precision": average_precision(y_val, proba),
        "log_loss": float(
            -np.mean(y_val * np.log(proba + eps) + (1 - y_val) * np.log(1 - proba + eps))
        ),
        "accuracy_at_0_5": float(np.mean((proba >= 0.5) == y_val)),
        "positive_rate": float(y_val.mean()),
        "final_train_loss": fit["final_train_loss"],
    }


def _model_card(
    config: TrainConfig,
    data: TrainingData,
    labels: Path,
    split: _Split,
    *,
    metrics: dict[str, float],
    parity: float,
    fit: dict[str, Any],
    digests: dict[str, dict[str, Any]],
    signing_key_id: str,
) -> dict[str, Any]:
    """The model card: data lineage, metrics, gate, parity, training options, versions."""
    n_features = len(data.features)
    version = config.model_version or "sha-" + digests[MODEL_FILE]["sha256"][:12]
    return {
        "schema_version": 1,
        "model_name": config.model_name,
        "model_version": version,
        # Microseconds: the server orders versions by this (signed) time (anti-rollback).
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "task": "binary classification: customer churn (UAE retail bank)",
        "data": {
            "feature_repo": str(config.repo),
            "feature_service": config.feature_service,
            "labels": str(labels),
            "entity_key": config.entity_key,
            "label": config.label,
            "window_start": data.window_start.isoformat(),
            "window_end": data.window_end.isoformat(),
            "rows_requested": data.n_requested,
            "rows_dropped_by_join": data.n_dropped,
            "rows_with_missing_features": data.n_null,
            "lost_share": data.lost_share,
            "max_lost_share": config.max_lost_share,
            "n_train": len(split.x_train),
            "n_validation": len(split.x_val),
            "split": f"time-ordered; newest {config.val_share:.0%} of label rows validate",
            "labels_shuffled": config.shuffle_labels,
        },
        # Exact training data (files with digests, view versions, cut-off): signed with
        # the model because the card is a signed artifact.
        "lineage": training_lineage(config.repo, config.feature_service, labels, data.window_end),
        "features": [feature.as_dict() for feature in data.features],
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, n_features]}],
        "outputs": [
            {
                "name": OUTPUT_NAME,
                "datatype": "FP32",
                "shape": [-1, len(CLASSES)],
                "classes": list(CLASSES),
            }
        ],
        "metrics": metrics,
        "quality_gate": {"metric": "roc_auc", "threshold": config.min_auc, "passed": True},
        "onnx_parity": {
            "max_abs_diff": parity,
            "tolerance": config.max_parity_diff,
            "rows": len(split.x_val),
        },
        "training": {
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "hidden": list(config.hidden),
            "dropout": config.dropout,
            "device": fit["device"],
            "mixed_precision": fit["mixed_precision"],
            "world_size": fit["world_size"],
            "backend": fit["backend"],
            "per_process_batch_size": fit["per_process_batch_size"],
            "fit_seconds": fit["fit_seconds"],
        },
        "versions": _versions(),
        "artifacts": digests,
        "signing": {"algorithm": "ed25519", "key_id": signing_key_id},
    }


def _write_artifacts(
    config: TrainConfig,
    model: Any,
    data: TrainingData,
    labels: Path,
    split: _Split,
    metrics: dict[str, float],
    fit: dict[str, Any],
    private_key: Any,
) -> dict[str, Any]:
    """Reference, ONNX (parity-checked), card and signature, moved into ``out`` together."""
    from workloads.monitoring.reference import build_reference, save_reference

    config.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=config.out))
    try:
        numeric = [feature.name for feature in data.features if feature.kind == "numeric"]
        categorical = [feature.name for feature in data.features if feature.kind == "categorical"]
        train_frame = data.frame.iloc[: len(split.x_train)]
        save_reference(
            build_reference(
                train_frame, numeric=numeric, categorical=categorical, seed=config.seed
            ),
            staging / REFERENCE_FILE,
        )
        export_onnx(model, len(data.features), staging / MODEL_FILE)
        parity = onnx_parity(model, staging / MODEL_FILE, split.x_val)
        if not parity <= config.max_parity_diff:
            raise TrainingFailedError(
                f"ONNX parity failed: max abs diff {parity:.3g} > {config.max_parity_diff:.3g}"
            )
        card = _model_card(
            config,
            data,
            labels,
            split,
            metrics=metrics,
            parity=parity,
            fit=fit,
            digests=artifact_digests(staging, [MODEL_FILE, REFERENCE_FILE]),
            signing_key_id=key_id(private_key.public_key()),
        )
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        sign_artifacts(
            staging,
            [MODEL_FILE, REFERENCE_FILE, CARD_FILE],
            private_key,
            model_name=card["model_name"],
            model_version=card["model_version"],
            created_at=card["created_at"],
        )
        for name in ARTIFACTS:
            os.replace(staging / name, config.out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def _upload(config: TrainConfig) -> str:
    """Upload the artifacts (SSE-KMS, or the in-country store's own encryption in store
    mode: :func:`workloads.common.s3.sse_arguments`); return the note for the card."""
    from workloads.common.s3 import S3UploadError, upload_artifacts

    try:
        keys = upload_artifacts(
            config.out,
            list(ARTIFACTS),
            str(config.upload_to),
            config.kms_key_id,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
        )
    except S3UploadError as exc:
        raise TrainingFailedError(str(exc)) from None
    return f"uploaded {len(keys)} artifacts to {config.upload_to}"


def _load_on_main(
    config: TrainConfig, context: distributed.Context, labels: Path
) -> tuple[Any, str, TrainingData]:
    """Rank 0 checks the signing key and loads the point-in-time training set; every rank
    gets the data set, or the same failure (so no rank waits for a broadcast forever)."""
    from workloads.training.data import load_training_frame

    outcome: tuple[str, Any] = ("ok", None)
    private_key, key_note = None, ""
    if context.is_main:
        try:
            # Validate the key before spending minutes on training.
            private_key, key_note = _signing_key(config)
            data = load_training_frame(
                config.repo,
                labels,
                service_name=config.feature_service,
                entity_key=config.entity_key,
                label=config.label,
                max_lost_share=config.max_lost_share,
            )
            outcome = ("ok", data)
        except Exception as exc:  # re-raised below on every rank, same type and message
            if not context.distributed:
                raise
            outcome = ("error", exc)
    status, value = distributed.broadcast(context, outcome)
    if status == "error":
        raise value
    return private_key, key_note, value


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the job; return the model card. Raises :class:`TrainingFailedError`.

    Under ``torchrun`` with several processes every rank trains its shard; rank 0 alone
    gates, exports, signs and uploads, and only rank 0 returns the card (the others
    return ``{"rank": <rank>, "world_size": <n>}``).
    """
    from workloads.features.definitions import LABELS_FILE
    from workloads.training.model import TabularMLP, numeric_stats

    _check_options(config)
    try:
        context, device = distributed.start(config.device)
    except (RuntimeError, ValueError) as exc:
        raise TrainingFailedError(str(exc)) from None
    try:
        _make_repeatable(config.seed)
        labels = config.labels or config.repo / "data" / LABELS_FILE
        private_key, key_note, data = _load_on_main(config, context, labels)
        split = _time_split(config, data, [feature.name for feature in data.features])
        mean, std = numeric_stats(data.features, split.x_train)
        # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's).
        model = TabularMLP(data.features, mean, std, config.hidden, config.dropout).to(device)
        fit = _fit(config, model, split.x_train, split.y_train, device, context)
        if not context.is_main:
            return {"rank": context.rank, "world_size": context.world_size}
        return _gate_and_write(
            config, model, data, labels, split, fit, device, private_key, key_note
        )
    finally:
        distributed.finish(context)


def _gate_and_write(
    config: TrainConfig,
    model: Any,
    data: TrainingData,
    labels: Path,
    split: _Split,
    fit: dict[str, Any],
    device: Any,
    private_key: Any,
    key_note: str,
) -> dict[str, Any]:
    """Rank 0: quality gate, then the signed artifacts (and the upload)."""
    proba = _predict(model, split.x_val, device)[:, 1].astype(np.float64)
    metrics = _validation_metrics(split.y_val, proba, fit)
    if metrics["roc_auc"] < config.min_auc:
        raise TrainingFailedError(
            f"quality gate failed: validation roc_auc {metrics['roc_auc']:.4f} < required"
            f" {config.min_auc:.4f} (--min-auc); no artifacts written"
        )
    card = _write_artifacts(config, model, data, labels, split, metrics, fit, private_key)
    card["_notes"] = [key_note]
    if config.upload_to:
        card["_notes"].append(_upload(config))
    return card


def config_summary(config: TrainConfig) -> dict[str, Any]:
    """JSON-friendly view of a config (for logs)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
