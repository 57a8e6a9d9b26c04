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

The cache: one ``.npz`` per pipeline, variant and choice rule under ``cache_dir``, keyed by the
image's name (its path relative to the image root), written after every chunk so an
interrupted run resumes. Vectors are float32 ``(N, D)``; NaN rows mark images without a face.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CountenanceError, InvalidArgument
from .choice import PipelineChoice

__all__ = ["Variant", "FaceRecord", "apply_variant", "embed_variant", "reembed", "VARIANT_KINDS"]

#: Bumped whenever the way templates are made changes (invalidates the cache).
TEMPLATES_VERSION = 1

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


@dataclass(frozen=True, eq=False)
class FaceRecord:
    """The face used for one image: ``vector`` (D,) float32 or None; ``how`` is ``detected``,
    ``centre-box`` (LFW's fixed box), ``anchor`` (the detector missed the changed face) or
    ``failed``; ``box`` (left, top, right, bottom) and ``landmarks`` (5, 2) in the pixels of the
    image the pipeline saw; ``iod_px`` its inter-ocular distance there (0 when failed)."""

    name: str
    vector: np.ndarray | None
    how: str
    box: np.ndarray
    landmarks: np.ndarray
    iod_px: float
    error: str = ""


@dataclass(frozen=True)
class _Job:
    path: str
    name: str
    anchor_box: tuple[float, float, float, float] | None
    anchor_landmarks: tuple[tuple[float, float], ...] | None


@dataclass(frozen=True)
class _Config:
    choice: PipelineChoice
    variant: Variant
    choose: str


_state: dict[str, Any] = {}


def _init(config: _Config) -> None:
    from .choice import build_embedder, build_face_detector

    _state["config"] = config
    _state["detector"] = build_face_detector(config.choice)
    _state["embedder"] = build_embedder(config.choice)


def _failed(name: str, error: str) -> FaceRecord:
    return FaceRecord(name, None, "failed", np.zeros(4, np.float32), np.zeros((5, 2), np.float32), 0.0, error)


def _embed_job(job: _Job) -> FaceRecord:
    from ..embedding import embed_faces
    from ..evaluate import LFW_CENTRE_BOX, central_subject
    from ..faces import Box, Face
    from ..image import load_image
    from .face_frame import inter_ocular_px

    config: _Config = _state["config"]
    detector, embedder = _state["detector"], _state["embedder"]
    try:
        pixels = load_image(job.path)
    except CountenanceError as error:
        return _failed(job.name, str(error))
    how = "detected"
    if config.variant.kind == "clean":
        height, width = pixels.shape[:2]
        faces = detector.detect(pixels)
        if config.choose == "central":
            face = central_subject(faces, width, height)
            if face is None:
                box = Box(*LFW_CENTRE_BOX)
                face = Face(box=box, detection_score=0.0, landmarks=detector.landmarker.landmarks(pixels, box))
                how = "centre-box"
        else:
            face = max(faces, key=lambda f: f.box.area, default=None)
        if face is None:
            return _failed(job.name, "no face found")
    else:
        if job.anchor_box is None or job.anchor_landmarks is None:
            return _failed(job.name, "no face in the clean image")
        landmarks = np.array(job.anchor_landmarks, dtype=np.float32)
        pixels, scale = apply_variant(pixels, landmarks, config.variant, job.name)
        anchor = Box(*(v * scale for v in job.anchor_box))
        cx, cy = anchor.center
        near = [f for f in detector.detect(pixels) if np.hypot(f.box.center[0] - cx, f.box.center[1] - cy) <= 0.5 * anchor.width]
        face = min(near, key=lambda f: np.hypot(f.box.center[0] - cx, f.box.center[1] - cy), default=None)
        if face is None:
            face = Face(box=anchor, detection_score=0.0, landmarks=detector.landmarker.landmarks(pixels, anchor))
            how = "anchor"
    vector = embed_faces(embedder, pixels, [face])[0].template.vector
    return FaceRecord(job.name, vector, how, np.array(face.box.to_list(), np.float32), face.landmarks.astype(np.float32),
                      inter_ocular_px(face.landmarks))


def _cache_file(cache_dir: Path, choice: PipelineChoice, variant: Variant, choose: str) -> Path:
    model = f"-{Path(choice.embedder_model).stem}" if choice.embedder_model else ""
    return cache_dir / f"v{TEMPLATES_VERSION}-{choice.name}{model}" / f"{choose}-{variant.key}.npz"


