"""The tabular model: raw feature vector in, class probabilities out.

Preprocessing lives inside the network (log transform, standardisation with training
statistics, one-hot of categorical codes by comparison), so the exported ONNX graph
takes the raw features in Feast order and a server needs no separate preprocessing
artefact that could drift from the one used in training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from workloads.training.data import FeatureSpec


class TabularMLP(nn.Module):
    """MLP over standardised numeric columns and one-hot categorical columns."""

    # Buffers set with register_buffer; declared so the checker knows they are tensors.
    numeric_idx: torch.Tensor
    log_mask: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    cat_idx: torch.Tensor
    cat_codes: torch.Tensor

    def __init__(
        self,
        features: Sequence[FeatureSpec],
        mean: np.ndarray,
        std: np.ndarray,
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.1,
        n_classes: int = 2,
    ) -> None:
        super().__init__()
        numeric = [i for i, f in enumerate(features) if f.kind == "numeric"]
        log_cols = [i for i, f in enumerate(features) if f.transform == "log1p"]
        cat_cols: list[int] = []
        cat_codes: list[float] = []
        for i, f in enumerate(features):
            if f.kind == "categorical":
                cat_cols.extend([i] * len(f.categories))
                cat_codes.extend(float(c) for c in f.categories)
        self.register_buffer("numeric_idx", torch.tensor(numeric, dtype=torch.long))
        self.register_buffer(
            "log_mask",
            torch.tensor([1.0 if i in log_cols else 0.0 for i in numeric], dtype=torch.float32),
        )
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(np.maximum(std, 1e-6), dtype=torch.float32))
        self.register_buffer("cat_idx", torch.tensor(cat_cols, dtype=torch.long))
        self.register_buffer("cat_codes", torch.tensor(cat_codes, dtype=torch.float32))
        width = len(numeric) + len(cat_cols)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features ``[batch, n_features]`` to the network's input."""
        num = x.index_select(1, self.numeric_idx)
        num = torch.where(self.log_mask > 0, torch.log1p(torch.clamp(num, min=0.0)), num)
        num = (num - self.mean) / self.std
        encoded = [num]
        if self.cat_idx.numel():
            encoded.append((x.index_select(1, self.cat_idx) == self.cat_codes).to(x.dtype))
        return torch.cat(encoded, dim=1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores."""
        return self.net(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[batch, n_classes]``."""
        return torch.softmax(self.logits(x), dim=1)


def numeric_stats(features: Sequence[FeatureSpec], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and std of the numeric columns after their transforms."""
    columns = []
    for index, spec in enumerate(features):
        if spec.kind != "numeric":
            continue
        column = x[:, index].astype(np.float64)
        columns.append(np.log1p(np.clip(column, 0, None)) if spec.transform == "log1p" else column)
    transformed = np.stack(columns, axis=1) if columns else np.zeros((len(x), 0))
    return transformed.mean(axis=0), transformed.std(axis=0)


def build_mlp(n_inputs: int, hidden: Sequence[int], n_classes: int = 2) -> nn.Module:
    """A plain MLP (no preprocessing), used by the benchmarks as the larger model."""
    layers: list[nn.Module] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers += [nn.Linear(width, n_classes), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)
