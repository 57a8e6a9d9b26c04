"""The demo job: enrol a folder of people in memory, then name the faces in probe photos.

One folder per person (``people/<name>/*.jpg``): the largest face of each photo becomes a
template labelled with the folder name. Each face of each probe is then given the label of
its nearest template, or "unknown" when that is farther than the model's default threshold
(open set: people who were never enrolled must come out as unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decide import NearestSubject, nearest_subject, resolve_threshold
from .errors import CountenanceError
from .faces import Face
from .image import iter_image_files
from .pipeline import Pipeline

__all__ = ["EnrolledPeople", "enrol_people", "ProbeResult", "identify_probes"]


@dataclass(frozen=True)
class EnrolledPeople:
    """Templates ``(N, D)`` with one label each, and the files that could not be enrolled."""

    templates: np.ndarray
    labels: list[str]
    skipped: list[tuple[str, str]]


@dataclass(frozen=True)
class ProbeResult:
    """One face of one probe photo and who it was taken to be."""

    path: str
    face: Face
    decision: NearestSubject

    @property
    def name(self) -> str:
        return self.decision.label if self.decision.label is not None else self.decision.outcome


def enrol_people(
    people_dir: Path, pipeline: Pipeline, on_image: Callable[[Path], None] | None = None
) -> EnrolledPeople:
    """One template per photo (its largest face) under ``people_dir/<name>/``."""
    vectors, labels, skipped = [], [], []
    for person in sorted(p for p in Path(people_dir).iterdir() if p.is_dir()):
        for path in iter_image_files(person):
            if on_image:
                on_image(path)
            try:
                face = pipeline.embed_largest(path)
            except CountenanceError as error:
                skipped.append((str(path), str(error)))
                continue
            vectors.append(face.template.vector)
            labels.append(person.name)
    size = pipeline.spec.embedding_size
    templates = np.stack(vectors) if vectors else np.zeros((0, size), dtype=np.float32)
    return EnrolledPeople(templates, labels, skipped)


def identify_probes(
    probe_paths: list[Path],
    people: EnrolledPeople,
    pipeline: Pipeline,
    threshold: str | float | None = None,
    on_image: Callable[[Path], None] | None = None,
) -> tuple[list[ProbeResult], list[tuple[str, str]]]:
    """Every face of every probe with its open-set decision, and the probes that failed."""
    value, _ = resolve_threshold(pipeline.spec, threshold)
    results, failed = [], []
    for path in probe_paths:
        if on_image:
            on_image(path)
        try:
            faces = pipeline.embed(path)
        except CountenanceError as error:
            failed.append((str(path), str(error)))
            continue
        for face in faces:
            decision = nearest_subject(
                face.template.vector, people.templates, people.labels, pipeline.spec.metric, value, tie_margin=pipeline.spec.tie_margin)
            results.append(ProbeResult(str(path), face, decision))
    return results, failed