def _read(path: Path) -> dict[str, FaceRecord]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        out = {}
        for name, vector, how, box, landmarks, iod in zip(
            data["names"], data["vectors"], data["how"], data["boxes"], data["landmarks"], data["iod_px"], strict=True
        ):
            out[str(name)] = FaceRecord(str(name), None if np.isnan(vector).any() else vector, str(how), box, landmarks, float(iod))
        return out


def _write(path: Path, records: dict[str, FaceRecord], dimension: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(records)
    empty = np.full(dimension, np.nan, np.float32)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        names=np.array(names),
        vectors=np.stack([records[n].vector if records[n].vector is not None else empty for n in names]).astype(np.float32),
        how=np.array([records[n].how for n in names]),
        boxes=np.stack([records[n].box for n in names]).astype(np.float32),
        landmarks=np.stack([records[n].landmarks for n in names]).astype(np.float32),
        iod_px=np.array([records[n].iod_px for n in names], np.float64),
    )
    os.replace(tmp, path)


def embed_variant(
    root: str | os.PathLike[str],
    names: Sequence[str],
    choice: PipelineChoice,
    variant: Variant,
    *,
    cache_dir: str | os.PathLike[str],
    anchors: dict[str, FaceRecord] | None = None,
    choose: str = "central",
    workers: int = 1,
    chunk: int = 200,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, FaceRecord]:
    """A :class:`FaceRecord` for each image ``root/name`` under ``variant``, from cache or computed.

    ``anchors`` are the clean records (required for any variant but ``clean``). ``workers``
    processes (one pipeline each); ``on_progress(n)`` after each batch of n images.
    """
    from ..ingest import process_map

    if choose not in ("central", "largest"):
        raise InvalidArgument(f"choose must be 'central' or 'largest', got {choose!r}")
    if variant.kind != "clean" and anchors is None:
        raise InvalidArgument(f"variant {variant.key} needs the clean records as anchors")
    base = Path(root)
    path = _cache_file(Path(cache_dir), choice, variant, choose)
    done = _read(path)
    todo = [n for n in dict.fromkeys(names) if n not in done]
    if on_progress and len(todo) < len(names):
        on_progress(len(names) - len(todo))
    dimension = next((r.vector.size for r in done.values() if r.vector is not None), 128)
    for start in range(0, len(todo), chunk):
        jobs = []
        for name in todo[start : start + chunk]:
            anchor = anchors.get(name) if anchors is not None else None
            ok = anchor is not None and anchor.vector is not None
            jobs.append(_Job(
                str(base / name), name,
                tuple(float(v) for v in anchor.box) if ok else None,
                tuple((float(x), float(y)) for x, y in anchor.landmarks) if ok else None,
            ))
        config = _Config(choice, variant, choose)
        for record in process_map(_embed_job, jobs, workers=workers, initializer=_init, initargs=(config,),
                                  chunk=16, on_progress=on_progress):
            done[record.name] = record
            if record.vector is not None:
                dimension = record.vector.size
        _write(path, done, dimension)
    return {n: done[n] for n in names}


def reembed(
    root: str | os.PathLike[str],
    records: dict[str, FaceRecord],
    choice: PipelineChoice,
    *,
    cache_dir: str | os.PathLike[str],
    choose: str = "central",
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, FaceRecord]:
    """The faces of clean ``records`` (same boxes and landmarks) embedded by ``choice``'s embedder.

    For a pipeline that differs from the one that made ``records`` only in its embedder's
    numeric precision (``dlib-onnx-int8`` against ``dlib-onnx``): the detection would be
    identical, so it is not run again. Cached like :func:`embed_variant`.
    """
    from ..faces import Box, Face
    from ..image import load_image
    from .choice import build_embedder

    path = _cache_file(Path(cache_dir), choice, Variant("clean"), choose)
    done = _read(path)
    todo = [n for n in records if n not in done]
    if todo:
        embedder = build_embedder(choice)
        for k, name in enumerate(todo):
            record = records[name]
            if record.vector is None:
                done[name] = record
                continue
            face = Face(box=Box(*(float(v) for v in record.box)), detection_score=0.0, landmarks=record.landmarks)
            vector = embedder.embed(load_image(Path(root) / name), [face])[0]
            done[name] = FaceRecord(name, vector, record.how, record.box, record.landmarks, record.iod_px)
            if on_progress and (k + 1) % 100 == 0:
                on_progress(100)
        _write(path, done, embedder.spec.embedding_size)
    return {n: done[n] for n in records}
