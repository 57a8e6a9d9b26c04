"""Verification figures of one condition over a pairs protocol (LFW ``pairs.txt`` or a pairs CSV).

A *condition* is what each side of a pair went through: e.g. the probe (``x``) side downscaled
and the reference (``y``) side as given, or both masked. Given the two sides' templates:

- accuracy: the protocol's k-fold figure (threshold chosen on the other folds, as
  :func:`countenance.evaluate.kfold_accuracy` does) over the pairs;
- FNMR at a target FMR: mated pairs as genuine comparisons; as impostors, *every* comparison of
  an ``x``-side image with a ``y``-side image of another person (LFW's 2 folds give ~1.4 M,
  enough to resolve FMR = 1e-3, which the 600 mismatched pairs cannot);
- the rates at a fixed threshold (the one set on the clean condition), which is what a
  deployed system running at one threshold would see.

Failures: a mated pair with a side that has no template counts as a false non-match
(FNMR includes failures to acquire); images without a template are left out of the impostor
comparisons (a failure to acquire is not a false match), and counted in ``failures``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..calibration.rates import (
    ErrorRates,
    OperatingPoint,
    best_accuracy_threshold,
    fmr_at,
    fnmr_at,
    fnmr_at_fmr,
    rates_at_threshold,
    thresholds_at_fmr,
)
from ..faces import inter_ocular_px
from ..ingest import ImageRecord

__all__ = ["ConditionResult", "pair_names", "score_condition", "person_of", "lfw_subset"]

# Distance given to a mated pair with a missing template: above any real distance.
_FAILED_GENUINE = 1e6


def person_of(name: str) -> str:
    """The person of an image named ``Person/Person_0001.jpg`` (its folder)."""
    return Path(name).parent.as_posix()


def pair_names(pairs: Sequence[Any], root: Path) -> tuple[list[str], list[str]]:
    """The ``x`` and ``y`` image names (paths relative to ``root``) of ``pairs`` (evaluate.Pair)."""
    xs = [Path(p.path_x).relative_to(root).as_posix() for p in pairs]
    ys = [Path(p.path_y).relative_to(root).as_posix() for p in pairs]
    return xs, ys


@dataclass(frozen=True)
class ConditionResult:
    """One condition's figures (see the module doc). ``detection_rate`` is the share of the
    changed side's images where the detector itself found the face (not the anchor fallback)."""

    condition: str
    pairs: int
    accuracy: float
    accuracy_std: float
    at_target: OperatingPoint
    at_fixed_threshold: ErrorRates | None
    detection_rate: float
    failures: int
    median_iod_px: float
    threshold_best_accuracy: float
    det: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "pairs": self.pairs,
            "accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "fnmr_at_fmr": self.at_target.to_dict(),
            "at_fixed_threshold": None if self.at_fixed_threshold is None else self.at_fixed_threshold.to_dict(),
            "detection_rate": self.detection_rate,
            "failures": self.failures,
            "median_iod_px": self.median_iod_px,
            "threshold_best_accuracy": self.threshold_best_accuracy,
            "det_fmr_fnmr": [list(p) for p in self.det],
        }


def _matrix(records: dict[str, ImageRecord], names: list[str]) -> tuple[list[str], np.ndarray]:
    ok = [n for n in dict.fromkeys(names) if records[n].vector is not None]
    vectors = np.stack([records[n].vector for n in ok]).astype(np.float64) if ok else np.zeros((0, 1))
    return ok, vectors


