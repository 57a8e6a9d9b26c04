"""Stage 1: find faces in an image and place their 5 landmarks.

A *detector backend* only proposes faces (:class:`BoxDetector`, returning :class:`Detection`:
a box, a score and, from detectors that give them, 5 ArcFace-order keypoints).
:class:`FaceDetector` adds the policy a user needs on real photos: how much to upsample for
small faces, trying the other rotations when nothing is found upright, and dlib's 5-point
landmarks for alignment.

Backends by name (:data:`DETECTORS`): ``hog`` and ``cnn`` (dlib), ``yunet`` (ONNX, needs
``countenance models pull yunet``), ``ultraface`` and ``blazeface`` (ONNX, opt-in; need
``countenance models pull ultraface-rfb-320`` / ``blazeface``). The name ``"auto"`` picks
``yunet`` when its model is installed and ``hog`` otherwise (:func:`make_box_detector`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, Protocol

import numpy as np

from .backends._ort import check_threads
from .errors import InvalidArgument, ModelError, UnknownBackend
from .faces import Box, Detection, Face
from .geometry import rotate_image, unrotate_box, unrotate_points

__all__ = [
    "Detection",
    "BoxDetector",
    "Landmarker",
    "default_landmarker",
    "DETECTORS",
    "AUTO",
    "resolve_detector_name",
    "make_box_detector",
    "FaceDetector",
    "largest_face",
    "central_face",
    "rotate_image",
]

_log = logging.getLogger(__name__)


class BoxDetector(Protocol):
    """A detector backend: :class:`Detection` s (box, score, optional keypoints), nothing else.

    Optional members, read by :class:`FaceDetector`:

    - ``auto_upsample_levels(height, width) -> list[int]``: the upsample levels tried in turn
      for ``upsample="auto"`` (the first that finds a face wins); without it, dlib HOG's
      policy is used.
    - ``confident_score: float``: a face scoring at least this settles the image's
      orientation; a lower best score makes :class:`FaceDetector` try the other rotations
      too. Without it, any face settles it.
    """

    name: str

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB); ``upsample`` doubles the working size n times."""
        ...


class Landmarker(Protocol):
    """Places the 5 points an embedder aligns on, given a face's box (dlib's 5-point predictor)."""

    name: str

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """``(5, 2) float32`` (x, y) pixels of the face in ``box`` of ``image`` ((H, W, 3) uint8 RGB, upright face)."""
        ...


def default_landmarker() -> Landmarker:
    """dlib's 5-point shape predictor: the landmarks dlib's ResNet (``dlib``, ``dlib-onnx``) aligns on."""
    from .backends.dlib_backend import DlibLandmarker

    return DlibLandmarker()


def _hog(threads: int) -> BoxDetector:
    from .backends.dlib_backend import DlibHogDetector

    return DlibHogDetector()


def _cnn(threads: int) -> BoxDetector:
    from .backends.dlib_backend import DlibCnnDetector

    return DlibCnnDetector()


def _yunet(threads: int) -> BoxDetector:
    from .backends.yunet import YuNetDetector

    return YuNetDetector(threads=threads)


def _ultraface(threads: int) -> BoxDetector:
    from .backends.ultraface import UltraFaceDetector

    return UltraFaceDetector(threads=threads)


def _blazeface(threads: int) -> BoxDetector:
    from .backends.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(threads=threads)


#: Detector backends by name: each entry builds a fresh backend (backends are not
#: thread-safe) given the number of intra-op threads (used by ONNX backends; dlib's are
#: single-threaded and ignore it).
DETECTORS: dict[str, Callable[[int], BoxDetector]] = {
    "hog": _hog,
    "cnn": _cnn,
    "yunet": _yunet,
    "ultraface": _ultraface,
    "blazeface": _blazeface,
}

#: The detector name that picks the fastest installed backend (see :func:`make_box_detector`).
AUTO = "auto"


def resolve_detector_name(name: str) -> str:
    """The detector ``name`` stands for: ``"auto"`` is ``"yunet"`` when its model is installed
    (``countenance models pull yunet``, checksum verified), else ``"hog"``; any other name is
    itself. The one place the default detector is decided: every command (and every cache key
    that names a detector) goes through it."""
    if name != AUTO:
        return name
    from .model_registry import installed_model_path

    try:
        installed_model_path("yunet")
    except ModelError:
        return "hog"
    return "yunet"


