"""Templates of images as given and of their degraded or masked variants, cached on disk.

A *variant* changes an image before the pipeline sees it (:class:`Variant`: downscaled to an
inter-ocular distance, blurred, JPEG-compressed, occluded, masked). It is placed from the face
found in the clean image (its *anchor*), so each variant needs the clean pass first. On the
variant the whole pipeline runs again (detection included: a real probe gets no help); when
the detector finds no face near the anchor, dlib's landmarks are placed in the anchor's box
(scaled with the image) and the face is embedded anyway, with ``how="anchor"``, so that
recognition is measured apart from detection (the detection rate is reported separately).

Which face of the clean image: ``choose="central"`` takes the face nearest the centre within
LFW's tolerance, with LFW's fixed centre box as the fallback (as ``countenance eval lfw`` does,
without its slow CNN retry); ``choose="largest"`` the largest face, no fallback.

Images go through the batch-embedding layer (:mod:`countenance.ingest`) with the choice of
face above as its :class:`VariantChoice`; records are kept in the layer's template cache
(``templates.sqlite`` under ``cache_dir``), keyed by the file's content, the pipeline, the
variant and the choice rule, and committed every few hundred images so an interrupted run
resumes. A record without a face has ``vector`` None.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import CountenanceError, InvalidArgument
from ..ingest import BatchEmbedder, GivenFace, GivenFaces, ImageJob, ImageRecord, TemplateCache, embed_files, steps
from .choice import PipelineChoice, measure_cache_dir
from .condition_pairs import lfw_subset, pair_names

__all__ = ["Variant", "VariantChoice", "apply_variant", "embed_variant", "reembed", "VARIANT_KINDS", "LfwRun", "lfw_run",
           "counted_progress"]

#: What a variant does; ``level`` is the target inter-ocular distance in px (iod), the blur's
#: sigma in inter-ocular distances (blur), the JPEG quality (jpeg), the mask seed (mask).
VARIANT_KINDS = ("clean", "iod", "blur", "jpeg", "occlude-eyes", "occlude-lower", "mask")


@dataclass(frozen=True)
class Variant:
    """One way of changing an image: ``kind`` (see :data:`VARIANT_KINDS`) at ``level``."""

    kind: str = "clean"
    level: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in VARIANT_KINDS:
            raise InvalidArgument(f"variant kind must be one of {', '.join(VARIANT_KINDS)}, got {self.kind!r}")
        if self.kind in ("iod", "blur") and not self.level > 0:
            raise InvalidArgument(f"a {self.kind} variant needs a level > 0, got {self.level!r}")
        if self.kind == "jpeg" and not 1 <= self.level <= 100:
            raise InvalidArgument(f"JPEG quality must lie in 1..100, got {self.level!r}")

    @property
    def key(self) -> str:
        """e.g. ``iod-24``, ``blur-0.1``, ``occlude-eyes``: names the cache and the report row."""
        return self.kind if self.kind in ("clean", "occlude-eyes", "occlude-lower") else f"{self.kind}-{self.level:g}"


def apply_variant(image: np.ndarray, landmarks: np.ndarray, variant: Variant, name: str = "") -> tuple[np.ndarray, float]:
    """``(changed image, scale)`` for the face with dlib 5-point ``landmarks``; ``scale`` is the
    size of the result relative to ``image`` (1.0 except for ``iod``). ``name`` seeds the
    choice of mask style (one fixed style per image and seed)."""
    from . import degrade
    from .masks import choose_style, draw_mask

    kind, level = variant.kind, variant.level
    if kind == "clean":
        return image, 1.0
    if kind == "iod":
        return degrade.downscale_to_iod(image, landmarks, level)
    if kind == "blur":
        return degrade.gaussian_blur(image, landmarks, level), 1.0
    if kind == "jpeg":
        return degrade.jpeg(image, int(level)), 1.0
    if kind == "occlude-eyes":
        return degrade.occlude_eyes(image, landmarks), 1.0
    if kind == "occlude-lower":
        return degrade.occlude_lower_face(image, landmarks), 1.0
    return draw_mask(image, landmarks, choose_style(name, int(level))), 1.0


@dataclass(frozen=True)
class VariantChoice:
    """The face choice of a measurement (a :class:`~countenance.ingest.FaceChoice`): on the clean
    image the central subject (LFW's centre box as the fallback) or the largest face (``rule``); on a
    variant, the image is changed around the job's anchor ``(box, landmarks)`` first, and the
    face the detector finds nearest the anchor is taken, else the anchor itself (``how="anchor"``)."""

    variant: Variant
    rule: str = "central"

    @property
    def key(self) -> str:
        return f"measure-{self.rule}-{self.variant.key}"

    def choose(self, pipeline: Any, pixels: np.ndarray, job: Any) -> tuple[np.ndarray, list[tuple[Any, str]]]:
        from .protocols import LFW_CENTRE_BOX, central_subject
        from ..faces import Box, Face

        detector = pipeline.face_detector
        if self.variant.kind == "clean":
            height, width = pixels.shape[:2]
            faces = detector.detect(pixels)
            if self.rule == "largest":
                face = max(faces, key=lambda f: f.box.area, default=None)
                return pixels, [] if face is None else [(face, "detected")]
            face = central_subject(faces, width, height)
            if face is not None:
                return pixels, [(face, "detected")]
            box = Box(*LFW_CENTRE_BOX)
            return pixels, [(Face(box=box, detection_score=0.0, landmarks=detector.landmarker.landmarks(pixels, box)),
                             "centre-box")]
        if job.context is None:
            raise CountenanceError("no face in the clean image")
        anchor_box, anchor_landmarks = job.context
        pixels, scale = apply_variant(pixels, np.array(anchor_landmarks, dtype=np.float32), self.variant, job.name)
        anchor = Box(*(v * scale for v in anchor_box))
        cx, cy = anchor.center

        def off(face: Any) -> float:
            return float(np.hypot(face.box.center[0] - cx, face.box.center[1] - cy))

        face = min((f for f in detector.detect(pixels) if off(f) <= 0.5 * anchor.width), key=off, default=None)
        if face is None:
            return pixels, [(Face(box=anchor, detection_score=0.0, landmarks=detector.landmarker.landmarks(pixels, anchor)),
                             "anchor")]
        return pixels, [(face, "detected")]



def _anchor(record: ImageRecord | None) -> tuple[tuple[float, ...], list[list[float]]] | None:
    face = None if record is None else record.face
    if face is None or face.landmarks is None:
        return None
    return tuple(float(v) for v in face.box.to_list()), np.asarray(face.landmarks, np.float64).tolist()


def _run(jobs: list[ImageJob], choice: PipelineChoice | BatchEmbedder, face_choice: Any, *,
         cache_dir: str | os.PathLike[str], workers: int, on_progress: Callable[[int], None] | None) -> dict[str, ImageRecord]:
    with TemplateCache(Path(cache_dir) / "templates.sqlite") as cache:
        records, _ = embed_files(jobs, choice, workers=workers, choice=face_choice, cache=cache,
                                 progress=steps(on_progress))
    return {r.name: r for r in records}


class LfwRun(NamedTuple):
    """What an LFW measurement starts from: the images' folder, the pairs of the chosen folds,
    the two image names of each pair (``xs``, ``ys``), every image once (sorted) and the
    template cache folder."""

    root: Path
    pairs: list[Any]
    xs: list[str]
    ys: list[str]
    names: list[str]
    cache: Path


def lfw_run(lfw_dir: str | os.PathLike[str] | None, folds: Sequence[int] | None,
            cache_dir: str | os.PathLike[str] | None) -> LfwRun:
    """The :class:`LfwRun` of LFW in ``lfw_dir`` (default: the shared one) restricted to ``folds``,
    with its templates cached under ``cache_dir`` (default: the user cache's)."""
    root, pairs = lfw_subset(lfw_dir, folds)
    xs, ys = pair_names(pairs, root)
    return LfwRun(root, pairs, xs, ys, sorted(set(xs) | set(ys)), measure_cache_dir(cache_dir))


def counted_progress(on_progress: Callable[[str, int, int], None] | None, step: str,
                     total: int) -> Callable[[int], None]:
    """An ``on_progress(n)`` for :func:`embed_variant` that adds up the images and reports
    ``on_progress(step, done, total)`` (nothing when ``on_progress`` is None)."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(step, done, total)

    return tick


def embed_variant(
    root: str | os.PathLike[str],
    names: Sequence[str],
    choice: PipelineChoice | BatchEmbedder,
    variant: Variant,
    *,
    cache_dir: str | os.PathLike[str],
    anchors: dict[str, ImageRecord] | None = None,
    choose: str = "central",
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, ImageRecord]:
    """An :class:`~countenance.ingest.ImageRecord` for each image ``root/name`` under ``variant``
    (its one face: ``vector``, ``how``, ``face.box``/``face.landmarks``), from the template cache
    under ``cache_dir`` or computed through the batch-embedding layer: a running batch embedder
    (the caller's, reused across variants), or one of ``choice`` in ``workers`` processes.

    ``anchors`` are the clean records (required for any variant but ``clean``);
    ``on_progress(n)`` after each batch of n images.
    """
    if choose not in ("central", "largest"):
        raise InvalidArgument(f"choose must be 'central' or 'largest', got {choose!r}")
    if variant.kind != "clean" and anchors is None:
        raise InvalidArgument(f"variant {variant.key} needs the clean records as anchors")
    base = Path(root)
    jobs = [ImageJob(str(base / name), name, None if anchors is None else _anchor(anchors.get(name)))
            for name in dict.fromkeys(names)]
    found = _run(jobs, choice, VariantChoice(variant, choose), cache_dir=cache_dir, workers=workers,
                 on_progress=on_progress)
    return {n: found[n] for n in names}


def reembed(
    root: str | os.PathLike[str],
    records: dict[str, ImageRecord],
    choice: PipelineChoice,
    *,
    made_by: PipelineChoice,
    cache_dir: str | os.PathLike[str],
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, ImageRecord]:
    """The faces of clean ``records`` (made by ``made_by``; same boxes and landmarks) embedded by
    ``choice``'s embedder.

    For a pipeline that differs from the one that made ``records`` only in its embedder's
    numeric precision (``dlib-onnx-int8`` against ``dlib-onnx``): the detection would be
    identical, so it is not run again. Cached like :func:`embed_variant`.
    """
    base = Path(root)
    jobs = []
    for name, record in records.items():
        face = record.face
        context = None if face is None or face.landmarks is None else (
            GivenFace(tuple(float(v) for v in face.box.to_list()), np.asarray(face.landmarks, np.float32), face.how),)
        jobs.append(ImageJob(str(base / name), name, context))
    found = _run(jobs, choice, GivenFaces(made_by.fingerprint), cache_dir=cache_dir, workers=1,
                 on_progress=on_progress)
    return {n: found[n] for n in records}
