"""The one template cache: image records in SQLite, keyed by the file's content hash and by what
made them (the pipeline's fingerprint, the face choice, the face stages).

Renaming or moving a file keeps its entry, editing it does not, and a re-run decodes nothing.
:func:`embed_files` is the cached way through a :class:`~countenance.ingest.batch.BatchEmbedder`:
identical files are embedded once, and entries are committed every few hundred images, so an
interrupted run resumes where it stopped.

The cache holds face templates, which are biometric data: it lives under the user's cache
folder (:func:`default_cache_path`) unless a file is given, in a private folder.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CountenanceError
from ..faces import Box
from ..hashing import sha256_file
from .batch import BatchEmbedder, PipelineSource
from .records import FaceRecord, ImageJob, ImageRecord
from .stages import ALL_FACES, FaceChoice, FaceStage

__all__ = ["TemplateCache", "default_cache_path", "cache_key", "embed_files", "steps"]

# The stand-in digest of a file that could not be read to hash it.
_UNREAD = "unread:"

#: Bumped whenever the stored layout or the way records are made changes (old entries are dropped).
SCHEMA_VERSION = 3


def default_cache_path() -> Path:
    """``<cache_dir>/templates.sqlite`` (see :func:`countenance.paths.cache_dir`)."""
    from ..paths import cache_dir

    return cache_dir() / "templates.sqlite"


def cache_key(fingerprint: str, choice: FaceChoice, stages: Sequence[FaceStage]) -> str:
    """What made a record, as a string: the pipeline's fingerprint, the choice and the stages."""
    return f"v{SCHEMA_VERSION};{fingerprint};choice={choice.key};stages={','.join(s.name for s in stages)}"


def _pack(record: ImageRecord) -> tuple[str, bytes]:
    """``(JSON of the scalars, npz of the arrays)`` of ``record`` (path and name left out)."""
    arrays: dict[str, np.ndarray] = {}
    faces = []
    for i, face in enumerate(record.faces):
        arrays[f"vector{i}"] = np.asarray(face.vector, np.float32)
        if face.landmarks is not None:
            arrays[f"landmarks{i}"] = np.asarray(face.landmarks, np.float32)
        scalars = {}
        for name, value in face.extras.items():
            if isinstance(value, np.ndarray):
                arrays[f"extra{i}.{name}"] = value
            else:
                scalars[name] = value
        faces.append({"box": face.box.to_list(), "score": face.detection_score, "model": face.model,
                      "rotation": face.rotation, "how": face.how, "extras": scalars})
    meta = {"width": record.width_px, "height": record.height_px, "orientation": record.orientation,
            "error": record.error, "readable": record.readable, "faces": faces}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps(meta), buffer.getvalue()


def _unpack(meta_json: str, blob: bytes, job: ImageJob, sha256: str) -> ImageRecord:
    meta = json.loads(meta_json)
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    faces = []
    for i, face in enumerate(meta["faces"]):
        extras: dict[str, Any] = dict(face["extras"])
        prefix = f"extra{i}."
        extras.update({name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)})
        faces.append(FaceRecord(Box(*face["box"]), float(face["score"]), arrays[f"vector{i}"], face["model"],
                                arrays.get(f"landmarks{i}"), int(face["rotation"]), face["how"], extras))
    return ImageRecord(job.path, job.name, tuple(faces), int(meta["width"]), int(meta["height"]),
                       int(meta["orientation"]), meta["error"], bool(meta["readable"]), sha256)