def make_box_detector(name: str, *, threads: int = 1) -> BoxDetector:
    """Build the detector backend registered as ``name``; ONNX ones use ``threads`` intra-op threads.

    ``"auto"`` builds what :func:`resolve_detector_name` names: ``yunet`` when its model is
    installed, else ``hog``; also ``hog`` when building YuNet fails (logged).
    """
    check_threads(threads)
    if name == AUTO:
        if resolve_detector_name(AUTO) == "hog":
            return _hog(threads)
        try:
            return _yunet(threads)
        except Exception as error:  # noqa: BLE001 - any failure of the optional fast path
            _log.warning("YuNet detector unavailable (%s); using dlib's HOG detector", error)
            return _hog(threads)
    try:
        factory = DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise UnknownBackend(f"unknown detector {name!r}; choose one of {known} or {AUTO!r}") from None
    return factory(threads)


Upsample = int | Literal["auto"]

# HOG finds faces down to ~80 px; one 2x upsample brings that to ~40 px. Upsampling costs
# 4x the time, so "auto" upsamples only images small enough for it to stay cheap.
_AUTO_UPSAMPLE_MAX_SIDE = 1300
_MAX_UPSAMPLED_PIXELS = 16_000_000

# Clockwise rotations tried, in order, when nothing is found upright (90/270 are the
# common sideways phone photos; 180 is rarer).
_FALLBACK_ROTATIONS = (90, 270, 180)

# Faces whose keypoints say they are turned further than this from upright are left to
# the rotation that makes them upright: dlib's landmark predictor needs an upright face,
# and YuNet finds some sideways and upside-down faces (HOG finds none).
_MAX_ROLL_DEGREES = 45.0


