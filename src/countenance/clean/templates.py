"""Templates and perceptual hashes of every photo of a data set, computed once and cached.

Each photo is decoded once in a worker process (one :class:`~countenance.Pipeline` per
worker, as :mod:`countenance.ingest` does) and gives a :class:`PhotoFaces`: every face with
its box, its template, and a small grey crop aligned on its landmarks (upright, the face at a
fixed scale, with some of its surroundings) as a perceptual hash and a 16x16 thumbnail. An
aligned crop is the same whether the photo was cropped or resized, which a hash of the whole
image is not.
Results are cached in SQLite keyed by the file's sha256 (:mod:`countenance.hashing`) and the
pipeline's fingerprint (:attr:`countenance.pipeline.PipelineConfig.fingerprint`): renaming or moving a file keeps its cache
entry, editing it does not, and a re-run with other thresholds decodes nothing.

The cache holds face templates, which are biometric data: it lives under the user's cache
folder (:func:`countenance.paths.cache_dir`) unless a folder is given, and
``use_cache=False`` writes nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CountenanceError, InvalidArgument
from ..faces import Box
from ..hashing import sha256_file
from ..ingest import process_map
from ..pipeline import PipelineConfig
from .dataset import Photo

__all__ = ["FaceRecord", "PhotoFaces", "TemplateOptions", "TemplateCache", "TemplateRun", "compute_templates",
           "default_cache_path"]

_SCHEMA_VERSION = 2
#: The aligned crop: ``_CROP_PX`` square, spanning ``_CROP_SPAN`` eye distances.
_CROP_PX = 64
_CROP_SPAN = 4.0
THUMBNAIL_PX = 16


@dataclass(frozen=True, eq=False)
class FaceRecord:
    """One face of a photo: ``box`` in pixels, ``vector`` ``(D,) float32`` (the template),
    ``face_hash`` the 64-bit perceptual hash (DCT, imagehash.phash) of the aligned grey crop
    as 16 hex digits, ``thumbnail`` that crop at ``(16, 16) uint8``."""

    box: Box
    detection_score: float
    vector: np.ndarray
    face_hash: str
    thumbnail: np.ndarray


@dataclass(frozen=True, eq=False)
class PhotoFaces:
    """Everything computed for one photo: its faces (largest first), size, or the error.

    ``model`` names the template model ("" when no face was embedded).
    """

    photo: Photo
    sha256: str
    faces: tuple[FaceRecord, ...]
    width_px: int
    height_px: int
    model: str = ""
    error: str | None = None


@dataclass(frozen=True)
class TemplateOptions:
    """How templates are made: the pipeline, in ``workers`` processes."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    workers: int = 2

    def cache_key(self) -> str:
        """The pipeline part of the cache key (its fingerprint: ``auto`` resolved)."""
        return f"v{_SCHEMA_VERSION};{self.pipeline.fingerprint}"


def default_cache_path() -> Path:
    """``<cache_dir>/clean/templates.sqlite`` (see :func:`countenance.paths.cache_dir`)."""
    from ..paths import cache_dir

    return cache_dir() / "clean" / "templates.sqlite"


