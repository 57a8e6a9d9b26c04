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

    ``float32_head``: the network must end in a global average pool and a projection by a
    constant matrix (a recognition network's head); the body runs in ``precision`` and the head
    in float32 numpy, so the outputs are what ``run`` gives either way. (A bfloat16 projection
    alone doubled the error of dlib's templates, for 4% of the time.)
    """

    def __init__(self, model: str | os.PathLike[str], threads: int, precision: str, *, float32_head: bool = False) -> None:
        import openvino

        core = openvino.Core()
        network = core.read_model(os.fspath(model))
        self._head: np.ndarray | None = None
        self._head_output = ""
        if float32_head:
            self._head_output = network.outputs[0].any_name
            features, self._head = _pooled_projection(network, model)
            network = openvino.Model([features], network.get_parameters(), "body")
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
        if self._head is not None:
            self._outputs = [_Port(self._head_output, [self._outputs[0].shape[0], self._head.shape[1]])]

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Port]:
        return list(self._outputs)

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all when None) for ``feeds``, as arrays the caller owns."""
        results = self._request.infer({name: np.ascontiguousarray(value) for name, value in feeds.items()})
        if self._head is not None:
            features = np.asarray(results[self._compiled.outputs[0]], dtype=np.float32)
            by_name = {self._head_output: features.mean(axis=(2, 3)) @ self._head}
        else:
            by_name = {port.any_name: results[port] for port in self._compiled.outputs}
        names = output_names or [port.name for port in self._outputs]
        return [np.array(by_name[name], copy=True) for name in names]


def _pooled_projection(network: Any, model: str | os.PathLike[str]) -> tuple[Any, np.ndarray]:
    """``(features, weights)`` of a network whose one output is ``mean(features over H, W) @
    weights`` (ReduceMean over axes 2, 3, a reshape, MatMul by a constant); ModelError if not."""
    problem = ModelError(f"{model}: the network does not end in a global average pool and a constant projection")
    if len(network.outputs) != 1:
        raise problem
    matmul = network.outputs[0].get_node().input_value(0).get_node()
    if matmul.get_type_name() != "MatMul" or any(matmul.get_attributes().values()):  # no transposes
        raise problem
    weights = matmul.input_value(1).get_node()
    pool = matmul.input_value(0).get_node()
    while pool.get_type_name() in ("Reshape", "Squeeze"):
        pool = pool.input_value(0).get_node()
    if weights.get_type_name() != "Constant" or pool.get_type_name() != "ReduceMean":
        raise problem
    # The pool's axes may be computed (ONNX's GlobalAveragePool becomes a Range over the rank):
    # check what it does instead: (N, C, H, W) in, (N, C, 1, 1) out, C rows of weights.
    features = pool.input_value(0)
    shape_in, shape_out = features.get_partial_shape(), pool.get_output_partial_shape(0)
    matrix = np.ascontiguousarray(weights.get_data(), dtype=np.float32)
    if (shape_in.rank.get_length() != 4 or shape_out.rank.get_length() != 4 or not shape_out[2].is_static
            or not shape_out[3].is_static or shape_out[2].get_length() != 1 or shape_out[3].get_length() != 1
            or not shape_in[1].is_static or matrix.ndim != 2 or shape_in[1].get_length() != matrix.shape[0]):
        raise problem
    return features, matrix


def _port(port: Any) -> _Port:
    return _Port(port.any_name, [d.get_length() if d.is_static else None for d in port.get_partial_shape()])
