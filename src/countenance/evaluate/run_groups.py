"""``countenance eval groups``: FMR and FNMR per user-labelled group at one global threshold.

Input: an image folder with one sub-folder per person (the sub-folder names the identity) and a
CSV mapping images (paths relative to that folder) to group labels, see
:func:`~countenance.evaluate.groups.read_group_labels`. Every labelled image is embedded (its
largest face); every pair of them is compared (mated iff same person). Images without a label
are left out and counted; labels are never guessed.

The threshold is the one the system runs at: a distance given by the caller, else the
embedding model's default threshold (its :class:`~countenance.faces.ModelSpec`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .choice import PipelineChoice, embedding_spec, measure_cache_dir
from .groups import GroupReport, LabelledComparisons, group_report, read_group_labels
from .variant_templates import Variant, embed_variant

__all__ = ["GroupsOptions", "GroupsResult", "run_groups"]


@dataclass(frozen=True)
class GroupsOptions:
    """What :func:`run_groups` measures (``threshold``: a distance; None = the model's default)."""

    image_dir: Path
    labels_csv: Path
    column: str = "group"
    pipeline: PipelineChoice = field(default_factory=lambda: PipelineChoice("yunet"))
    threshold: float | None = None
    samples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    cache_dir: Path | None = None
    workers: int = 1


@dataclass(frozen=True)
class GroupsResult:
    pipeline: PipelineChoice
    threshold_source: str
    images: int
    without_face: tuple[str, ...]
    unlabelled: tuple[str, ...]
    report: GroupReport
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline.to_dict(), "threshold_source": self.threshold_source, "images": self.images,
                "without_face": list(self.without_face), "unlabelled": list(self.unlabelled),
                **self.report.to_dict(), "seconds": round(self.seconds, 1)}


def run_groups(options: GroupsOptions) -> GroupsResult:
    """Embed the labelled images and report per-group errors (see the module doc)."""
    from ..image import iter_image_files

    start = time.perf_counter()
    root = Path(options.image_dir)
    if not root.is_dir():
        raise InvalidArgument(f"{root}: not a folder of per-person sub-folders")
    labels = read_group_labels(options.labels_csv, options.column)
    names = sorted(Path(p).relative_to(root).as_posix() for p in iter_image_files(root) if Path(p).parent != root)
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise InvalidArgument(f"{options.labels_csv}: {len(unknown)} labelled image(s) not under {root}, e.g. {unknown[0]}")
    labelled = [n for n in names if n in labels]
    unlabelled = tuple(n for n in names if n not in labels)
    records = embed_variant(root, labelled, options.pipeline, Variant("clean"), cache_dir=measure_cache_dir(options.cache_dir),
                            choose="largest", workers=options.workers)
    found = [n for n in labelled if records[n].vector is not None]
    if len(found) < 2:
        raise InvalidArgument(f"{root}: fewer than two labelled images with a face")
    spec = embedding_spec(options.pipeline)
    if options.threshold is None:
        threshold, source = spec.thresholds[spec.default_threshold], f"{spec.name} default threshold"
    else:
        threshold, source = float(options.threshold), "given"
    vectors = np.stack([records[n].vector for n in found])
    comparisons = LabelledComparisons.all_pairs(
        vectors, [Path(n).parent.as_posix() for n in found], [labels[n] for n in found], spec.metric
    )
    report = group_report(comparisons, threshold, samples=options.samples, confidence=options.confidence, seed=options.seed)
    return GroupsResult(options.pipeline, source, len(labelled), tuple(n for n in labelled if n not in found), unlabelled,
                        report, time.perf_counter() - start)