class FaceDetector:
    """Detect faces and their 5-point landmarks, with an upsampling and rotation policy.

    Parameters
    ----------
    detector:
        name of a registered backend (``"hog"``, ``"cnn"``, ``"yunet"``), ``"auto"`` (yunet
        when installed, else hog), or a backend object.
    upsample:
        how many times to double the image before detecting, or ``"auto"``: the backend's own
        policy when it has one (YuNet: no upsampling; it picks its working sizes itself), else
        once for images whose longer side is at most 1300 px, else not; and one level more
        when nothing is found, as long as the upsampled image stays under 16 MP.
    try_rotations:
        when no face is found upright, try the image turned 90, 270 and 180 degrees and keep
        the first rotation that finds a face (``Face.rotation`` says which). For a backend
        with a ``confident_score`` (YuNet, which finds some upside-down faces as upright ones
        with low scores), a low-scoring upright result also makes it try the rotations, and
        the first one that finds a face scoring at least ``confident_score`` wins; if none
        does, the upright faces are kept, or when there were none, the rotation whose best
        face scored highest.
        Faces whose keypoints show them turned more than 45 degrees from upright (in-plane)
        are not reported from the orientation that found them, only from one that makes
        them upright.
    threads:
        intra-op threads of an ONNX backend built from a name.
    landmarker:
        what places each face's 5 ``landmarks``; default :func:`default_landmarker` (dlib's
        5-point predictor). One landmarker object must not be shared by two threads.

    Every face gets 5-point ``landmarks`` (the landmarker runs on the backend's
    ``landmark_box``); ``keypoints`` are set when the backend gives them (YuNet). Boxes,
    landmarks and keypoints are in the coordinates of the image as given, whatever rotation
    found the face.
    """

    def __init__(
        self,
        detector: str | BoxDetector = "hog",
        *,
        upsample: Upsample = "auto",
        try_rotations: bool = True,
        threads: int = 1,
        landmarker: Landmarker | None = None,
    ) -> None:
        if upsample != "auto" and (
            isinstance(upsample, bool) or not isinstance(upsample, int) or upsample < 0 or upsample > 3
        ):
            raise InvalidArgument(f"upsample must be 'auto' or an int in 0..3, got {upsample!r}")
        self.backend = make_box_detector(detector, threads=threads) if isinstance(detector, str) else detector
        self.upsample = upsample
        self.try_rotations = try_rotations
        self.landmarker = default_landmarker() if landmarker is None else landmarker

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), largest first; empty when there are none.

        :class:`~countenance.errors.InvalidArgument` if ``image`` is not such an array
        (:func:`countenance.image.load_image` turns files, bytes and other arrays into one).
        """
        _check_image(image)
        found = self._detect_upright(image)
        rotation = 0
        if self.try_rotations and not self._confident(found):
            best_guess: tuple[int, list[Detection]] | None = None  # for when nothing is found upright
            for degrees in _FALLBACK_ROTATIONS:
                turned_found = self._detect_upright(rotate_image(image, degrees))
                if self._confident(turned_found):
                    found, rotation = turned_found, degrees
                    break
                if turned_found and (best_guess is None or _best_score(turned_found) > _best_score(best_guess[1])):
                    best_guess = (degrees, turned_found)
            else:
                if not found and best_guess is not None:
                    rotation, found = best_guess
        faces = []
        turned = rotate_image(image, rotation) if rotation else image
        for item in found:
            points = self.landmarker.landmarks(turned, item.landmark_box or item.box)
            keypoints = item.keypoints
            faces.append(
                Face(
                    box=unrotate_box(item.box, rotation, image.shape),
                    detection_score=item.score,
                    landmarks=unrotate_points(points, rotation, image.shape),
                    keypoints=None if keypoints is None else unrotate_points(keypoints, rotation, image.shape),
                    rotation=rotation,
                    detector=self.backend.name,
                )
            )
        faces.sort(key=lambda face: face.box.area, reverse=True)
        return faces

    def _confident(self, found: list[Detection]) -> bool:
        """Whether ``found`` settles the orientation: any face for backends without a
        ``confident_score``, else a face scoring at least that."""
        if not found:
            return False
        confident_score = getattr(self.backend, "confident_score", None)
        return confident_score is None or _best_score(found) >= confident_score

    def _levels(self, image: np.ndarray) -> list[int]:
        if self.upsample != "auto":
            return [int(self.upsample)]
        height, width = image.shape[:2]
        policy = getattr(self.backend, "auto_upsample_levels", None)
        if policy is not None:
            return list(policy(height, width))
        first = 1 if max(height, width) <= _AUTO_UPSAMPLE_MAX_SIDE else 0
        levels = [first]
        if height * width * 4 ** (first + 1) <= _MAX_UPSAMPLED_PIXELS:
            levels.append(first + 1)
        return levels

    def _detect_upright(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        for level in self._levels(image):
            found = [replace(d, box=d.box.clipped(width, height)) for d in self.backend.detect(image, level)]
            found = [d for d in found if d.box.area > 0 and _roughly_upright(d.keypoints)]
            if found:
                return found
        return []


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise InvalidArgument(f"image must be a numpy array, got {type(image).__name__}; load files with load_image")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidArgument(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidArgument(f"image has no pixels (shape {image.shape})")


def _best_score(found: list[Detection]) -> float:
    return max((d.score for d in found), default=float("-inf"))


def _roughly_upright(keypoints: np.ndarray | None) -> bool:
    """Whether keypoints (ArcFace order) show a face within 45 degrees of upright; True without keypoints."""
    if keypoints is None:
        return True
    eyes = (keypoints[0] + keypoints[1]) / 2.0
    mouth = (keypoints[3] + keypoints[4]) / 2.0
    down_x, down_y = float(mouth[0] - eyes[0]), float(mouth[1] - eyes[1])
    return down_y > 0 and abs(np.degrees(np.arctan2(down_x, down_y))) <= _MAX_ROLL_DEGREES


def largest_face(faces: list[Face]) -> Face | None:
    """The face with the largest box area, or None for an empty list (ties: the first)."""
    return max(faces, key=lambda face: face.box.area, default=None)


def central_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The face whose box centre is nearest the image centre (LFW's convention), or None."""
    cx, cy = width / 2.0, height / 2.0
    return min(
        faces,
        key=lambda f: (f.box.center[0] - cx) ** 2 + (f.box.center[1] - cy) ** 2,
        default=None,
    )
