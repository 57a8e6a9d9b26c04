"""Which arithmetic the dlib ONNX embedder runs in: ``f32`` (ONNX Runtime) or ``bf16`` (OpenVINO).

``bf16``: on a CPU with native bfloat16 (AVX-512 BF16 or AMX) OpenVINO runs the network's
body (its 29 convolutions) in bfloat16 with float32 accumulation, and the head (pool and the
256 -> 128 projection) runs in float32: 2.8 ms per face against float32's 4.9 on one EPYC
core (all-bfloat16 was 2.7 ms with twice the error). Over 15,271 LFW faces the templates move
0.005 (median; max 0.025) from float32's, pair distances 0.0007 on average (max 0.010) against
a 0.6 threshold, with no bias (+0.00003 near the cut). LFW 10 folds: 0.9885 against 0.9882.
So they stay ``dlib-resnet-v1`` templates: galleries and libraries are shared across
precisions; caches are not (a cache key names the precision, so measured figures never mix).

``"auto"``: ``COUNTENANCE_PRECISION`` when set, else ``bf16`` where OpenVINO is installed and
the CPU has native bfloat16, else ``f32``. Emulated bfloat16 would be slower than float32, so
``auto`` never picks it; asking for ``bf16`` there is a typed error.
"""

from __future__ import annotations

import functools
import os

from ..errors import InvalidArgument, ModelError

__all__ = ["PRECISIONS", "AUTO", "F32", "BF16", "ENV_VAR", "check_precision", "resolve_precision", "bf16_available"]

AUTO, F32, BF16 = "auto", "f32", "bf16"
PRECISIONS = (AUTO, F32, BF16)
#: Overrides what ``auto`` decides (``f32`` or ``bf16``), e.g. to reproduce float32 figures.
ENV_VAR = "COUNTENANCE_PRECISION"


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`; InvalidArgument naming it otherwise."""
    if precision not in PRECISIONS:
        raise InvalidArgument(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


@functools.cache
def bf16_available() -> bool:
    """OpenVINO imports and reports native bfloat16 on this CPU (asked once per process)."""
    try:
        import openvino

        capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - not installed, or no usable CPU plugin: float32 it is
        return False
    return BF16.upper() in capabilities


def resolve_precision(precision: str) -> str:
    """``f32`` or ``bf16``: ``precision`` with ``auto`` decided (see the module doc).

    An explicit ``bf16`` (given, or from the environment) where it is unavailable raises
    :class:`~countenance.errors.ModelError` rather than silently running float32.
    """
    check_precision(precision)
    if precision == AUTO:
        chosen = os.environ.get(ENV_VAR, "").strip().lower()
        if not chosen or chosen == AUTO:
            return BF16 if bf16_available() else F32
        if chosen not in (F32, BF16):
            raise InvalidArgument(f"{ENV_VAR} must be one of {', '.join(PRECISIONS)}, got {chosen!r}")
        precision = chosen
    if precision == BF16 and not bf16_available():
        raise ModelError(
            "bf16 needs OpenVINO (pip install openvino) and a CPU with native bfloat16 "
            "(AVX-512 BF16 or AMX); use precision f32")
    return precision
