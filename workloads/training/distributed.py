"""Process-group set-up for ``torchrun``: rank, world size, backend, and the few collectives.

``torchrun`` (and Kubeflow Trainer's torch runtime, which runs it) sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every process.
:func:`start` reads them: one process (``python -m workloads.training``, or ``torchrun``
with one process) runs without a process group; more join one with NCCL when each
process has a CUDA device and gloo on CPU. Every rank seeds identically and trains on
its :class:`~torch.utils.data.DistributedSampler` shard; only rank 0 loads the
point-in-time training set (and broadcasts it), gates, exports, signs and uploads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Context:
    """Where this process stands in the run."""

    rank: int = 0
    """Global rank (0 is the main process)."""
    local_rank: int = 0
    """Rank on this node (picks the CUDA device)."""
    world_size: int = 1
    """Number of processes."""
    backend: str = "none"
    """``nccl``, ``gloo``, or ``none`` for a single process."""

    @property
    def distributed(self) -> bool:
        """Whether a process group is in use."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that gates, exports, signs and uploads."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer, got {value!r}") from None


def from_environment() -> Context:
    """The context ``torchrun`` describes in the environment (no process group yet)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
    return Context(rank=rank, local_rank=local, world_size=world)


def start(device_choice: str) -> tuple[Context, Any]:
    """Join the process group (when there is more than one process); return (context, device).

    NCCL needs one CUDA device per process: it is used when CUDA is available and not
    refused (``--device cpu``); otherwise gloo.
    """
    import torch
    import torch.distributed as dist

    context = from_environment()
    cuda = device_choice in ("auto", "cuda") and torch.cuda.is_available()
    if device_choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available")
    if cuda:
        device = torch.device("cuda", context.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not context.distributed:
        return context, device
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return (
        Context(
            rank=context.rank,
            local_rank=context.local_rank,
            world_size=context.world_size,
            backend=backend,
        ),
        device,
    )


def broadcast(context: Context, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled; for small objects such as the data set)."""
    if not context.distributed:
        return value
    import torch.distributed as dist

    box = [value if context.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(context: Context, values: list[float], device: Any) -> list[float]:
    """Element-wise sum of ``values`` over every rank."""
    if not context.distributed:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(v) for v in tensor.cpu().tolist()]


def finish(context: Context) -> None:
    """Leave the process group (every rank, at the end of the run)."""
    if not context.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
