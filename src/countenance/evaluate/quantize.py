"""dlib's ResNet in int8 for ONNX Runtime: static QDQ quantisation, calibrated on real face chips.

Convolution weights are quantised per output channel to int8 and their inputs to uint8 (the
u8 x s8 form that AVX-512 VNNI runs), with activation ranges calibrated (min/max) on dlib face
chips of real photos; the first convolution, residual additions and pools stay fp32. The
result is accepted by the caller only if its templates stay close to fp32
(:func:`template_agreement`); see :mod:`.run_budget`.

The file is cached as ``dlib_resnet_v1-int8-q<QUANT_VERSION>-<fp32 stem>-<chips digest>.onnx``
next to the fp32 model, so other calibration chips or another converter give another file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument

__all__ = ["QUANT_VERSION", "ensure_int8_model", "TemplateAgreement", "template_agreement"]

#: Bumped when the quantisation recipe changes.
QUANT_VERSION = 3


def ensure_int8_model(fp32_model: str | os.PathLike[str], chips: np.ndarray, cache_dir: str | os.PathLike[str]) -> Path:
    """The int8 model of ``fp32_model`` calibrated on ``chips`` ``(N, 150, 150, 3) uint8``, made once.

    ``N`` >= 16 chips; a few hundred from different people calibrate well.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..backends.dlib_resnet_onnx import INPUT_NAME

    batch = np.asarray(chips)
    if batch.ndim != 4 or batch.shape[1:] != (150, 150, 3) or batch.dtype != np.uint8 or len(batch) < 16:
        raise InvalidArgument(f"chips must be (N >= 16, 150, 150, 3) uint8, got {batch.dtype} {batch.shape}")
    source = Path(fp32_model)
    digest = hashlib.sha256(batch.tobytes()).hexdigest()[:12]
    target = Path(cache_dir) / f"dlib_resnet_v1-int8-q{QUANT_VERSION}-{source.stem}-{digest}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([batch[i : i + 16].astype(np.float32) for i in range(0, len(batch), 16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._batches, None)
            return None if item is None else {INPUT_NAME: item}

    prepared = target.with_name(target.stem + ".pre.onnx")
    tmp = target.with_name(target.stem + f".{os.getpid()}.tmp.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        # Only convolutions are quantised (residual Adds and pools stay fp32), and not the first
        # one (raw pixels in): quantising everything gave a 1st-percentile cosine to fp32 of
        # 0.986, this gives 0.9995 on LFW chips (MinMax ranges did better than percentiles).
        nodes = onnx.load(str(prepared)).graph.node
        first_conv = [n.name for n in nodes if n.op_type == "Conv"][:1]
        quantize_static(
            str(prepared), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
            nodes_to_exclude=first_conv, calibrate_method=CalibrationMethod.MinMax,
        )
        os.replace(tmp, target)
    finally:
        for path in (prepared, tmp):
            path.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class TemplateAgreement:
    """Cosine similarity between int8 and fp32 templates of the same chips: min, 1st percentile, median."""

    chips: int
    cosine_min: float
    cosine_p01: float
    cosine_median: float

    def to_dict(self) -> dict[str, Any]:
        return {"chips": self.chips, "cosine_min": self.cosine_min, "cosine_p01": self.cosine_p01,
                "cosine_median": self.cosine_median}


def template_agreement(reference: np.ndarray, candidate: np.ndarray) -> TemplateAgreement:
    """Row-wise cosine similarity of ``candidate`` (N, D) to ``reference`` (N, D)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or len(a) == 0:
        raise InvalidArgument(f"need two (N, D) arrays of the same shape, got {a.shape} and {b.shape}")
    cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return TemplateAgreement(len(a), float(cosine.min()), float(np.percentile(cosine, 1)), float(np.median(cosine)))
