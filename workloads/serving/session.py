"""ONNX Runtime session settings of the model server.

A batch-1 tabular model gains nothing from a thread pool, and spinning threads steal
the cores the HTTP loop needs: few intra-op threads without spinning, sequential
execution, full graph optimisation, and the CUDA provider first when available.
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
