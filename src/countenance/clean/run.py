"""``clean_dataset``: read a folder-per-person data set, compute (or load) templates, run the checks.

The entry point a CLI command (``countenance clean DATASET``) calls; nothing is moved or
deleted here (see :mod:`countenance.clean.apply`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..calibration.cuts import cuts_for
from ..errors import CalibrationMissing, InvalidArgument
from .dataset import read_dataset
from .findings import UNREADABLE, Finding
from .identity import IdentityOptions, check_identities, cut_from_calibration
from .near_duplicates import HashedItem, NearDuplicateOptions, find_near_duplicates
from .report import CleanReport
from ..pipeline import PipelineConfig
from .templates import PhotoFaces, TemplateCache, TemplateOptions, compute_templates, default_cache_path

__all__ = ["CleanOptions", "clean_dataset", "check_records", "CheckedRecords"]


@dataclass(frozen=True)
class CleanOptions:
    """Settings of :func:`clean_dataset` (the shipped defaults were tuned on LFW, see README).

    Templates: made by ``pipeline`` (:class:`~countenance.pipeline.PipelineConfig`) in
    ``workers`` processes; cached in
    ``cache_path`` (default :func:`~countenance.ingest.default_cache_path`) unless
    ``use_cache`` is false.

    Checks: the pair cut is the distance at stranger false-match rate ``cut_fmr`` in the
    model's calibration (installed or shipped), or ``cut_distance`` when given (then ``metric``
    names the model's metric). ``ambiguity_margin``, ``duplicate_centre_distance``,
    ``mislabel_margin`` and the near duplicates' ``template_distance`` are in dlib-resnet-v1's
    units, where they were measured; with the cut from a calibration they are carried to the
    model's (:mod:`countenance.calibration.cuts`), with ``cut_distance`` they are used as given.
    A photo beyond its folder's cut is a ``mislabel`` only when another folder is ``mislabel_margin`` closer and within the distance at stranger FMR
    ``agree_fmr`` (or ``agree_distance``; with ``cut_distance`` given and no
    ``agree_distance``, the cut), else an ``outlier``; see
    :class:`~countenance.clean.identity.IdentityOptions` and
    :class:`~countenance.clean.near_duplicates.NearDuplicateOptions` for the rest.
    """

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    workers: int = 2
    cache_path: Path | None = None
    use_cache: bool = True
    cut_fmr: float = 0.01
    cut_distance: float | None = None
    metric: str = "euclidean"
    ambiguity_margin: float = 0.06
    min_photos: int = 3
    duplicate_centre_distance: float = 0.45
    duplicate_within_ratio: float = 1.1
    mislabel_margin: float | None = 0.1
    agree_fmr: float = 0.03
    agree_distance: float | None = None
    near_duplicates: NearDuplicateOptions = field(default_factory=NearDuplicateOptions)

    def template_options(self) -> TemplateOptions:
        return TemplateOptions(self.pipeline, self.workers)


def clean_dataset(
    root: str | os.PathLike[str],
    options: CleanOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CleanReport:
    """Check the folder-per-person data set at ``root``; ``progress(done, total)`` follows the
    template computation (photos). Raises InvalidArgument for a root that is not a data set."""
    options = options or CleanOptions()
    dataset = read_dataset(root)
    template_options = options.template_options()
    if options.use_cache:
        with TemplateCache(options.cache_path or default_cache_path()) as cache:
            run = compute_templates(dataset.photos, template_options, cache=cache, progress=progress)
    else:
        run = compute_templates(dataset.photos, template_options, progress=progress)
    report = check_records(run.records, options)
    return CleanReport(
        root=str(dataset.root), photos=len(dataset.photos), labels=len(dataset.labels), model=report.model,
        detector=options.pipeline.resolved().detector, metric=report.metric, cut_distance=report.cut_distance,
        cut_fmr=report.cut_fmr, findings=report.findings, chosen_faces=report.chosen_faces, records=run.records, cache_hits=run.cache_hits,
        computed=run.computed, template_seconds=run.seconds, check_seconds=report.check_seconds,
    )


@dataclass(frozen=True, eq=False)
class CheckedRecords:
    """What :func:`check_records` found: the model and cut used, the findings, and the face
    taken as the labelled person in each photo (photo path -> face index, -1 for none)."""

    model: str
    metric: str
    cut_distance: float
    cut_fmr: float | None
    findings: tuple[Finding, ...]
    chosen_faces: dict[str, int]
    check_seconds: float


def check_records(records: tuple[PhotoFaces, ...] | list[PhotoFaces], options: CleanOptions) -> CheckedRecords:
    """The checks over already-computed photo records (only the photos of near-duplicate candidates
    are read again, to compare the whole pictures). Cheap: a re-run with
    other thresholds calls only this."""
    start = time.perf_counter()
    models = sorted({r.model for r in records if r.model})
    if len(models) > 1:
        raise InvalidArgument(f"templates of several models cannot be checked together: {', '.join(models)}")
    model = models[0] if models else ""
    metric, cut_fmr = options.metric, None
    agree = options.agree_distance
    cuts = None  # with the cut from a calibration: dlib's margins carried to the model
    if options.cut_distance is not None:
        cut = float(options.cut_distance)
        agree = cut if agree is None else agree
    else:
        from ..calibration import load_calibration

        calibration = load_calibration(model) if model else None
        if model and calibration is None:
            raise CalibrationMissing(model)
        cut = cut_from_calibration(model, options.cut_fmr) if model else 1.0
        if agree is None:
            agree = max(cut_from_calibration(model, options.agree_fmr), cut) if model else cut
        metric = calibration.metric if calibration is not None else metric
        cut_fmr = options.cut_fmr
        cuts = cuts_for(model, metric, calibration) if model else None
    identity_options = IdentityOptions(
        cut_distance=cut, metric=metric, ambiguity_margin=options.ambiguity_margin, min_items=options.min_photos,
        duplicate_centre_distance=options.duplicate_centre_distance,
        duplicate_within_ratio=options.duplicate_within_ratio, mislabel_margin=options.mislabel_margin,
        agree_distance=agree,
    )
    near = options.near_duplicates
    if cuts is not None:
        identity_options = identity_options.carried(cuts)
        near = replace(near, template_distance=cuts.distance(near.template_distance))
    findings: list[Finding] = []
    candidates: dict[str, dict[str, np.ndarray]] = {}
    by_item: dict[str, PhotoFaces] = {}
    for record in records:
        item = record.photo.relpath
        by_item[item] = record
        if record.error is not None:
            findings.append(Finding(UNREADABLE, 1.0, record.error, (item,), (record.photo.label,), (-1,)))
            continue
        vectors = np.stack([f.vector for f in record.faces]) if record.faces else np.zeros((0, 1), np.float32)
        candidates.setdefault(record.photo.label, {})[item] = vectors
    identities = check_identities(candidates, identity_options)
    findings += identities.findings
    hashed = []
    for item, face_index in identities.chosen_face.items():
        if face_index < 0:
            continue
        record = by_item[item]
        face = record.faces[face_index]
        hashed.append(HashedItem(item, record.photo.label, face.vector, face.extras["face_hash"], face.extras["thumbnail"],
                                 record.width_px * record.height_px, face_index, str(record.photo.path)))
    findings += find_near_duplicates(hashed, near, metric=metric)
    return CheckedRecords(model, metric, cut, cut_fmr, tuple(findings), dict(identities.chosen_face),
                          time.perf_counter() - start)

