"""Use case: calibrate a model's identification threshold on your own labelled images.

``calibrate`` embeds each image once (largest face) and builds the table the gallery reads
(:class:`~countenance.calibration.Calibration`, measured by :mod:`countenance.calibration.labelled`):
distance -> FMR from the impostor comparisons and FNMR from the genuine ones, and, given a folder
per person with several images, the effective number of templates of a subject with several
(docs/GALLERY.md). The written file is loaded with :func:`countenance.calibration.load_calibration`
(``path=``) and given to a gallery as ``calibration=``.

- ``pairs_csv``: columns ``file_x,file_y,same``; each row one comparison.
- ``folders``: ``DIR/<person>/<images>`` (LFW: its folder or its ``images/``); every pair of images is a comparison
  (same folder: genuine, else impostor); ``max_people`` / ``max_images_per_person`` take the
  first people (by folder name) and the first images of each, for a quick table.

``install``: the table becomes the model's own (:func:`countenance.calibration.install_calibration`):
every later command finds it (thresholds, the library's cluster cuts, the cleaning cuts; see
:mod:`countenance.calibration.cuts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .aligned_input import AlignedInput, resolve_aligned
from .evaluation import EvaluationRun

__all__ = ["CalibrateOptions", "CalibrationPoint", "CalibrationResult", "calibrate", "person_folders", "embed_paths"]

#: FMR levels reported in the result (the written table has 20 points per decade).
REPORT_FMRS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: Why FNMR is undefined: no same-person pair to miss.
NO_GENUINE = "no genuine pairs (no two photos of one person with a face in both)"


@dataclass(frozen=True)
class CalibrateOptions:
    """Exactly one of ``pairs_csv`` (names relative to ``root``, default the CSV's folder) and
    ``folders``; ``out``: where to write the table (None: not written); ``install``: install it
    as the model's table; ``max_people`` / ``max_images_per_person`` (folders only, None: all)."""

    pairs_csv: Path | None = None
    folders: Path | None = None
    root: Path | None = None
    out: Path | None = None
    run: EvaluationRun = field(default_factory=EvaluationRun)
    install: bool = False
    max_people: int | None = None
    max_images_per_person: int | None = None

    def __post_init__(self) -> None:
        if (self.pairs_csv is None) == (self.folders is None):
            raise InvalidArgument("give exactly one of --pairs CSV and a folder per person (DIR or --folders DIR)")
        for name in ("max_people", "max_images_per_person"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgument(f"{name} must be an integer >= 1, got {value!r}")
        if self.folders is None and (self.max_people or self.max_images_per_person):
            raise InvalidArgument("--max-people and --max-images-per-person limit a folder per person, not --pairs")


@dataclass(frozen=True)
class CalibrationPoint:
    """At ``fmr`` (when measurable): the distance threshold and the FNMR there (None without genuine pairs)."""

    fmr: float
    distance: float
    fnmr: float | None


@dataclass(frozen=True)
class CalibrationResult:
    """What ``calibrate`` measured and where it wrote the table."""

    model: str
    metric: str
    images: int
    failed_images: int
    impostor_pairs: int
    genuine_pairs: int
    people: int | None
    points: tuple[CalibrationPoint, ...]
    effective_templates: tuple[tuple[int, float], ...]
    out: str | None
    installed: str | None = None

    def undefined(self) -> dict[str, str]:
        """``{field: why}`` for the rates with nothing to measure them on (null in :meth:`to_dict`)."""
        return {} if self.genuine_pairs else {"fnmr": NO_GENUINE}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "images": self.images,
            "failed_images": self.failed_images,
            "impostor_pairs": self.impostor_pairs,
            "genuine_pairs": self.genuine_pairs,
            "people": self.people,
            "points": [{"fmr": p.fmr, "distance": round(p.distance, 4), "fnmr": None if p.fnmr is None else round(p.fnmr, 4)}
                       for p in self.points],
            "effective_templates": {str(k): round(v, 3) for k, v in self.effective_templates},
            "out": self.out,
            "installed": self.installed,
            "undefined": self.undefined(),
        }


def person_folders(root: Path, *, max_people: int | None = None, max_images: int | None = None) -> dict[str, list[Path]]:
    """``{person: their image files}`` of ``root/<person>/*`` (folders without images left out):
    the first ``max_people`` people by folder name, the first ``max_images`` files of each."""
    from ..image import IMAGE_SUFFIXES

    if not root.is_dir():
        raise InvalidArgument(f"{root}: not a folder (expected one folder per person)")
    if (root / "pairs.txt").is_file() and (root / "images").is_dir():
        root = root / "images"  # LFW's own layout: pairs.txt beside images/<person>/
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        if files:
            people[folder.name] = files[:max_images]
        if max_people is not None and len(people) >= max_people:
            break
    if not people:
        raise InvalidArgument(f"{root}: no person folder with images")
    return people


def embed_paths(paths: list[Path], run: EvaluationRun, on_start: Callable[[int], None] | None,
                on_progress: Callable[[int], None] | None, on_aligned: Callable[[AlignedInput], None] | None = None,
                ) -> dict[Path, Any]:
    """Each distinct image embedded once (largest face) through the batch-embedding layer:
    ``{path: ImageRecord}``; aligned input (``run.pipeline.aligned``) is resolved over the
    whole set and told to ``on_aligned``."""
    from ..evaluate import embed_images

    distinct = sorted(set(paths))
    aligned = resolve_aligned(run.pipeline, distinct)
    if on_aligned:
        on_aligned(aligned)
    if on_start:
        on_start(len(distinct))
    found = embed_images([str(p) for p in distinct], aligned.pipeline.config(), choose="largest", workers=run.workers,
                         on_progress=on_progress)
    return {p: found[str(p)] for p in distinct}


def calibrate(
    options: CalibrateOptions,
    *,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_aligned: Callable[[AlignedInput], None] | None = None,
) -> CalibrationResult:
    """Build (and write to ``options.out``) a calibration table for the chosen embedder."""
    from ..calibration import install_calibration, save_calibration, table_from_folders, table_from_pairs
    from ..decide import pairwise_distances
    from ..embedding import make_embedder
    from ..evaluate import read_pairs_csv

    spec = make_embedder(options.run.pipeline.embedder).spec
    people_of: dict[Path, str] = {}
    if options.pairs_csv is not None:
        pairs = [(p.path_x, p.path_y, p.same) for p in read_pairs_csv(options.pairs_csv, options.root)]
        paths = [x for a, b, _ in pairs for x in (a, b)]
    else:
        folders = person_folders(options.folders, max_people=options.max_people,
                                 max_images=options.max_images_per_person)
        people_of = {f: person for person, files in folders.items() for f in files}
        paths = list(people_of)
    results = embed_paths(paths, options.run, on_start, on_progress, on_aligned)
    ok = {p: r.vector for p, r in results.items() if r.vector is not None}
    failed = len(results) - len(ok)
    people, source = None, f"countenance calibrate {options.pairs_csv or options.folders}"
    if options.pairs_csv is not None:
        kept = [(a, b, s) for a, b, s in pairs if a in ok and b in ok]
        d = np.array([pairwise_distances(ok[a], ok[b][None, :], spec.metric)[0, 0] for a, b, _ in kept])
        table = table_from_pairs(d, np.array([s for *_, s in kept], dtype=bool), model=spec.name, metric=spec.metric,
                                 source=source)
    else:
        order = sorted(ok)
        labels = [people_of[p] for p in order]
        x = np.stack([ok[p] for p in order]) if order else np.zeros((0, spec.embedding_size))
        people = len(set(labels))
        table = table_from_folders(x, labels, model=spec.name, metric=spec.metric, source=source)
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        save_calibration(table, options.out)
    installed = str(install_calibration(table)) if options.install else None
    effective = table.effective
    points = tuple(
        CalibrationPoint(f, table.distance_at_fmr(f), table.false_non_match_rate(table.distance_at_fmr(f)))
        for f in REPORT_FMRS if f >= table.floor
    )
    k_eff = () if effective is None else tuple(
        (int(k), effective.at(int(k), table.distance_at_fmr(1e-3))) for k in effective.templates
    )
    return CalibrationResult(
        spec.name, str(spec.metric), len(results), failed, table.impostor_pairs, table.genuine_pairs, people, points, k_eff,
        str(options.out) if options.out is not None else None, installed,
    )
