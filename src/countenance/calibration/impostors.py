"""Measuring a model's table from templates of labelled people, for any model.

One template per person (their first): every pair of them is an impostor pair, so their
distances give the false-match rate as a function of distance (:func:`impostor_calibration`;
with LFW's 5,749 people, down to ~6e-8). With every template of each person as an impostor
probe against the others, :func:`subject_calibration` adds the effective number of templates
of a subject with several (:mod:`.subjects`). Distances are in the model's own metric and the
grids are impostor quantiles (:func:`distance_grid`), so nothing here assumes a model's scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..decide import pairwise_distances
from ..errors import InvalidArgument
from .effective import EffectiveTemplates
from .subjects import SubjectImpostorRates, subject_impostor_rates
from .table import Calibration, build_calibration

__all__ = ["impostor_distances", "distance_grid", "ImpostorCalibration", "impostor_calibration", "subject_calibration"]


def impostor_distances(vectors: np.ndarray, metric: str, exclude: set[tuple[int, int]] = frozenset(), block: int = 512) -> np.ndarray:
    """Distances of all pairs ``i < j`` of ``vectors`` (one per person): ``(n (n-1) / 2,) float32``;
    the pairs in ``exclude`` (``(i, j)``, ``i < j``) are NaN."""
    n = len(vectors)
    out = np.empty(n * (n - 1) // 2, dtype=np.float32)
    at = 0
    for start in range(0, n, block):
        rows = pairwise_distances(vectors[start : start + block], vectors, metric)
        for i, j in exclude:
            if start <= i < start + block:
                rows[i - start, j] = np.nan
        for i, row in enumerate(rows):
            tail = row[start + i + 1 :]
            out[at : at + tail.size] = tail
            at += tail.size
    return out


def distance_grid(impostor: np.ndarray, points: int = 30) -> np.ndarray:
    """Distances at impostor quantiles log-spaced from ``max(1/n, 1e-6)`` to 0.3: where the
    effective number of templates is measured, on any model's scale."""
    d = np.sort(np.asarray(impostor, dtype=np.float64))
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise InvalidArgument("need impostor distances to place a distance grid")
    low = max(1.0 / d.size, 1e-6)
    levels = np.logspace(np.log10(low), np.log10(0.3), points)
    return np.unique(d[np.clip((levels * d.size).astype(np.int64), 0, d.size - 1)])


@dataclass(frozen=True)
class ImpostorCalibration:
    """The calibration table, the impostor distances it was built from ``(P,) float32``, and
    the pairs of names left out as label errors."""

    calibration: Calibration
    distances: np.ndarray
    excluded_pairs: tuple[tuple[str, str], ...]
    people: int


def _first_of_each(people: Sequence[str]) -> list[int]:
    seen: set[str] = set()
    return [i for i, p in enumerate(people) if not (p in seen or seen.add(p))]


def impostor_calibration(
    vectors: np.ndarray,
    people: Sequence[str],
    *,
    model: str,
    metric: str,
    same_person: Iterable[tuple[str, str]] = (),
    dataset: str = "labelled images",
    extra: Mapping[str, Any] | None = None,
) -> ImpostorCalibration:
    """The false-match-rate table of ``model`` from all pairs of ``people``'s first templates
    (``vectors`` ``(N, D)``, one row per image, ``people`` ``(N,)`` its person); pairs of names
    in ``same_person`` (label errors: one person under two names) are left out."""
    rows = _first_of_each(people)
    names = [people[i] for i in rows]
    x = np.asarray(vectors, dtype=np.float64)[rows]
    row = {person: i for i, person in enumerate(names)}
    excluded = tuple(pair for pair in same_person if pair[0] in row and pair[1] in row)
    exclude = {tuple(sorted((row[a], row[b]))) for a, b in excluded}
    distances = impostor_distances(x, metric, exclude)
    distances = distances[np.isfinite(distances)]
    calibration = build_calibration(
        distances, model=model, metric=metric,
        source=f"{dataset}, first image of each of {len(names)} people, all {distances.size} pairs "
               f"but {len(excluded)} label errors",
        extra={**(extra or {}), "people": len(names), "excluded_pairs": [list(pair) for pair in excluded]},
    )
    return ImpostorCalibration(calibration, distances, excluded, len(names))


def subject_calibration(
    vectors: np.ndarray,
    people: Sequence[str],
    *,
    model: str,
    metric: str,
    same_person: Iterable[tuple[str, str]] = (),
    dataset: str = "labelled images",
    extra: Mapping[str, Any] | None = None,
) -> tuple[ImpostorCalibration, SubjectImpostorRates]:
    """The per-comparison table of :func:`impostor_calibration` with the effective number of
    templates measured on all of ``vectors`` (every image an impostor probe against each other
    person with two or more) attached, on a grid of the table's impostor quantiles."""
    same_person = tuple(same_person)
    base = impostor_calibration(vectors, people, model=model, metric=metric, same_person=same_person,
                                dataset=dataset, extra=extra)
    rates = subject_impostor_rates(vectors, people, metric, distances=distance_grid(base.distances),
                                   same_person=same_person)
    effective = EffectiveTemplates(
        rates.templates, rates.distances, rates.effective,
        source=f"{dataset}, all {len(people)} images as impostor probes against the {int(rates.subjects[0])} "
               "people with 2+ images",
    )
    calibration = replace(base.calibration, effective=effective)
    return ImpostorCalibration(calibration, base.distances, base.excluded_pairs, base.people), rates