class TemplateCache:
    """A SQLite table of :class:`PhotoFaces` keyed by (file sha256, pipeline key). Not thread-safe."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            if self._db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                # An older layout: its entries are rebuildable, so start again.
                self._db.execute("DROP TABLE IF EXISTS photos")
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS photos (sha256 TEXT NOT NULL, pipeline TEXT NOT NULL, "
                "width INTEGER, height INTEGER, model TEXT, error TEXT, faces TEXT, "
                "vectors BLOB, thumbnails BLOB, PRIMARY KEY (sha256, pipeline))"
            )
        except sqlite3.DatabaseError as error:
            raise CountenanceError(f"{self.path}: cannot use as a template cache ({error})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TemplateCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, photo: Photo, sha256: str, pipeline: str) -> PhotoFaces | None:
        row = self._db.execute(
            "SELECT width, height, model, error, faces, vectors, thumbnails FROM photos WHERE sha256=? AND pipeline=?",
            (sha256, pipeline),
        ).fetchone()
        if row is None:
            return None
        width, height, model, error, faces_json, blob, thumbs = row
        faces_meta = json.loads(faces_json)
        count = len(faces_meta)
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(count, -1) if count else np.zeros((0, 0))
        thumbnails = np.frombuffer(thumbs, dtype=np.uint8).reshape(count, THUMBNAIL_PX, THUMBNAIL_PX) if count else None
        faces = tuple(
            FaceRecord(Box(*meta[:4]), float(meta[4]), vectors[i].copy(), str(meta[5]), thumbnails[i].copy())
            for i, meta in enumerate(faces_meta)
        )
        return PhotoFaces(photo, sha256, faces, int(width), int(height), model or "", error)

    def put(self, record: PhotoFaces, pipeline: str) -> None:
        faces_json = json.dumps([[*f.box.to_list(), f.detection_score, f.face_hash] for f in record.faces])
        blob = np.stack([f.vector for f in record.faces]).astype(np.float32).tobytes() if record.faces else b""
        thumbs = np.stack([f.thumbnail for f in record.faces]).astype(np.uint8).tobytes() if record.faces else b""
        self._db.execute(
            "INSERT OR REPLACE INTO photos VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.sha256, pipeline, record.width_px, record.height_px, record.model,
             record.error, faces_json, blob, thumbs),
        )

    def commit(self) -> None:
        self._db.commit()


@dataclass(frozen=True, eq=False)
class TemplateRun:
    """The photos' records in the data set's order, and how many came from the cache."""

    records: tuple[PhotoFaces, ...]
    cache_hits: int
    computed: int
    seconds: float


# Per worker process: its pipeline (the pattern of countenance.ingest).
_worker: dict[str, Any] = {}


def _init_worker(config: PipelineConfig) -> None:
    _worker["pipeline"] = config.build()


def aligned_crop(grey: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A ``(64, 64) uint8`` crop of ``grey`` (H, W) turned so the eyes are level, centred on the
    mean of dlib's 5 landmarks ``(5, 2)`` (x, y px; points 0-1 one eye, 2-3 the other), and
    spanning 4 eye distances: the face and a margin of its surroundings."""
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    centre = points.mean(0)
    eye_line = points[0:2].mean(0) - points[2:4].mean(0)
    eye_distance = max(float(np.hypot(*eye_line)), 1.0)
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, _CROP_PX / (_CROP_SPAN * eye_distance))
    matrix[:, 2] += _CROP_PX / 2.0 - centre
    return cv2.warpAffine(grey, matrix, (_CROP_PX, _CROP_PX), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _crop_signature(crop: np.ndarray) -> tuple[str, np.ndarray]:
    import cv2
    import imagehash
    from PIL import Image

    thumbnail = cv2.resize(crop, (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA)
    return str(imagehash.phash(Image.fromarray(crop))), thumbnail


def _process(path: str) -> tuple[str, list[tuple[list[float], float, np.ndarray, str, np.ndarray]], int, int, str, str | None]:
    """(path, faces, width, height, model, error) for one file, in a worker."""
    import cv2

    pipeline = _worker["pipeline"]
    try:
        pixels = pipeline.load(path)
        faces = pipeline.embed(pixels)
    except CountenanceError as error:
        return path, [], 0, 0, "", str(error)
    height, width = pixels.shape[:2]
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    out = []
    model = ""
    for face in faces:
        if face.template is None or face.landmarks is None:
            continue
        model = face.template.model
        face_hash, thumbnail = _crop_signature(aligned_crop(grey, face.landmarks))
        out.append((face.box.to_list(), float(face.detection_score), face.template.vector, face_hash, thumbnail))
    return path, out, width, height, model, None


def compute_templates(
    photos: Sequence[Photo],
    options: TemplateOptions,
    *,
    cache: TemplateCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TemplateRun:
    """A :class:`PhotoFaces` for every photo, from ``cache`` when it holds one, else computed
    in ``options.workers`` processes (and stored in ``cache``). ``progress(done, total)`` is
    called as photos are done. Unreadable files give a record with ``error`` set."""
    import time

    if options.workers < 1:
        raise InvalidArgument(f"workers must be at least 1, got {options.workers}")
    start = time.perf_counter()
    key = options.cache_key()
    digests = [sha256_file(photo.path) for photo in photos]
    records: list[PhotoFaces | None] = [None] * len(photos)
    missing: dict[str, list[int]] = {}
    for i, (photo, digest) in enumerate(zip(photos, digests)):
        cached = cache.get(photo, digest, key) if cache is not None else None
        if cached is not None:
            records[i] = cached
        else:
            missing.setdefault(digest, []).append(i)  # identical files are computed once
    hits = len(photos) - sum(len(v) for v in missing.values())
    done = hits
    if progress:
        progress(done, len(photos))

    def advance(count: int) -> None:
        nonlocal done
        done += count  # per file computed; identical copies finish with it
        done = min(done, len(photos))
        if progress:
            progress(done, len(photos))

    if missing:
        path_digest = {str(photos[indexes[0]].path): digest for digest, indexes in missing.items()}
        results = process_map(
            _process, list(path_digest), workers=min(options.workers, len(missing)), initializer=_init_worker,
            initargs=(options.pipeline,), on_progress=advance,
        )
        for path, faces, width, height, model, error in results:
            for i in missing[path_digest[path]]:
                record = PhotoFaces(
                    photos[i], digests[i],
                    tuple(FaceRecord(Box(*box), score, np.asarray(vector, np.float32), face_hash, thumbnail)
                          for box, score, vector, face_hash, thumbnail in faces),
                    width, height, model, error,
                )
                records[i] = record
                if cache is not None:
                    cache.put(record, key)
        if cache is not None:
            cache.commit()
    return TemplateRun(tuple(r for r in records if r is not None), hits, len(photos) - hits,
                       time.perf_counter() - start)
