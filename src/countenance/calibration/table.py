"""False-match rates measured on impostor comparisons, and thresholds for a target FPIR.

A :class:`Calibration` is a model's impostor distance distribution, stored as a table of
``(distance, fmr)`` points: ``fmr[i]`` is the fraction of impostor comparisons (two images of
different people) whose distance is ``<= distance[i]``. From it:

- :meth:`Calibration.false_match_rate` ``FMR(d)``: how often one comparison with a stranger
  comes out at distance ``d`` or closer (log-linear interpolation between table points);
- :func:`~.rates.fmr_for_fpir` and :meth:`Calibration.threshold_for_fpir`: the per-comparison FMR and
  the distance threshold at which a search of ``N`` independent templates has a false-positive
  identification rate ``FPIR = 1 - (1 - FMR)^N`` equal to the target;
- :meth:`Calibration.subject_false_match_rate`, :meth:`Calibration.identification_fpir` and
  :meth:`Calibration.threshold_for_subjects`: the same per enrolled *subject*, scored by its
  nearest template, with the effective number of templates measured for subjects with several
  (:mod:`.effective`); a table without that measurement counts every template (the rule above).

A table may also carry ``fnmr`` (the fraction of genuine comparisons farther than each distance),
when it was built from labelled pairs (``countenance calibrate``).

Tables ship in ``countenance/calibration/<model>.json`` (``scripts/calibrate.py`` rebuilds them
from LFW) or are installed by the user (:mod:`.store`). Outside the measured range the figures
are clamped: below the smallest impostor distance FMR is reported as the table's floor
``1 / impostor_pairs`` (an upper bound).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GalleryError, InvalidArgument
from .effective import EffectiveTemplates
from .rates import fmr_at, fmr_for_fpir, fnmr_at, fpir_for_fmr

__all__ = ["Calibration", "build_calibration"]


@dataclass(frozen=True)
class Calibration:
    """A model's impostor distance distribution as a table (see the module docstring).

    ``distances`` and ``fmr`` are ``(K,) float64``, both strictly increasing; ``fmr[0]`` is
    ``1 / impostor_pairs`` and ``fmr[-1]`` is 1. ``effective``: the effective number of templates
    of a subject with several (None: every template counts as one comparison). ``fnmr``
    ``(K,) float64`` or None: the false non-match rate at each distance, from ``genuine_pairs``.
    """

    model: str
    metric: str
    distances: np.ndarray
    fmr: np.ndarray
    impostor_pairs: int
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    effective: EffectiveTemplates | None = None
    fnmr: np.ndarray | None = None
    genuine_pairs: int = 0

    def __post_init__(self) -> None:
        d = np.asarray(self.distances, dtype=np.float64)
        f = np.asarray(self.fmr, dtype=np.float64)
        if d.ndim != 1 or d.shape != f.shape or d.size < 2:
            raise InvalidArgument("a calibration table needs two 1-D arrays of the same length >= 2")
        if np.any(np.diff(d) <= 0) or np.any(np.diff(f) <= 0) or f[0] <= 0 or f[-1] > 1:
            raise InvalidArgument("calibration distances and FMRs must be strictly increasing, FMR in (0, 1]")
        object.__setattr__(self, "distances", d)
        object.__setattr__(self, "fmr", f)
        if self.fnmr is not None:
            r = np.asarray(self.fnmr, dtype=np.float64)
            if r.shape != d.shape or np.any(np.diff(r) > 0) or np.any((r < 0) | (r > 1)):
                raise InvalidArgument("calibration FNMRs must be in [0, 1], non-increasing, one per distance")
            object.__setattr__(self, "fnmr", r)

    @property
    def floor(self) -> float:
        """The smallest FMR the table resolves (``fmr[0]``)."""
        return float(self.fmr[0])

    def false_match_rate(self, distance: float) -> float:
        """FMR at ``distance``: the fraction of impostor comparisons at that distance or closer.

        Clamped to ``[floor, 1]``: a distance below every measured impostor gets ``floor``.
        """
        if not math.isfinite(distance):
            return 1.0 if distance > 0 else self.floor
        if distance <= self.distances[0]:
            return self.floor
        log_fmr = np.interp(distance, self.distances, np.log(self.fmr))
        return float(np.exp(log_fmr))

    def distance_at_fmr(self, fmr: float) -> float:
        """The largest distance whose FMR is ``<= fmr`` (interpolated); the table's first
        distance when ``fmr`` is below its floor (a conservative threshold)."""
        if fmr <= self.floor:
            return float(self.distances[0])
        return float(np.interp(math.log(min(fmr, 1.0)), np.log(self.fmr), self.distances))

    def carried_distance(self, reference: Calibration, distance: float) -> float:
        """The distance on this table at the false-match rate ``reference`` (another model's
        table) has at ``distance``: a cut measured on that model, carried to this one."""
        return self.distance_at_fmr(reference.false_match_rate(distance))

    def carried_margin(self, reference: Calibration, margin: float, *, at: float) -> float:
        """A difference of distances on ``reference`` carried to this table where it matters,
        around ``at`` (a reference distance): the width of ``[at - margin/2, at + margin/2]`` once
        both ends are carried (:meth:`carried_distance`)."""
        return self.carried_distance(reference, at + margin / 2.0) - self.carried_distance(reference, at - margin / 2.0)

    def threshold_for_fpir(self, fpir: float, n_templates: int) -> float:
        """Distance threshold giving a false-positive identification rate ``fpir`` over ``n_templates``."""
        return self.distance_at_fmr(fmr_for_fpir(fpir, n_templates))

    # ------------------------------------------------------------ per subject

    def effective_templates(self, k: int, distance: float) -> float:
        """How many independent comparisons a subject with ``k`` templates is worth at ``distance``."""
        if self.effective is None:
            return float(max(k, 0))
        return self.effective.at(k, distance)

    def subject_false_match_rate(self, distance: float, templates: int) -> float:
        """The chance that a stranger's nearest template of a subject with ``templates`` templates
        is at ``distance`` or closer: ``1 - (1 - FMR(distance))^k_eff``."""
        return fpir_for_fmr(self.false_match_rate(distance), self.effective_templates(templates, distance))

    def identification_fpir(self, distance: float, subjects: Mapping[int, int]) -> float:
        """FPIR at threshold ``distance`` over a gallery of ``subjects[k]`` subjects with ``k``
        templates each (subjects' false matches taken as independent)."""
        n_eff = sum(n * self.effective_templates(int(k), distance) for k, n in subjects.items() if n > 0)
        return fpir_for_fmr(self.false_match_rate(distance), n_eff)

    def threshold_for_subjects(self, fpir: float, subjects: Mapping[int, int]) -> float:
        """The largest distance threshold whose :meth:`identification_fpir` over ``subjects``
        (``{templates per subject: number of subjects}``) is ``<= fpir`` (bisection); the table's
        smallest distance when even that exceeds ``fpir`` (the strictest measured)."""
        if not 0.0 < fpir < 1.0:
            raise InvalidArgument(f"a target FPIR must be in (0, 1), got {fpir!r}")
        if any(int(k) < 0 or n < 0 for k, n in subjects.items()):
            raise InvalidArgument("template and subject counts must be >= 0")
        if self.effective is None:  # closed form: every template is one comparison
            return self.threshold_for_fpir(fpir, sum(int(k) * n for k, n in subjects.items()))
        lo, hi = float(self.distances[0]), float(self.distances[-1])
        if self.identification_fpir(lo, subjects) > fpir:
            return lo
        if self.identification_fpir(hi, subjects) <= fpir:
            return hi
        for _ in range(60):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if self.identification_fpir(mid, subjects) <= fpir else (lo, mid)
        return lo

    def false_non_match_rate(self, distance: float) -> float | None:
        """FNMR at ``distance`` (linear between table points); None when the table has no genuine pairs."""
        if self.fnmr is None:
            return None
        return float(np.interp(distance, self.distances, self.fnmr))

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "impostor_pairs": self.impostor_pairs,
            "source": self.source,
            **self.extra,
            **({"genuine_pairs": self.genuine_pairs} if self.fnmr is not None else {}),
            "table": {
                "distance": [round(float(v), 6) for v in self.distances],
                "fmr": [float(f"{v:.6g}") for v in self.fmr],
                **({"fnmr": [float(f"{v:.6g}") for v in self.fnmr]} if self.fnmr is not None else {}),
            },
            **({"effective_templates": self.effective.to_dict()} if self.effective is not None else {}),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Calibration:
        try:
            table = document["table"]
            known = {"model", "metric", "impostor_pairs", "source", "table", "effective_templates", "genuine_pairs"}
            effective = document.get("effective_templates")
            return cls(
                model=str(document["model"]),
                metric=str(document["metric"]),
                distances=np.array(table["distance"], dtype=np.float64),
                fmr=np.array(table["fmr"], dtype=np.float64),
                impostor_pairs=int(document["impostor_pairs"]),
                source=str(document.get("source", "")),
                extra={k: v for k, v in document.items() if k not in known},
                effective=EffectiveTemplates.from_dict(effective) if effective is not None else None,
                fnmr=np.array(table["fnmr"], dtype=np.float64) if "fnmr" in table else None,
                genuine_pairs=int(document.get("genuine_pairs", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GalleryError(f"not a calibration table ({error})") from None


def build_calibration(
    impostor_distances: np.ndarray,
    *,
    model: str,
    metric: str,
    points_per_decade: int = 20,
    source: str = "",
    extra: dict[str, Any] | None = None,
    genuine_distances: np.ndarray | None = None,
    effective: EffectiveTemplates | None = None,
) -> Calibration:
    """A table from raw impostor distances: the distance quantile at FMR levels spaced
    ``points_per_decade`` per decade from ``1 / n`` up to 1, plus the extremes.

    ``fmr`` at a table point is the exact empirical fraction of distances ``<=`` it. Ties and
    levels closer than one comparison apart are merged (both columns stay strictly increasing).
    With ``genuine_distances`` (same-person comparisons, at least one finite), ``fnmr`` at each
    point is the exact fraction of them ``>`` it.
    """
    d = np.sort(np.asarray(impostor_distances, dtype=np.float64).ravel())
    d = d[np.isfinite(d)]
    n = d.size
    if n < 2:
        raise InvalidArgument("need at least 2 impostor distances")
    decades = math.log10(n)
    levels = np.unique(np.concatenate([
        np.logspace(-decades, 0, int(math.ceil(decades * points_per_decade)) + 1),
        np.linspace(0.05, 1.0, 20),  # the body, where the log grid is sparse
    ]))
    ranks = np.unique(np.clip(np.ceil(levels * n - 1e-9).astype(np.int64), 1, n))  # k-th smallest, 1-based
    ranks = np.unique(np.concatenate([[1], ranks]))
    distances = np.unique(d[ranks - 1])
    fmr = fmr_at(d, distances)  # exact, ties counted
    fnmr, genuine_pairs = None, 0
    if genuine_distances is not None:
        g = np.asarray(genuine_distances, dtype=np.float64).ravel()
        g = g[np.isfinite(g)]
        if g.size == 0:
            raise InvalidArgument("need at least 1 genuine distance for an FNMR column")
        fnmr = fnmr_at(g, distances)
        genuine_pairs = int(g.size)
    return Calibration(model, metric, distances, fmr, n, source, dict(extra or {}), effective, fnmr, genuine_pairs)
