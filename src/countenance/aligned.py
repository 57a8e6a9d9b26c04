"""Aligned input: faces already cut to the ArcFace 5-point template (112x112 or 112x96 crops).

The large face data sets (MS1M, Glint360K, WebFace260M) are distributed as crops whose 5
keypoints already sit on :data:`~countenance.align.ARCFACE_TEMPLATE_112`. A detector looking
for a face inside a picture that is all face is the wrong tool (HOG misses ~5% of them): here
nothing is detected. :class:`AlignedFaces` has the ``detect`` method of
:class:`~countenance.detection.FaceDetector` and returns, for every crop of an accepted size, one
:class:`~countenance.faces.Face` covering the whole crop, whose ``keypoints`` are the
template's (an ArcFace ONNX recogniser then warps the crop onto itself) and whose dlib
5-point ``landmarks`` (what dlib's 150 px chip is aligned on) are placed by dlib's shape
predictor run on the template's face box, or, with ``refine=False``, are the template's own
mean positions (:data:`DLIB_LANDMARKS_112`).

Measured on 120 LFW faces (docs/MEASURE.md, "Aligned 112 px crops"): the crop's template
against the source photo's (same face, same model, cosine of dlib's descriptors) has median
0.9961 with the predictor, 0.9900 with the fixed positions: the predictor corrects the 2-3 px
by which dlib's eye-corner points and the detector's keypoints disagree from face to face.

The pipeline uses this when its detector is :data:`ALIGNED_ARCFACE112` (the ``--aligned
arcface112`` option of the commands, or their auto-detection: :func:`is_aligned_size`).
"""

from __future__ import annotations

import numpy as np

from .align import ARCFACE_TEMPLATE_112
from .errors import NotAlignedCrop
from .faces import Box, Face

__all__ = [
    "ALIGNED_ARCFACE112",
    "ALIGNED_SIZES",
    "DLIB_LANDMARKS_112",
    "DLIB_LANDMARK_BOX_112",
    "is_aligned_size",
    "AlignedFaces",
]

#: The detector name of aligned input (what ``--aligned arcface112`` sets): no detection.
ALIGNED_ARCFACE112 = "aligned-arcface112"

#: Accepted crop sizes ``(width, height)`` in pixels and the x shift of the template in them:
#: 112x112 (ArcFace, InsightFace's data sets) and 96 wide x 112 high (the SphereFace/CosFace
#: crop: the same template 8 px to the left).
ALIGNED_SIZES: dict[tuple[int, int], float] = {(112, 112): 0.0, (96, 112): -8.0}

#: Where dlib's 5-point shape predictor puts its points (dlib's order: one eye's outer and
#: inner corner, the other's outer and inner corner, the base of the nose) in a 112x112 ArcFace
#: crop: ``(5, 2) float32`` (x, y) pixels, the mean over 400 LFW faces (seed 0) detected by
#: YuNet, whose keypoints mapped each face onto the template (per-point std 2-3 px).
DLIB_LANDMARKS_112 = np.array(
    [[79.03, 53.20], [65.29, 53.69], [30.18, 53.68], [44.11, 53.93], [55.09, 80.62]], dtype=np.float32
)
DLIB_LANDMARKS_112.setflags(write=False)

#: The box dlib's predictor is run on in a 112x112 crop: the mean of YuNet's HOG-like
#: ``landmark_box`` over the same faces, mapped the same way (it reaches past the crop's bottom
#: edge, as a HOG box of a face reaches below the chin).
DLIB_LANDMARK_BOX_112 = Box(7.1, 25.0, 97.7, 116.2)


def is_aligned_size(width: int, height: int) -> bool:
    """Whether a ``width`` x ``height`` picture has an aligned crop's size (:data:`ALIGNED_SIZES`)."""
    return (int(width), int(height)) in ALIGNED_SIZES


def _sizes() -> str:
    return " or ".join(f"{w}x{h}" for w, h in ALIGNED_SIZES)


class AlignedFaces:
    """The one face of an aligned crop, without detection (the ``detect`` of a ``FaceDetector``).

    Parameters
    ----------
    refine:
        place dlib's 5 landmarks with its shape predictor on :data:`DLIB_LANDMARK_BOX_112`
        (default; closer to the photo's own chip), or use :data:`DLIB_LANDMARKS_112` as they are.
    landmarker:
        the predictor (default: dlib's 5-point one); must not be shared by two threads.
    """

    name = ALIGNED_ARCFACE112

    def __init__(self, *, refine: bool = True, landmarker=None) -> None:
        self.refine = refine
        if refine and landmarker is None:
            from .backends.dlib_backend import DlibLandmarker

            landmarker = DlibLandmarker()
        self.landmarker = landmarker

    def detect(self, image: np.ndarray) -> list[Face]:
        """``[face]``: the whole crop ``image`` ((H, W, 3) uint8 RGB) as one upright face.

        Raises :class:`~countenance.errors.NotAlignedCrop` when ``image`` is not 112x112 or
        112x96 (a photo, or a crop of another size, passed as aligned input).
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3:
            raise NotAlignedCrop(f"aligned input must be an (H, W, 3) image, got {getattr(image, 'shape', image)!r}")
        height, width = image.shape[:2]
        if not is_aligned_size(width, height):
            raise NotAlignedCrop(
                f"a {width}x{height} picture is not an aligned face crop ({_sizes()} px, the ArcFace "
                "5-point template); leave out --aligned to detect faces in it"
            )
        shift = np.array([ALIGNED_SIZES[(width, height)], 0.0], dtype=np.float32)
        box = Box(0.0, 0.0, float(width), float(height))
        if self.refine:
            b = DLIB_LANDMARK_BOX_112
            landmark_box = Box(b.left + shift[0], b.top, b.right + shift[0], b.bottom)
            landmarks = np.asarray(self.landmarker.landmarks(image, landmark_box), dtype=np.float32)
        else:
            landmarks = DLIB_LANDMARKS_112 + shift
        return [
            Face(
                box=box,
                detection_score=1.0,
                landmarks=landmarks,
                keypoints=ARCFACE_TEMPLATE_112 + shift,
                rotation=0,
                detector=ALIGNED_ARCFACE112,
            )
        ]
