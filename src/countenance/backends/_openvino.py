"""An OpenVINO compiled model behind the slice of ONNX Runtime's session interface the
backends use (``run``, ``get_inputs``, ``get_outputs``), so a backend runs on either.

Used for bfloat16 (see :mod:`countenance.backends.precision`); OpenVINO's float32 on this
CPU measured the same as ONNX Runtime's, so float32 stays on ONNX Runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError

__all__ = ["OpenVinoSession"]


@dataclass(frozen=True)
class _Port:
    name: str
    shape: list[Any]


class OpenVinoSession:
    """``model`` (an ONNX file) compiled for the CPU in ``precision`` on ``threads`` threads,
    one stream, threads not pinned (several worker processes share the cores).

    ``outputs``: tensor names to end the network at (its own outputs when None), e.g. to
    run a network's body here and its head elsewhere in another precision.
    """

    def __init__(self, model: str | os.PathLike[str], threads: int, precision: str,
                 outputs: list[str] | None = None) -> None:
        import openvino

        core = openvino.Core()
        network = core.read_model(os.fspath(model))
        if outputs is not None:
            network = openvino.Model([_tensor(network, name) for name in outputs], network.get_parameters(), "body")
        self._compiled = core.compile_model(network, "CPU", {
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
            "ENABLE_CPU_PINNING": False,
        })
        self._request = self._compiled.create_infer_request()
        self._inputs = [_port(p) for p in self._compiled.inputs]
        self._outputs = [_port(p) for p in self._compiled.outputs]

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all when None) for ``feeds``, as arrays the caller owns."""
        results = self._request.infer({name: np.ascontiguousarray(value) for name, value in feeds.items()})
        by_name = {port.any_name: results[port] for port in self._compiled.outputs}
        names = output_names or [port.name for port in self._outputs]
        return [np.array(by_name[name], copy=True) for name in names]


def _tensor(network: Any, name: str) -> Any:
    for op in network.get_ordered_ops():
        for output in op.outputs():
            if name in output.get_names():
                return output
    raise ModelError(f"the network has no tensor named {name!r}")


def _port(port: Any) -> _Port:
    return _Port(port.any_name, [d.get_length() if d.is_static else None for d in port.get_partial_shape()])
