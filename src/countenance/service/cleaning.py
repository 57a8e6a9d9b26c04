"""Clean a folder-per-person data set: mislabelled photos, duplicate identities, near-duplicates;
and the same identity checks on a gallery's enrolled people or a photo library's named people.

The checks live in :mod:`countenance.clean`; these use cases build their options from the shared
pipeline options and write what the caller asked for (HTML report, manifest, cleaned copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..clean import CleanOptions, Finding, IdentityOptions, check_identities, cut_from_calibration
from ..clean.entry import CleanOutcome, clean_command
from ..calibration.cuts import cuts_for
from ..errors import CalibrationMissing, InvalidArgument
from ..image import iter_image_files
from .aligned_input import AlignedInput, resolve_aligned
from .library import LibraryOptions
from .options import GalleryOptions, PipelineOptions
from .path_args import existing_folder, writable_folder

__all__ = ["CleanDatasetOptions", "clean_dataset", "IdentityCheckOptions", "IdentityReport", "check_gallery",
           "check_library"]


@dataclass(frozen=True)
class CleanDatasetOptions:
    """``dataset``: one folder per person. ``report`` / ``manifest`` / ``apply_to``: where to
    write the HTML report, the manifest CSV and a cleaned copy (None: not written; nothing in
    the data set is ever moved or deleted). ``workers``: embedding processes."""

    dataset: Path
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    workers: int = 2
    report: Path | None = None
    manifest: Path | None = None
    apply_to: Path | None = None
    use_cache: bool = True


def clean_dataset(options: CleanDatasetOptions, *, progress: Callable[[int, int], None] | None = None,
                  on_aligned: Callable[[AlignedInput], None] | None = None) -> CleanOutcome:
    """Run every check on ``options.dataset`` with the shipped defaults; see :class:`CleanOutcome`.

    Every path is checked before any photo is read (InvalidArgument naming the option).
    ``on_aligned`` is told whether the photos are taken as aligned crops (``--aligned``)."""
    existing_folder(options.dataset, "DATASET")
    if options.report is not None:
        writable_folder(options.report.parent, "--report", create=True)
    if options.manifest is not None:
        writable_folder(options.manifest.parent, "--manifest", create=True)
    if options.apply_to is not None:
        writable_folder(options.apply_to, "--apply")
    aligned = resolve_aligned(options.pipeline, iter_image_files(options.dataset))
    if on_aligned:
        on_aligned(aligned)
    checks = replace(CleanOptions(), pipeline=aligned.pipeline.config(), workers=options.workers,
                     use_cache=options.use_cache)
    return clean_command(options.dataset, options=checks, html_path=options.report, manifest_path=options.manifest,
                         apply_to=options.apply_to, progress=progress)


# ------------------------------------------------------------ identity checks on a gallery or a library


@dataclass(frozen=True)
class IdentityCheckOptions:
    """The dataset-cleaning identity checks (:func:`countenance.clean.check_identities`) on
    enrolled or named people: the pair cut at stranger false-match rate ``cut_fmr`` in the
    model's shipped calibration, or ``cut_distance`` (in the model's metric); people with fewer
    than ``min_items`` templates or faces are not judged (but still compared for duplicates)."""

    cut_fmr: float = 0.01
    cut_distance: float | None = None
    min_items: int = 3


@dataclass(frozen=True)
class IdentityReport:
    """What the checks found among ``labels`` people and their ``items`` templates (a gallery:
    ``template:<id>``) or faces (a library: ``face:<id>``), with the model and cut used."""

    source: str
    path: Path
    model: str
    cut_distance: float
    labels: int
    items: int
    findings: tuple[Finding, ...]
    not_judged: tuple[tuple[str, int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "path": str(self.path), "model": self.model,
                "cut_distance": round(self.cut_distance, 6), "labels": self.labels, "items": self.items,
                "findings": [f.to_dict() for f in self.findings],
                "not_judged": [{"label": label, "items": n, "why": why} for label, n, why in self.not_judged]}


def _not_judged(templates: dict[str, dict[str, np.ndarray]], min_items: int) -> tuple[tuple[str, int, str], ...]:
    """``(person, items, why)`` for each person the checks could not fully judge: with one item
    nothing (no mislabel check, no comparison for a second name); with fewer than
    ``min_items`` no mislabel check (still compared for a second name)."""
    out = []
    for label, items in sorted(templates.items()):
        n = len(items)
        if n < 2:
            out.append((label, n, "one template: not checked for a wrong photo, nor compared for being enrolled under two names"))
        elif n < min_items:
            out.append((label, n, f"{n} templates: compared for two names, too few (< {min_items}) to check for a wrong photo"))
    return tuple(out)


def _check(source: str, path: Path, model: str, templates: dict[str, dict[str, np.ndarray]],
           options: IdentityCheckOptions) -> IdentityReport:
    from ..calibration import load_calibration

    calibration = load_calibration(model) if model else None
    metric = calibration.metric if calibration is not None else "euclidean"
    if options.cut_distance is not None:
        cut = float(options.cut_distance)
    elif calibration is None:
        raise CalibrationMissing(model)
    else:
        cut = cut_from_calibration(model, options.cut_fmr)
    identity = IdentityOptions(cut_distance=cut, metric=metric, min_items=options.min_items)
    if calibration is not None:  # dlib's margins carried to the model (identity for dlib)
        identity = identity.carried(cuts_for(model, metric, calibration))
    found = check_identities(templates, identity).findings if templates else ()
    return IdentityReport(source, path, model, cut, len(templates), sum(len(v) for v in templates.values()),
                          tuple(found), _not_judged(templates, options.min_items))


def check_gallery(options: GalleryOptions, check: IdentityCheckOptions | None = None) -> IdentityReport:
    """Enrolled templates that disagree with their subject, and subjects enrolled twice."""
    from .gallery import open_gallery

    with open_gallery(options) as gallery:
        by_subject = gallery.subject_templates()
        model, path = gallery.model.name, Path(gallery.path)
    templates = {name: {f"template:{tid}": vector for tid, vector in items.items()} for name, items in by_subject.items()}
    return _check("gallery", path, model, templates, check or IdentityCheckOptions())


def check_library(options: LibraryOptions, check: IdentityCheckOptions | None = None) -> IdentityReport:
    """Faces of the library's named people that disagree with the rest of the person, and
    two names that hold the same person."""
    from .library import open_library

    with open_library(options) as library:
        names = {pid: name for pid, name, _, _ in library.store.persons() if name is not None}
        templates: dict[str, dict[str, np.ndarray]] = {}
        models: set[str] = set()
        for face_id, (person_id, _) in library.store.assignments().items():
            if person_id in names:
                face = library.store.face(face_id)
                templates.setdefault(names[person_id], {})[f"face:{face_id}"] = face.template
                models.add(face.model)
        path = library.store.path.parent
    if len(models) > 1:
        raise InvalidArgument(f"faces of several models cannot be checked together: {', '.join(sorted(models))}")
    return _check("library", path, next(iter(models), ""), templates, check or IdentityCheckOptions())
