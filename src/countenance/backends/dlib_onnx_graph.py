"""The ONNX graph of dlib's face-recognition ResNet, built from the weights :mod:`.dlib_dat` reads.

:func:`build_onnx_model` gives an opset-17 graph that takes face chips as dlib produces them
and returns the same 128-d descriptors (equal to dlib's within ~5e-7). ``onnx`` is imported
only when a graph is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .dlib_dat import DESCRIPTOR_SIZE, AffineLayer, ConvLayer, DlibResnetWeights

if TYPE_CHECKING:
    import onnx

__all__ = ["build_onnx_model", "INPUT_NAME", "OUTPUT_NAME", "OPSET", "IR_VERSION", "CONVERTER_VERSION"]

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
OPSET = 17
# IR 8 (ONNX 1.10+) keeps the file loadable by every ONNX Runtime the project accepts.
IR_VERSION = 8
# Bump when the graph changes, so old cached conversions are not reused.
CONVERTER_VERSION = "1"


def _fold(conv: ConvLayer, affine: AffineLayer) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``gamma * conv(x) + beta`` into the convolution's weights and bias."""
    g = affine.gamma.astype(np.float64)
    w = conv.filters.astype(np.float64) * g[:, None, None, None]
    b = conv.bias.astype(np.float64) * g + affine.beta.astype(np.float64)
    return w.astype(np.float32), b.astype(np.float32)


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    # Floor division, as dlib (and ONNX's default ceil_mode=0) computes it.
    return (size + 2 * padding - kernel) // stride + 1


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], prefix: str, output: str | None = None, **attrs) -> str:
        from onnx import helper

        out = output or self.name(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{prefix}_{op}_{self.counter}", **attrs))
        return out

    def conv(self, x: str, conv: ConvLayer, affine: AffineLayer, prefix: str) -> str:
        w, b = _fold(conv, affine)
        k = w.shape[2]
        p = conv.padding
        return self.node(
            "Conv",
            [x, self.const(f"{prefix}_w", w), self.const(f"{prefix}_b", b)],
            prefix,
            kernel_shape=[k, k],
            strides=[conv.stride, conv.stride],
            pads=[p, p, p, p],
        )

    def zero_pad(self, x: str, shape: tuple[int, int, int], target: tuple[int, int, int], prefix: str) -> str:
        # dlib's add_prev sums tensors of different shapes by treating missing cells as 0:
        # pad channels and the bottom/right edge with zeros up to the larger shape.
        extra = [t - s for s, t in zip(shape, target)]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
        return self.node("Pad", [x, self.const(f"{prefix}_pads", pads)], prefix, mode="constant")


def build_onnx_model(weights: DlibResnetWeights) -> onnx.ModelProto:
    """ONNX graph of the network: ``chips`` -> ``descriptors``.

    Input ``chips``: ``(N, 150, 150, 3) float32``, RGB pixel values 0..255 in NHWC order,
    i.e. ``dlib.get_face_chip(img, shape, size=150, padding=0.25)`` as float.
    Output ``descriptors``: ``(N, 128) float32``, not L2-normalised (dlib compares them
    by Euclidean distance, threshold 0.6). ``N`` is dynamic. Opset 17.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    size = size_in = weights.input_size
    x = g.node("Transpose", [INPUT_NAME], "nchw", perm=[0, 3, 1, 2])
    # dlib's input layer: (pixel - mean) / 256 (256, not 255).
    mean = np.array(weights.input_mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", [x, g.const("input_mean", mean)], "center")
    x = g.node("Mul", [x, g.const("input_scale", np.array(1.0 / 256.0, dtype=np.float32))], "scale")

    # Stem: con 7x7/2 (no padding) -> affine -> relu -> max_pool 3x3/2 (no padding).
    x = g.conv(x, weights.stem_conv, weights.stem_affine, "stem")
    x = g.node("Relu", [x], "stem")
    x = g.node("MaxPool", [x], "stem_pool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    size = _out_size(_out_size(size, 7, 2, 0), 3, 2, 0)
    channels = weights.stem_conv.filters.shape[0]

    for i, block in enumerate(weights.blocks):
        prefix = f"block{i}"
        y = g.conv(x, block.conv1, block.affine1, f"{prefix}_conv1")
        y = g.node("Relu", [y], f"{prefix}_relu1")
        y = g.conv(y, block.conv2, block.affine2, f"{prefix}_conv2")
        c1 = block.conv1
        branch_size = _out_size(size, c1.filters.shape[2], c1.stride, c1.padding)
        branch_shape = (block.conv2.filters.shape[0], branch_size, branch_size)
        if block.downsample:
            x = g.node("AveragePool", [x], f"{prefix}_pool", kernel_shape=[2, 2], strides=[2, 2], pads=[0] * 4)
            size = _out_size(size, 2, 2, 0)
        short_shape = (channels, size, size)
        # e.g. a 3x3 branch added to a 4x4 shortcut gives 4x4; 128 + 256 channels gives 256.
        target = tuple(max(a, b) for a, b in zip(branch_shape, short_shape))
        y = g.zero_pad(y, branch_shape, target, f"{prefix}_pad_branch")  # type: ignore[arg-type]
        x = g.zero_pad(x, short_shape, target, f"{prefix}_pad_shortcut")  # type: ignore[arg-type]
        x = g.node("Add", [x, y], f"{prefix}_add")
        x = g.node("Relu", [x], f"{prefix}_relu2")
        channels, size = target[0], target[1]

    # avg_pool_everything (averages over the zero cells the last add_prev padded in too).
    x = g.node("GlobalAveragePool", [x], "head_pool")
    x = g.node("Flatten", [x], "head_flatten", axis=1)
    g.node("MatMul", [x, g.const("fc_w", weights.fc.astype(np.float32))], "fc", output=OUTPUT_NAME)

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", size_in, size_in, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", DESCRIPTOR_SIZE])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="countenance.dlib_resnet_onnx",
        producer_version=CONVERTER_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=(
            "dlib_face_recognition_resnet_model_v1 (public domain), converted by countenance. "
            "Input: (N,150,150,3) RGB 0..255 dlib face chips (size 150, padding 0.25). "
            "Output: (N,128) raw descriptors; same face if Euclidean distance < 0.6."
        ),
    )
    model.ir_version = IR_VERSION
    return model
