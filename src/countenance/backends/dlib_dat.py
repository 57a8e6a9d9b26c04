"""Read dlib's 128-d face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``)
into plain NumPy weights.

No existing tool reads that file (public-domain weights shipped by ``face_recognition_models``),
so :func:`parse_dlib_resnet` / :func:`read_dlib_resnet` decode dlib's serialisation
(``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``), checking every record against the
known network definition (``anet_type`` in dlib's ``tools/python/src/face_recognition.cpp``)
and raising :class:`~countenance.errors.InvalidArgument` (a ``ValueError``) on anything else.

Network (forward order): con 32 7x7/2 -> affine -> relu -> max_pool 3x3/2, then 14
residual blocks (32 x3, 64 x4, 128 x3, 256 x3, 256 x1; the first block of each level
after the first downsamples), a global average pool and a 256 -> 128 matrix without bias.

Nothing is imported or loaded at import time beyond NumPy and the standard library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "ConvLayer",
    "AffineLayer",
    "ResidualBlock",
    "DlibResnetWeights",
    "parse_dlib_resnet",
    "read_dlib_resnet",
    "CHIP_SIZE",
    "DESCRIPTOR_SIZE",
    "DAT_FILENAME",
]

CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128
DAT_FILENAME = "dlib_face_recognition_resnet_model_v1.dat"

# (filters, downsample) of each residual block in forward order: alevel4 .. alevel0.
_BLOCK_PLAN: tuple[tuple[int, bool], ...] = (
    (32, False), (32, False), (32, False),
    (64, True), (64, False), (64, False), (64, False),
    (128, True), (128, False), (128, False),
    (256, True), (256, False), (256, False),
    (256, True),
)
_STEM_FILTERS = 32


# --------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True, eq=False)
class ConvLayer:
    """A dlib ``con_`` layer: cross-correlation exactly as ONNX ``Conv``.

    ``filters`` is ``(out, in, kh, kw) float32``, ``bias`` ``(out,) float32``;
    ``padding`` is the same on all four sides (in pixels).
    """

    filters: np.ndarray
    bias: np.ndarray
    stride: int
    padding: int


@dataclass(frozen=True, eq=False)
class AffineLayer:
    """A dlib ``affine_`` layer (frozen batch norm): ``y = gamma[c] * x + beta[c]``."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True, eq=False)
class ResidualBlock:
    """``relu(branch(x) + shortcut(x))`` with ``branch = affine2(conv2(relu(affine1(conv1(x)))))``.

    ``downsample``: ``conv1`` has stride 2 and the shortcut is a 2x2 stride-2 average pool
    (otherwise it is the identity). The sum zero-pads the smaller operand in channels and
    space (dlib's ``add_prev``).
    """

    conv1: ConvLayer
    affine1: AffineLayer
    conv2: ConvLayer
    affine2: AffineLayer
    downsample: bool


@dataclass(frozen=True, eq=False)
class DlibResnetWeights:
    """Everything the forward pass needs, as read from the .dat file.

    ``input_mean_rgb``: the mean colours the input layer subtracts (then divides by 256).
    ``fc``: ``(256, 128) float32`` stored as (inputs, outputs): ``descriptor = x @ fc``.
    ``distance_threshold``: the Euclidean threshold the loss was trained with (0.6).
    """

    input_mean_rgb: tuple[float, float, float]
    input_size: int
    stem_conv: ConvLayer
    stem_affine: AffineLayer
    blocks: tuple[ResidualBlock, ...]
    fc: np.ndarray
    loss_margin: float
    distance_threshold: float


# --------------------------------------------------------------------------------------
# Parsing dlib's serialisation


