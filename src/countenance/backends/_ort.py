"""ONNX Runtime sessions as every ONNX backend here builds them: CPU, a fixed thread count."""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidArgument

__all__ = ["make_session", "check_threads"]

# ONNX Runtime's severity levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
_ORT_ERROR = 3


def check_threads(threads: int) -> int:
    """``threads`` if it is an int >= 1; InvalidArgument naming the value otherwise."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidArgument(f"threads must be an int >= 1, got {threads!r}")
    return threads


def make_session(model: str | os.PathLike[str] | bytes, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model`` (a path or serialised bytes) on the CPU.

    ``threads`` is the intra-op thread count (1: everything on the calling thread); operators
    run sequentially (inter-op 1), so ``threads`` is the whole CPU use of one inference.
    ONNX Runtime's own log is kept to errors for this session (its warnings, e.g. "Removing
    initializer ..." for unused weights of third-party models, say nothing a user can act on);
    the process-wide logger is left as the caller set it.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = _ORT_ERROR
    options.intra_op_num_threads = check_threads(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