class TemplateCache:
    """A SQLite table of image records keyed by (file sha256, :func:`cache_key`). Not thread-safe."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        from ..paths import private_folder

        self.path = Path(path) if path is not None else default_cache_path()
        private_folder(self.path.parent)
        try:
            self._db = sqlite3.connect(self.path)
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                # An older layout: its entries are rebuildable, so start again.
                self._db.execute("DROP TABLE IF EXISTS photos")
                self._db.execute("DROP TABLE IF EXISTS records")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("CREATE TABLE IF NOT EXISTS records (sha256 TEXT NOT NULL, key TEXT NOT NULL, "
                             "meta TEXT NOT NULL, arrays BLOB NOT NULL, PRIMARY KEY (sha256, key))")
        except sqlite3.DatabaseError as error:
            raise CountenanceError(f"{self.path}: cannot use as a template cache ({error})") from None

    def get(self, job: ImageJob, sha256: str, key: str) -> ImageRecord | None:
        row = self._db.execute("SELECT meta, arrays FROM records WHERE sha256=? AND key=?", (sha256, key)).fetchone()
        return None if row is None else _unpack(row[0], row[1], job, sha256)

    def put(self, record: ImageRecord, sha256: str, key: str) -> None:
        meta, blob = _pack(record)
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", (sha256, key, meta, blob))

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def __enter__(self) -> TemplateCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def steps(on_progress: Callable[[int], None] | None) -> Callable[[int, int], None]:
    """``progress(done, total)`` for :func:`embed_files` that tells ``on_progress(n)`` the images
    done since its last call (the callbacks of commands that count up)."""
    done = 0

    def progress(count: int, total: int) -> None:
        nonlocal done
        if on_progress and count > done:
            on_progress(count - done)
        done = count

    return progress


def embed_files(
    jobs: Sequence[ImageJob],
    pipeline: PipelineSource | BatchEmbedder,
    *,
    workers: int = 1,
    choice: FaceChoice = ALL_FACES,
    stages: Sequence[FaceStage] = (),
    cache: TemplateCache | None = None,
    progress: Callable[[int, int], None] | None = None,
    commit_every: int = 200,
) -> tuple[list[ImageRecord], int]:
    """``(a record per job, in order; how many came from the cache)``. Each file is hashed; a
    record in ``cache`` is used as it is, the rest are embedded (identical files once; job
    names must be distinct) and stored. ``pipeline``: a running :class:`BatchEmbedder` (the
    caller's, reused), or what to start one from with ``workers`` processes, only when
    something is missing. ``progress(done, total)`` follows the images."""
    fingerprint = pipeline.fingerprint
    key = cache_key(fingerprint, choice, stages)
    records: list[ImageRecord | None] = [None] * len(jobs)
    missing: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        try:
            digest = sha256_file(job.path)
        except OSError:  # the pipeline's loader says why, as a typed error in the record; nothing cached
            missing[f"{_UNREAD}{i}"] = [i]
            continue
        cached = cache.get(job, digest, key) if cache is not None else None
        if cached is not None:
            records[i] = cached
        else:
            missing.setdefault(digest, []).append(i)  # identical files are computed once
    hits = sum(r is not None and r.sha256 != "" for r in records)
    done = len(jobs) - sum(len(v) for v in missing.values())
    if progress:
        progress(done, len(jobs))
    if not missing:
        return [r for r in records if r is not None], hits
    first = {jobs[indexes[0]].name: digest for digest, indexes in missing.items()}
    own = not isinstance(pipeline, BatchEmbedder)
    embedder = BatchEmbedder(pipeline, workers=min(workers, len(missing))) if own else pipeline
    unsaved, last = 0, time.perf_counter()
    try:
        for record in embedder.embed([jobs[indexes[0]] for indexes in missing.values()], choice=choice, stages=stages):
            digest = first[record.name]
            unread = digest.startswith(_UNREAD)
            for i in missing[digest]:
                records[i] = replace(record, path=jobs[i].path, name=jobs[i].name, sha256="" if unread else digest)
                done += 1
            if cache is not None and not unread:
                cache.put(record, digest, key)
                unsaved += 1
                if unsaved >= commit_every or time.perf_counter() - last > 30:
                    cache.commit()
                    unsaved, last = 0, time.perf_counter()
            if progress:
                progress(done, len(jobs))
    finally:
        if own:
            embedder.close()
        if cache is not None:
            cache.commit()
    return [r for r in records if r is not None], hits