class _Reader:
    """Sequential reader of dlib's serialisation format; every failure is an InvalidArgument."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def fail(self, message: str) -> InvalidArgument:
        return InvalidArgument(
            f"{self.source}: not a valid dlib face recognition ResNet (.dat) file: {message} (at byte {self.pos})"
        )

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: needed {n} more bytes, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        # One control byte (low nibble: byte count, 0x80: negative), then little-endian bytes.
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def string(self) -> str:
        length = self.integer()
        if length < 0 or length > 256:
            raise self.fail(f"implausible string length {length}")
        raw = self.take(length)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-ASCII string {raw[:32]!r}") from None

    def expect_string(self, expected: str) -> None:
        start = self.pos
        try:
            found = self.string()
        except ValueError:
            self.pos = start
            raise self.fail(f"expected the string {expected!r}") from None
        if found != expected:
            self.pos = start
            raise self.fail(f"expected {expected!r}, found {found!r}")

    def expect_int(self, expected: int, what: str) -> None:
        found = self.integer()
        if found != expected:
            raise self.fail(f"{what}: expected {expected}, found {found}")

    def boolean(self) -> bool:
        b = self.take(1)
        if b not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {b!r}")
        return b == b"1"

    def real(self) -> float:
        # float/double: mantissa (int64) and exponent (int16), value = m * 2**e.
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        self.expect_int(2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = shape[0] * shape[1] * shape[2] * shape[3]  # Python ints: no overflow
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        self.expect_int(1, "alias_tensor version")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _default_padding(kernel: int, stride: int) -> int:
    # dlib's default for con_ and the pools: no padding when strided, else "same".
    return 0 if stride != 1 else kernel // 2


def _read_layer_tail(r: _Reader, first: bool) -> None:
    # add_layer's own state after the layer details: three bools and three (empty) tensors;
    # the input-most layer also stores a sample expansion factor.
    for _ in range(3):
        r.boolean()
    for _ in range(3):
        r.tensor()
    if first:
        r.integer()


def _read_con(r: _Reader, in_channels: int, filters: int, kernel: int, stride: int, first: bool) -> ConvLayer:
    r.expect_string("con_4")
    params = r.tensor().reshape(-1)
    header = tuple(r.integer() for _ in range(7))
    padding = _default_padding(kernel, stride)
    expected = (filters, kernel, kernel, stride, stride, padding, padding)
    if header != expected:
        raise r.fail(f"con_ (filters, nr, nc, stride_y, stride_x, pad_y, pad_x) {header} != {expected}")
    fshape = r.alias_shape()
    bshape = r.alias_shape()
    if fshape != (filters, in_channels, kernel, kernel) or bshape != (1, filters, 1, 1):
        raise r.fail(f"con_ filter/bias shapes {fshape}, {bshape} do not fit {in_channels} -> {filters}")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    n_w = filters * in_channels * kernel * kernel
    if params.size != n_w + filters:
        raise r.fail(f"con_ has {params.size} parameters, expected {n_w + filters}")
    _read_layer_tail(r, first)
    # Flat params: filters (out, in, kh, kw), the ONNX order, then biases.
    return ConvLayer(
        filters=params[:n_w].reshape(filters, in_channels, kernel, kernel).copy(),
        bias=params[n_w:].copy(),
        stride=stride,
        padding=padding,
    )


def _read_affine(r: _Reader, channels: int) -> AffineLayer:
    # The old "affine_" record (no "disabled" flag): params = gamma then beta.
    r.expect_string("affine_")
    params = r.tensor().reshape(-1)
    g = r.alias_shape()
    b = r.alias_shape()
    r.expect_int(0, "affine_ mode (0 = per channel)")
    if params.size != 2 * channels or g != (1, channels, 1, 1) or b != g:
        raise r.fail(f"affine_ shapes {params.size}, {g}, {b} do not fit {channels} channels")
    _read_layer_tail(r, False)
    return AffineLayer(gamma=params[:channels].copy(), beta=params[channels:].copy())


def _read_simple(r: _Reader, name: str) -> None:
    r.expect_string(name)
    _read_layer_tail(r, False)


def _read_pool(r: _Reader, name: str, kernel: int, stride: int) -> None:
    r.expect_string(name)
    header = tuple(r.integer() for _ in range(6))
    padding = _default_padding(kernel, stride) if kernel else 0
    expected = (kernel, kernel, stride, stride, padding, padding)
    if header != expected:
        raise r.fail(f"{name} (nr, nc, stride_y, stride_x, pad_y, pad_x) {header} != {expected}")
    _read_layer_tail(r, False)


def _read_fc(r: _Reader, inputs: int, outputs: int) -> np.ndarray:
    r.expect_string("fc_2")
    r.expect_int(outputs, "fc_ outputs")
    r.expect_int(inputs, "fc_ inputs")
    params = r.tensor().reshape(-1)
    w = r.alias_shape()
    r.alias_shape()  # biases (unused: no bias)
    r.expect_int(1, "fc_ bias mode (1 = no bias)")
    for _ in range(4):
        r.real()
    if w != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
        raise r.fail(f"fc_ weight shape {w} / {params.size} values do not fit {inputs} -> {outputs}")
    _read_layer_tail(r, False)
    # Stored as (inputs, outputs): descriptor = x @ W.
    return params.reshape(inputs, outputs).copy()


def _expected_wrapper_versions() -> list[int]:
    """add_layer/tag/skip version numbers, outermost (output) first, for ``anet_type``.

    The file stores only these versions, not which tag each add_prev refers to, so the
    wiring comes from the network definition; this checks the file has that shape.
    """
    layer, tag, input_layer = 2, 1, 3
    forward: list[int] = [input_layer, layer, layer, layer]  # con, affine, relu, max_pool
    for _, downsample in _BLOCK_PLAN:
        forward.append(tag)  # tag1 on the block input
        forward += [layer] * 5  # con, affine, relu, con, affine
        if downsample:
            forward += [tag, tag, layer]  # tag2, skip1, avg_pool
        forward += [layer, layer]  # add_prev, relu
    forward += [layer, layer]  # avg_pool_everything, fc
    return forward[::-1]


def parse_dlib_resnet(data: bytes, source: str = "<bytes>") -> DlibResnetWeights:
    """Decode the bytes of ``dlib_face_recognition_resnet_model_v1.dat``.

    Raises :class:`~countenance.errors.InvalidArgument` (a ``ValueError``) naming ``source``
    and the byte offset when the bytes are not that
    network (wrong header, other architecture, truncated, trailing bytes).
    """
    r = _Reader(data, source)
    # Loss layer first (serialised from the output end).
    r.expect_int(1, "loss layer version")
    r.expect_string("loss_metric_2")
    margin = r.real()
    threshold = r.real()
    # Then the nested add_layer / tag / skip wrapper versions, output towards input.
    for i, expected in enumerate(_expected_wrapper_versions()):
        found = r.integer()
        if found != expected:
            raise r.fail(f"layer wrapper {i}: version {found}, expected {expected} (not dlib's anet_type)")
    r.expect_string("input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    r.expect_int(CHIP_SIZE, "input rows")
    r.expect_int(CHIP_SIZE, "input columns")

    # Layer records, forward order.
    stem_conv = _read_con(r, 3, _STEM_FILTERS, 7, 2, first=True)
    stem_affine = _read_affine(r, _STEM_FILTERS)
    _read_simple(r, "relu_")
    _read_pool(r, "max_pool_2", 3, 2)
    channels = _STEM_FILTERS
    blocks = []
    for filters, downsample in _BLOCK_PLAN:
        conv1 = _read_con(r, channels, filters, 3, 2 if downsample else 1, first=False)
        affine1 = _read_affine(r, filters)
        _read_simple(r, "relu_")
        conv2 = _read_con(r, filters, filters, 3, 1, first=False)
        affine2 = _read_affine(r, filters)
        if downsample:
            _read_pool(r, "avg_pool_2", 2, 2)
        _read_simple(r, "add_prev_")
        _read_simple(r, "relu_")
        blocks.append(ResidualBlock(conv1, affine1, conv2, affine2, downsample))
        channels = max(channels, filters)
    _read_pool(r, "avg_pool_2", 0, 1)  # avg_pool_everything
    fc = _read_fc(r, channels, DESCRIPTOR_SIZE)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} trailing bytes after the last layer")
    return DlibResnetWeights(
        input_mean_rgb=mean,
        input_size=CHIP_SIZE,
        stem_conv=stem_conv,
        stem_affine=stem_affine,
        blocks=tuple(blocks),
        fc=fc,
        loss_margin=margin,
        distance_threshold=threshold,
    )


def read_dlib_resnet(dat_path: str | os.PathLike[str]) -> DlibResnetWeights:
    """Read and decode a ``dlib_face_recognition_resnet_model_v1.dat`` file; see :func:`parse_dlib_resnet`."""
    path = Path(dat_path)
    return parse_dlib_resnet(path.read_bytes(), source=str(path))
