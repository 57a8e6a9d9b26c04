"""``countenance eval masks``: synthetic masks on LFW pairs, and detection on real masked photos.

LFW: every image of the chosen folds gets a mask drawn from its landmarks (:mod:`.masks`; one
style per image, fixed by ``seed``). Conditions: ``clean``; ``masked-vs-unmasked`` (the pair's
``x`` image masked, ``y`` as given: a masked probe against an unmasked enrolment photo);
``masked-vs-masked`` (both masked). Same figures as :mod:`.run_degrade`, with the clean
threshold for ``target_fmr`` applied to every condition.

Real masked photos (``<fixtures>/masked/with_mask`` and ``without_mask``, no identities): the
share of images in which each detector finds at least one face.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ..ingest import BatchEmbedder
from .choice import PipelineChoice, build_face_detector, embedding_spec
from .condition_pairs import ConditionResult, score_condition
from .variant_templates import Variant, counted_progress, embed_variant, lfw_run

__all__ = ["MasksOptions", "DetectionRate", "MasksResult", "run_masks", "detection_rates"]


@dataclass(frozen=True)
class MasksOptions:
    """What :func:`run_masks` measures; ``detectors`` are run on the real masked fixtures."""

    lfw_dir: Path | None = None
    folds: tuple[int, ...] | None = None
    pipeline: PipelineChoice = field(default_factory=PipelineChoice)
    seed: int = 0
    target_fmr: float = 1e-3
    masked_dir: Path | None = None
    detectors: tuple[PipelineChoice, ...] = (
        PipelineChoice("hog"), PipelineChoice("yunet"), PipelineChoice("ultraface"),
    )
    cache_dir: Path | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.target_fmr < 1:
            raise InvalidArgument(f"target_fmr must lie in (0, 1), got {self.target_fmr!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidArgument(f"workers must be an int >= 1, got {self.workers!r}")


@dataclass(frozen=True)
class DetectionRate:
    """``found`` of ``images`` in folder ``folder`` had at least one face for ``detector``."""

    detector: str
    folder: str
    found: int
    images: int

    @property
    def rate(self) -> float:
        return self.found / self.images if self.images else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "folder": self.folder, "found": self.found, "images": self.images,
                "rate": self.rate}


@dataclass(frozen=True)
class MasksResult:
    """The three LFW conditions and the detection rates on the real masked photos."""

    pipeline: PipelineChoice
    pairs: int
    folds: tuple[int, ...] | None
    seed: int
    conditions: tuple[ConditionResult, ...]
    detection: tuple[DetectionRate, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.to_dict(),
            "protocol": "LFW pairs.txt with masks drawn from 5-point landmarks (MaskTheFace-style homography)",
            "pairs": self.pairs,
            "folds": None if self.folds is None else list(self.folds),
            "seed": self.seed,
            "conditions": [c.to_dict() for c in self.conditions],
            "detection_on_real_masked_photos": [d.to_dict() for d in self.detection],
            "seconds": round(self.seconds, 1),
        }


def detection_rates(masked_dir: Path, detectors: Sequence[PipelineChoice]) -> tuple[DetectionRate, ...]:
    """For each detector and each of ``with_mask``/``without_mask`` under ``masked_dir``: faces found."""
    from ..image import iter_image_files, load_image

    out = []
    folders = [masked_dir / "with_mask", masked_dir / "without_mask"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise InvalidArgument(f"masked photo folders not found: {', '.join(missing)}")
    for choice in detectors:
        detector = build_face_detector(choice)
        label = choice.name.split("+")[0]
        for folder in folders:
            files = sorted(iter_image_files(folder))
            found = sum(bool(detector.detect(load_image(f))) for f in files)
            out.append(DetectionRate(label, folder.name, found, len(files)))
    return tuple(out)


def run_masks(options: MasksOptions, on_progress: Callable[[str, int, int], None] | None = None) -> MasksResult:
    """Measure masked verification on LFW and detection on the real masked fixtures."""
    from ..datasets import fixtures_dir

    start = time.perf_counter()
    root, pairs, xs, ys, names, cache = lfw_run(options.lfw_dir, options.folds, options.cache_dir)
    choice = options.pipeline

    def embed(variant: Variant, anchors=None):
        return embed_variant(root, names, pool, variant, cache_dir=cache, anchors=anchors,
                             on_progress=counted_progress(on_progress, variant.key, len(names)))

    metric = embedding_spec(choice).metric
    # One set of workers for both passes (started only if the cache lacks something).
    with BatchEmbedder(choice, workers=options.workers, lazy=True) as pool:
        clean_records = embed(Variant("clean"))
        masked_records = embed(Variant("mask", options.seed), clean_records)
    first = score_condition("clean", pairs, xs, ys, clean_records, clean_records, metric=metric, target_fmr=options.target_fmr)
    threshold = first.at_target.threshold
    conditions = tuple(
        score_condition(name, pairs, xs, ys, x, y, metric=metric, target_fmr=options.target_fmr, fixed_threshold=threshold)
        for name, x, y in (
            ("clean", clean_records, clean_records),
            ("masked-vs-unmasked", masked_records, clean_records),
            ("masked-vs-masked", masked_records, masked_records),
        )
    )
    masked_dir = options.masked_dir if options.masked_dir is not None else fixtures_dir() / "masked"
    detection = detection_rates(Path(masked_dir), options.detectors) if options.detectors else ()
    return MasksResult(choice, len(pairs), options.folds, options.seed, conditions, detection, time.perf_counter() - start)
