"""Verification benchmarks: embed every image of a list of pairs once, then measure over the folds.

For each fold the threshold that maximises accuracy on the other folds is applied to it; the
result is the mean and standard deviation of the fold accuracies. A pair with an image that
could not be read or where no face was found is counted as wrong at any threshold, and listed
(``failed_pairs``); when no pair at all could be measured there is no figure to report and
:class:`~countenance.errors.InvalidPairsFile` says why.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidPairsFile
from ..pipeline import PipelineConfig
from .embedding import embed_images
from ..calibration.rates import fnmr_at_fmr
from .metrics import kfold_accuracy, roc_auc
from .protocols import Pair

__all__ = ["DEFAULT_FMRS", "FailedPair", "EvaluationReport", "evaluate_pairs"]

#: Target false match rates at which the false non-match rate is reported.
DEFAULT_FMRS = (0.01, 0.001)


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: such a figure (e.g. AUC with one class) becomes null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class FailedPair:
    """A pair that could not be measured: its two paths, its label, and why (the first image's
    reason when both failed)."""

    path_x: str
    path_y: str
    same: bool
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"file_x": self.path_x, "file_y": self.path_y, "same": self.same, "error": self.error}


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate_pairs` measured. ``to_dict`` gives a JSON document (NaN figures as null).

    ``failures`` pairs could not be measured (listed in ``failed_pairs``; they count as wrong).
    ``fnmr_at_fmr``: ``{target FMR: FNMR}`` at the threshold set on all pairs' impostor distances
    for that target (:func:`~countenance.calibration.rates.fnmr_at_fmr`; NaN with one class).
    """

    accuracy: float
    accuracy_std: float
    auc: float
    fnmr_at_fmr: dict[str, float]
    threshold: float
    fold_accuracies: list[float]
    pairs: int
    failures: int
    failed_images: list[str]
    found_by: dict[str, int]
    seconds: float
    images: int
    model: str
    detector: str
    protocol: str
    extra: dict[str, Any] = field(default_factory=dict)
    failed_pairs: tuple[FailedPair, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.accuracy, 6),
            "accuracy_std": round(self.accuracy_std, 6),
            "auc": _finite(round(self.auc, 6)),
            "fnmr_at_fmr": {k: _finite(round(v, 6)) for k, v in self.fnmr_at_fmr.items()},
            "threshold": round(self.threshold, 6),
            "fold_accuracies": [round(a, 6) for a in self.fold_accuracies],
            "pairs": self.pairs,
            "failures": self.failures,
            "failed_images": self.failed_images,
            "failed_pairs": [p.to_dict() for p in self.failed_pairs],
            "found_by": self.found_by,
            "images": self.images,
            "seconds": round(self.seconds, 2),
            "model": self.model,
            "detector": self.detector,
            "protocol": self.protocol,
            **self.extra,
        }


def evaluate_pairs(
    pairs: Sequence[Pair],
    pipeline: PipelineConfig | None = None,
    *,
    choose: str = "largest",
    centre_box: tuple[float, float, float, float] | None = None,
    workers: int = 1,
    fmrs: Sequence[float] = DEFAULT_FMRS,
    protocol: str = "pairs",
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Embed every image of ``pairs`` once (``pipeline`` default: HOG and dlib's ResNet) and
    measure verification accuracy over the folds."""
    from ..embedding import template_spec

    if not pairs:
        raise InvalidPairsFile("no pairs to evaluate")
    # Resolved ("auto" decided), so the report names the backends that really ran.
    config = (pipeline or PipelineConfig(detector="hog", embedder="dlib")).resolved()
    spec, detector_name, embedder_name = template_spec(config.embedder), config.detector, config.embedder
    start = time.perf_counter()
    paths = sorted({str(p.path_x) for p in pairs} | {str(p.path_y) for p in pairs})
    if on_start:
        on_start(len(paths))
    results = embed_images(paths, config, choose=choose, centre_box=centre_box, workers=workers, on_progress=on_progress)
    from ..decide import pairwise_distances

    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    distances = np.empty(len(pairs), dtype=np.float64)
    failed = np.zeros(len(pairs), dtype=bool)
    failed_pairs = []
    for i, pair in enumerate(pairs):
        rx, ry = results[str(pair.path_x)], results[str(pair.path_y)]
        if rx.vector is None or ry.vector is None:
            failed[i] = True
            bad = rx if rx.vector is None else ry
            failed_pairs.append(FailedPair(str(pair.path_x), str(pair.path_y), pair.same, f"{bad.path}: {bad.error}"))
            continue
        distances[i] = pairwise_distances(rx.vector, ry.vector, spec.metric)[0, 0]
    if failed.all():
        raise InvalidPairsFile(_nothing_measured(list(results.values())))
    # A failed pair is wrong at every threshold: "same" pairs get a distance above all,
    # "different" pairs one below all.
    if failed.any():
        ok = distances[~failed]
        high = (ok.max() if ok.size else 1.0) + 1.0
        distances[failed & same] = high
        distances[failed & ~same] = -1.0
    accuracies, thresholds = kfold_accuracy(distances, same, folds)
    found_by = Counter(r.how for r in results.values())
    return EvaluationReport(
        accuracy=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        auc=roc_auc(distances, same),
        fnmr_at_fmr={str(fmr): _fnmr_at_fmr(distances, same, fmr) for fmr in fmrs},
        threshold=float(np.mean(thresholds)),
        fold_accuracies=[float(a) for a in accuracies],
        pairs=len(pairs),
        failures=int(failed.sum()),
        failed_images=sorted(f"{r.path}: {r.error}" for r in results.values() if r.vector is None),
        failed_pairs=tuple(failed_pairs),
        found_by=dict(sorted(found_by.items())),
        seconds=time.perf_counter() - start,
        images=len(paths),
        model=spec.name,
        detector=detector_name,
        protocol=protocol,
        extra={"embedder": embedder_name, "precision": config.precision, "num_jitters": config.num_jitters},
    )


def _fnmr_at_fmr(distances: np.ndarray, same: np.ndarray, target_fmr: float) -> float:
    """FNMR at the threshold for ``target_fmr``; NaN when the pairs hold one class only."""
    if same.all() or not same.any():
        return math.nan
    return fnmr_at_fmr(distances[same], distances[~same], target_fmr).fnmr


def _nothing_measured(results: list[Any]) -> str:
    """Why no pair could be measured, in one line, with the first failure as an example."""
    unreadable = [r for r in results if r.vector is None and not r.readable]
    example = (unreadable or [r for r in results if r.vector is None])[0]
    if len(unreadable) == len(results):
        return f"no image could be read ({len(results)} images; e.g. {example.path}: {example.error})"
    return (f"no pair could be measured: every pair has an image that could not be read or holds no face "
            f"(e.g. {example.path}: {example.error})")
