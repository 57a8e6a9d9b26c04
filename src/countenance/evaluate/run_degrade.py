"""``countenance eval degrade``: LFW pairs with the probe side degraded, one curve per degradation.

Degradations of the ``x`` image of each pair (the ``y`` side stays as given): downscaled to
inter-ocular distances (``iod_levels``, px), Gaussian blur (sigma in inter-ocular distances),
JPEG quality, a grey band over the eyes, a grey block over the lower face. Each level gives a
:class:`~countenance.evaluate.condition_pairs.ConditionResult`.

The smallest face the model still handles (:class:`MinimumFaceSize`): the threshold is set on
the clean condition for ``target_fmr`` (the threshold a deployment runs at); a downscaling level
*meets the error rates* when, at that threshold, its FNMR is at most the clean FNMR plus
``fnmr_margin`` and its FMR at most ``fmr_factor`` x the target. The limit is the smallest
level at which that level and every larger one meet; below it a system should answer "too
small to identify" rather than guess. The levels are discrete, so the limit is one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ..ingest import BatchEmbedder
from .choice import PipelineChoice, embedding_spec
from .condition_pairs import ConditionResult, score_condition
from .variant_templates import Variant, counted_progress, embed_variant, lfw_run

__all__ = ["DegradeOptions", "Curve", "MinimumFaceSize", "DegradeResult", "run_degrade", "minimum_face_size"]


@dataclass(frozen=True)
class DegradeOptions:
    """What :func:`run_degrade` measures. ``folds``: LFW folds (0-based) to use; None: all 10."""

    lfw_dir: Path | None = None
    folds: tuple[int, ...] | None = None
    pipeline: PipelineChoice = field(default_factory=PipelineChoice)
    # LFW faces have an inter-ocular distance of ~41 px and faces are never upsampled, so levels
    # above that (48) would only repeat the clean condition.
    iod_levels: tuple[float, ...] = (32, 24, 20, 16, 12)
    blur_levels: tuple[float, ...] = (0.05, 0.1, 0.2)
    jpeg_levels: tuple[int, ...] = (30, 10)
    occlusions: bool = True
    target_fmr: float = 1e-3
    fnmr_margin: float = 0.02
    fmr_factor: float = 2.0
    cache_dir: Path | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.target_fmr < 1:
            raise InvalidArgument(f"target_fmr must lie in (0, 1), got {self.target_fmr!r}")
        if self.fnmr_margin < 0 or self.fmr_factor < 1:
            raise InvalidArgument("fnmr_margin must be >= 0 and fmr_factor >= 1")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise InvalidArgument(f"workers must be an int >= 1, got {self.workers!r}")


@dataclass(frozen=True)
class Curve:
    """One degradation: ``kind`` (a :class:`Variant` kind) and its results, one per level."""

    kind: str
    levels: tuple[float, ...]
    results: tuple[ConditionResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "levels": list(self.levels), "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True)
class MinimumFaceSize:
    """The smallest inter-ocular distance (px) at which the model meets its error rates, or None."""

    iod_px: float | None
    threshold: float
    fnmr_limit: float
    fmr_limit: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"iod_px": self.iod_px, "threshold": self.threshold, "fnmr_limit": self.fnmr_limit,
                "fmr_limit": self.fmr_limit, "reason": self.reason}


def minimum_face_size(
    clean: ConditionResult, downscaled: Curve, *, target_fmr: float, fnmr_margin: float, fmr_factor: float
) -> MinimumFaceSize:
    """The limit described in the module doc, from the clean result and the ``iod`` curve."""
    threshold = clean.at_target.threshold
    fnmr_limit = clean.at_target.fnmr + fnmr_margin
    fmr_limit = fmr_factor * target_fmr
    ordered = sorted(zip(downscaled.levels, downscaled.results), key=lambda lr: -lr[0])
    limit = None
    for level, result in ordered:
        rates = result.at_fixed_threshold
        if rates is None or rates.fnmr > fnmr_limit or rates.fmr > fmr_limit:
            break
        limit = level
    if limit is None:
        reason = "fails already at the largest level tested"
    elif limit == ordered[-1][0]:
        reason = "meets the error rates at every level tested: the true limit may be smaller"
    else:
        reason = f"the next level down ({ordered[[lv for lv, _ in ordered].index(limit) + 1][0]:g} px) fails"
    return MinimumFaceSize(limit, threshold, fnmr_limit, fmr_limit, reason)


@dataclass(frozen=True)
class DegradeResult:
    """Every curve, the clean reference and the minimum face size."""

    pipeline: PipelineChoice
    pairs: int
    folds: tuple[int, ...] | None
    target_fmr: float
    clean: ConditionResult
    curves: tuple[Curve, ...]
    minimum: MinimumFaceSize
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.to_dict(),
            "protocol": "LFW pairs.txt, x side degraded, y side as given",
            "pairs": self.pairs,
            "folds": None if self.folds is None else list(self.folds),
            "target_fmr": self.target_fmr,
            "clean": self.clean.to_dict(),
            "curves": [c.to_dict() for c in self.curves],
            "minimum_face_size": self.minimum.to_dict(),
            "seconds": round(self.seconds, 1),
        }


def run_degrade(options: DegradeOptions, on_progress: Callable[[str, int, int], None] | None = None) -> DegradeResult:
    """Measure every degradation of ``options``; ``on_progress(step, done, total)`` reports images.
    One set of workers serves every variant (started only if the cache lacks something)."""
    with BatchEmbedder(options.pipeline, workers=options.workers, lazy=True) as pool:
        return _run_degrade(options, on_progress, pool)


def _run_degrade(options: DegradeOptions, on_progress: Callable[[str, int, int], None] | None,
                 pool: BatchEmbedder) -> DegradeResult:
    start = time.perf_counter()
    root, pairs, xs, ys, names, cache = lfw_run(options.lfw_dir, options.folds, options.cache_dir)
    choice = options.pipeline

    def embed(variant: Variant, which: list[str], anchors=None):
        return embed_variant(root, which, pool, variant, cache_dir=cache, anchors=anchors,
                             on_progress=counted_progress(on_progress, variant.key, len(which)))

    clean_records = embed(Variant("clean"), names)
    metric = embedding_spec(choice).metric
    clean = score_condition("clean", pairs, xs, ys, clean_records, clean_records, metric=metric, target_fmr=options.target_fmr)
    threshold = clean.at_target.threshold
    clean = score_condition("clean", pairs, xs, ys, clean_records, clean_records, metric=metric,
                            target_fmr=options.target_fmr, fixed_threshold=threshold)
    x_only = sorted(set(xs))
    plan: list[tuple[str, tuple[float, ...]]] = [
        ("iod", tuple(options.iod_levels)),
        ("blur", tuple(options.blur_levels)),
        ("jpeg", tuple(float(q) for q in options.jpeg_levels)),
    ]
    if options.occlusions:
        plan += [("occlude-eyes", (0.0,)), ("occlude-lower", (0.0,))]
    curves = []
    for kind, levels in plan:
        results = []
        for level in levels:
            variant = Variant(kind, level)
            records = embed(variant, x_only, clean_records)
            results.append(score_condition(variant.key, pairs, xs, ys, records, clean_records, metric=metric,
                                           target_fmr=options.target_fmr, fixed_threshold=threshold))
        if levels:
            curves.append(Curve(kind, levels, tuple(results)))
    iod_curve = next((c for c in curves if c.kind == "iod"), Curve("iod", (), ()))
    if iod_curve.levels:
        minimum = minimum_face_size(clean, iod_curve, target_fmr=options.target_fmr,
                                    fnmr_margin=options.fnmr_margin, fmr_factor=options.fmr_factor)
    else:
        minimum = MinimumFaceSize(None, threshold, 0.0, 0.0, "no downscaling levels were measured")
    return DegradeResult(choice, len(pairs), options.folds, options.target_fmr, clean, tuple(curves), minimum,
                         time.perf_counter() - start)
