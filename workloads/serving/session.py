"""ONNX Runtime session settings of the model server.

Decided on measurements (``bench/inference.py``: ORT's defaults against these settings,
interleaved rounds; a ``win`` only when the ranges over the rounds do not overlap). On
the trained churn model, two runs of 7 rounds on a shared 2-core machine (load average
2-9):

- batch 1: no difference worth the name. These settings were ahead in every round of
  both runs, by 0.3-7 % (p50 about 13.0-13.3 us against 13.5 us); the verdict was a
  win in the quieter run and inconclusive in the loaded one. The model is a few small
  kernels; neither setting uses a thread pool for it.
- batch 256: these settings give about 1.7-2.0x the rows/s of the defaults (median),
  ahead in every round of both runs (a win by ranges in the quieter run, ranges
  overlapping in the loaded one). The defaults start one spinning intra-op thread per
  core, which contend with each other and with everything else on a small, shared
  machine, which is where this server runs next to its HTTP loop.

So the server keeps one intra-op thread (``--intra_op_threads``) without spinning and
sequential execution; graph optimisation stays at ORT's default level (``ENABLE_ALL``,
set explicitly) and the CUDA provider comes first when available. A larger model on
more cores can ask for more threads, and for spinning, by flag.
"""

from __future__ import annotations

from typing import Any


def tuned_session_options(
    intra_op_threads: int = 1, inter_op_threads: int = 1, *, allow_spinning: bool = False
) -> Any:
    """ORT session options for low-latency serving (see the module docstring).

    Spinning only matters with more than one intra-op thread: it lowers latency of
    larger models but burns the cores the HTTP loop shares, so it is opt-in.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.log_severity_level = 3
    return options


def select_providers(choice: str) -> list[str]:
    """ORT providers for ``auto``/``cpu``/``cuda``; CUDA first when present.

    Raises ValueError for an unknown choice or ``cuda`` without CUDA.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ValueError("--execution_provider cuda: CUDAExecutionProvider is not available")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if choice != "auto":
        raise ValueError(f"--execution_provider must be auto, cpu or cuda, got {choice!r}")
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