def score_condition(
    condition: str,
    pairs: Sequence[Any],
    x_names: Sequence[str],
    y_names: Sequence[str],
    x_records: dict[str, ImageRecord],
    y_records: dict[str, ImageRecord],
    *,
    metric: str,
    target_fmr: float = 1e-3,
    fixed_threshold: float | None = None,
) -> ConditionResult:
    """The figures of one condition: ``x_records`` hold the changed side, ``y_records`` the other."""
    from ..decide import pairwise_distances
    from .metrics import kfold_accuracy

    if not pairs or len(pairs) != len(x_names) or len(pairs) != len(y_names):
        raise InvalidArgument("need one x and one y image name per pair, and at least one pair")
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    distances = np.empty(len(pairs))
    failed = np.zeros(len(pairs), dtype=bool)
    for k, (x, y) in enumerate(zip(x_names, y_names)):
        vx, vy = x_records[x].vector, y_records[y].vector
        if vx is None or vy is None:
            failed[k] = True
        else:
            distances[k] = pairwise_distances(vx, vy, metric)[0, 0]
    # k-fold accuracy: a failed pair is wrong at every threshold (as countenance.evaluate does).
    for_accuracy = distances.copy()
    for_accuracy[failed & same] = _FAILED_GENUINE
    for_accuracy[failed & ~same] = -1.0
    accuracies, _ = kfold_accuracy(for_accuracy, same, folds)
    genuine = np.where(failed[same], _FAILED_GENUINE, distances[same])
    xs, vx = _matrix(x_records, list(x_names))
    ys, vy = _matrix(y_records, list(y_names))
    cross = pairwise_distances(vx, vy, metric)
    px = np.array([person_of(n) for n in xs])
    py = np.array([person_of(n) for n in ys])
    impostor = cross[px[:, None] != py[None, :]]
    at_target = fnmr_at_fmr(genuine, impostor, target_fmr)
    fixed = None if fixed_threshold is None else rates_at_threshold(genuine, impostor, fixed_threshold)
    changed = [x_records[n] for n in dict.fromkeys(x_names)]
    iods = [inter_ocular_px(r.face.landmarks) for r in changed if r.face is not None and r.face.landmarks is not None]
    best, _ = best_accuracy_threshold(genuine, distances[~same & ~failed]) if (~same & ~failed).any() else (0.0, 0.0)
    return ConditionResult(
        condition=condition,
        pairs=len(pairs),
        accuracy=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        at_target=at_target,
        at_fixed_threshold=fixed,
        detection_rate=float(np.mean([r.how == "detected" for r in changed])),
        failures=int(sum(r.vector is None for r in changed)),
        median_iod_px=float(np.median(iods)) if iods else 0.0,
        threshold_best_accuracy=best,
        det=_det_summary(genuine, impostor),
    )


def _det_summary(genuine: np.ndarray, impostor: np.ndarray, points: int = 60) -> tuple[tuple[float, float], ...]:
    """``(FMR, FNMR)`` at the thresholds for target FMRs from 1/impostors to 1, log-spaced: a DET
    curve small enough for JSON."""
    fmrs = np.unique(np.geomspace(1.0 / impostor.size, 1.0, points))
    thresholds = thresholds_at_fmr(impostor, fmrs[fmrs < 1.0])
    out = zip(fmr_at(impostor, thresholds).tolist(), fnmr_at(genuine, thresholds).tolist(), strict=True)
    return tuple(dict.fromkeys(out))


def lfw_subset(lfw_dir: str | Path | None, folds: Sequence[int] | None) -> tuple[Path, list[Any]]:
    """``(images root, pairs)`` of LFW's ``pairs.txt`` restricted to ``folds`` (0-based; None: all)."""
    from ..datasets import lfw_dir as default_lfw_dir
    from .protocols import read_lfw_pairs

    base = Path(lfw_dir) if lfw_dir is not None else default_lfw_dir()
    pairs = read_lfw_pairs(base)
    if folds is not None:
        wanted = set(folds)
        known = {p.fold for p in pairs}
        if not wanted or not wanted <= known:
            raise InvalidArgument(f"folds must be a non-empty subset of {sorted(known)}, got {sorted(wanted)}")
        pairs = [p for p in pairs if p.fold in wanted]
    root = base / "images" if (base / "images").is_dir() else base
    return root, pairs
