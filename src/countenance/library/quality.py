"""The quality gate: faces too small or too blurred are indexed but neither clustered nor suggested.

Photo tools gate faces the same way (Immich: detection score >= 0.7; PhotoPrism: faces of at
least 50 px). Here the rules are a face size and a sharpness, both options with defaults
measured on LFW (see docs/LIBRARY.md); the detection score is already gated by the detector.
"""

from __future__ import annotations

from dataclasses import dataclass


from ..errors import InvalidArgument
from ..ingest import SHARPNESS_SIDE_PX, face_sharpness  # the one definition; the index computes it in its workers

__all__ = ["QualityGate", "face_sharpness", "SHARPNESS_SIDE_PX"]


@dataclass(frozen=True)
class QualityGate:
    """Which faces are good enough to cluster and suggest.

    ``min_face_px``: the shorter side of the face box, in pixels of the upright photo.
    ``min_sharpness``: :func:`face_sharpness` (variance of the Laplacian at 64 x 64).
    Either may be 0 to switch that rule off.

    Defaults from ``scripts/eval_quality_gate.py`` (LFW faces shrunk or blurred on purpose,
    nearest of 158 people): at ~22 px faces are still named right 96% of the time (81% at
    ~18 px); blur hurts far more: sharpness ~80 -> 100%, ~23 -> 75%, ~12 -> 21%.
    """

    min_face_px: float = 20.0
    min_sharpness: float = 40.0

    def __post_init__(self) -> None:
        for name in ("min_face_px", "min_sharpness"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidArgument(f"{name} must be a number >= 0, got {value!r}")

    def reason(self, box_ltrb_px: tuple[float, float, float, float], sharpness: float) -> str | None:
        """The rule the face fails (``"small"`` or ``"blurred"``), or None when it passes."""
        left, top, right, bottom = box_ltrb_px
        if min(right - left, bottom - top) < self.min_face_px:
            return "small"
        if sharpness < self.min_sharpness:
            return "blurred"
        return None
