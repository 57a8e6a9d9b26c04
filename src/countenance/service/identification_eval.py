"""Use case: measure open-set identification on your own folders (``countenance eval identify``).

``gallery_dir/<person>/*`` are enrolled (every image, largest face); ``probe_dir/<person>/*`` are
searched: a mated probe when ``<person>`` is enrolled, else non-mated; ``unenrolled_dir/<person>/*``
(optional) are non-mated probes too. Each image is embedded once, in parallel; the searches run
through a real temporary gallery (:func:`countenance.evaluate.open_set.search_gallery`) at its own
calibrated threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidArgument
from .aligned_input import AlignedInput
from .calibration import embed_paths, person_folders
from .evaluation import EvaluationRun

__all__ = ["IdentifyEvalOptions", "evaluate_identification", "parse_rates"]


def parse_rates(text: str, what: str) -> tuple[float, ...]:
    """``"0.01,0.001"`` -> ``(0.01, 0.001)``; InvalidArgument naming ``what`` otherwise."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidArgument(f"{what} must be comma-separated rates, got {text!r}") from None
    _check_rates(values, what)
    return values


def _check_rates(values: tuple[float, ...], what: str) -> None:
    if not values or any(not 0 < v < 1 for v in values):
        raise InvalidArgument(f"{what} must be one or more rates in (0, 1), got {values!r}")


@dataclass(frozen=True)
class IdentifyEvalOptions:
    """The folders (one per person), the ranks of the CMC, the FPIRs at which FNIR is measured
    with an empirical threshold and the target FPIRs at which the gallery's own threshold is
    checked (the first is the gallery policy's), and an optional calibration table file."""

    gallery_dir: Path
    probe_dir: Path
    unenrolled_dir: Path | None = None
    ranks: int = 10
    fpirs: tuple[float, ...] = (0.01, 0.001)
    targets: tuple[float, ...] = (0.01, 0.001)
    calibration: Path | None = None
    run: EvaluationRun = field(default_factory=EvaluationRun)

    def __post_init__(self) -> None:
        if isinstance(self.ranks, bool) or not isinstance(self.ranks, int) or not 1 <= self.ranks <= 100:
            raise InvalidArgument(f"ranks must be an integer in 1..100, got {self.ranks!r}")
        _check_rates(self.fpirs, "fpirs")
        _check_rates(self.targets, "targets")


def evaluate_identification(
    options: IdentifyEvalOptions,
    *,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_aligned: Callable[[AlignedInput], None] | None = None,
):
    """Embed, enrol, search, measure: an :class:`~countenance.evaluate.open_set.OpenSetReport`."""
    from ..embedding import make_embedder
    from ..evaluate.open_set import Probe, search_gallery
    from ..faces import Face, Template
    from ..calibration import load_calibration
    from ..gallery import EmbeddedImage
    from ..hashing import sha256_file

    spec = make_embedder(options.run.pipeline.embedder).spec
    calibration = load_calibration(spec.name, options.calibration) if options.calibration is not None else None
    gallery = person_folders(options.gallery_dir)
    probes = person_folders(options.probe_dir)
    unenrolled = person_folders(options.unenrolled_dir) if options.unenrolled_dir is not None else {}
    every = [f for folders in (gallery, probes, unenrolled) for files in folders.values() for f in files]
    found = embed_paths(every, options.run, on_start, on_progress, on_aligned)

    def image(path: Path) -> EmbeddedImage:
        r = found[path]
        faces = () if r.face is None else (Face(box=r.face.box, detection_score=1.0, template=Template(r.vector, spec.name)),)
        return EmbeddedImage(faces, sha256_file(path), str(path.resolve()))

    enrol = {person: [image(f) for f in files] for person, files in gallery.items()}
    enrol = {person: images for person, images in enrol.items() if any(i.faces for i in images)}
    searches = [Probe(image(f), person if person in enrol else None) for person, files in probes.items() for f in files]
    searches += [Probe(image(f), None) for files in unenrolled.values() for f in files]
    if not searches:
        raise InvalidArgument("no probe images")
    return search_gallery(spec, enrol, searches, calibration=calibration, fpirs=options.fpirs, targets=options.targets,
                          ranks=options.ranks)
