"""Calibration of a model's identification threshold from LFW impostor pairs.

One template per LFW person (their first image): every pair of them is an impostor pair, so
their distances give the false-match rate as a function of distance, down to ~6e-8 with all
5,749 people. :func:`lfw_impostor_calibration` builds the table the gallery ships
(``countenance/calibration/<model>.json``); ``scripts/calibrate.py`` writes it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..decide import pairwise_distances
from .lfw_templates import LfwTemplates
from .subject_calibration import SubjectImpostorRates, subject_impostor_rates

__all__ = [
    "LFW_SAME_PERSON",
    "impostor_distances",
    "ImpostorCalibration",
    "lfw_impostor_calibration",
    "restrict_templates",
    "lfw_subject_calibration",
]


#: LFW label errors among the impostor pairs closest in distance: two names for one person,
#: or one photo filed under two people (checked by eye, November 2026, among the pairs of
#: first images closer than 0.42). Pairs between these names are not impostor pairs and are
#: left out. (Tamara and Tia Mowry, identical twins at 0.356, are two people and stay in.)
LFW_SAME_PERSON = (
    ("Bart_Hendricks", "Ricky_Ray"),  # the same photo
    ("Carlos_Beltran", "Raul_Ibanez"),  # the same photo
    ("Emmy_Rossum", "Eva_Amurri"),  # the same photo
    ("Andrew_Caldecott", "Andrew_Gilligan"),  # the same photo
    ("Shinya_Taniguchi", "Takahiro_Mori"),
    ("Noer_Moeis", "Noer_Muis"),
    ("Wang_Yingfan", "Yingfan_Wang"),
    ("Chyung_Dai-chul", "Dai_Chul_Chyung"),
    ("John_Barnett", "John_Burnett"),
    ("Felipe_De_Borbon", "Prince_Felipe"),
    ("Carlos_Ruckauf", "Eduardo_Duhalde"),  # Carlos_Ruckauf_0001 shows Eduardo Duhalde
    ("Choi_Sung-hong", "Sung_Hong_Choi"),
)


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


@dataclass(frozen=True)
class ImpostorCalibration:
    """The calibration table, the impostor distances it was built from ``(P,) float32``, and
    the LFW label-error pairs left out (names)."""

    calibration: Any  # countenance.gallery.Calibration
    distances: np.ndarray
    excluded_pairs: tuple[tuple[str, str], ...]
    people: int


def lfw_impostor_calibration(templates: LfwTemplates, *, extra: Mapping[str, Any] | None = None) -> ImpostorCalibration:
    """The false-match-rate table of ``templates``' model from all pairs of its people (one
    template each; people without a template are left out, as are :data:`LFW_SAME_PERSON`)."""
    from ..gallery.calibration import build_calibration

    ok = templates.ok
    vectors = templates.vectors[ok].astype(np.float64)
    people = [p for p, good in zip(templates.people, ok, strict=True) if good]
    row = {person: i for i, person in enumerate(people)}
    excluded = tuple(pair for pair in LFW_SAME_PERSON if pair[0] in row and pair[1] in row)
    exclude = {tuple(sorted((row[a], row[b]))) for a, b in excluded}
    distances = impostor_distances(vectors, templates.metric, exclude)
    distances = distances[np.isfinite(distances)]
    calibration = build_calibration(
        distances,
        model=templates.model,
        metric=templates.metric,
        source=f"LFW deep-funneled, first image of each of {len(people)} people, all {distances.size} pairs "
               f"but {len(excluded)} LFW label errors (scripts/calibrate.py)",
        extra={**(extra or {}), "people": len(people), "excluded_pairs": [list(pair) for pair in excluded]},
    )
    return ImpostorCalibration(calibration, distances, excluded, len(people))


def restrict_templates(templates: LfwTemplates, *, people: Collection[str] | None = None, first_only: bool = False) -> LfwTemplates:
    """The templates of ``people`` (None: everyone), in order; ``first_only``: each person's
    first image only (:func:`~countenance.evaluate.lfw_image_paths` order puts it first)."""
    keep, seen = [], set()
    for i, person in enumerate(templates.people):
        if people is not None and person not in people:
            continue
        if first_only and person in seen:
            continue
        seen.add(person)
        keep.append(i)
    return LfwTemplates(
        [templates.paths[i] for i in keep], templates.vectors[keep], [templates.people[i] for i in keep],
        templates.model, templates.metric,
    )


def lfw_subject_calibration(
    templates: LfwTemplates, *, people: Collection[str] | None = None, extra: Mapping[str, Any] | None = None
) -> tuple[ImpostorCalibration, SubjectImpostorRates]:
    """The per-comparison table of :func:`lfw_impostor_calibration` (first image of each of
    ``people``) with the effective number of templates measured on all their images
    (:func:`~countenance.evaluate.subject_calibration.subject_impostor_rates`) attached."""
    from dataclasses import replace

    from ..gallery.effective import EffectiveTemplates

    first = restrict_templates(templates, people=people, first_only=True)
    every = restrict_templates(templates, people=people)
    base = lfw_impostor_calibration(first, extra=extra)
    ok = every.ok
    rates = subject_impostor_rates(
        every.vectors[ok], [p for p, good in zip(every.people, ok, strict=True) if good], templates.metric,
        same_person=LFW_SAME_PERSON,
    )
    effective = EffectiveTemplates(
        rates.templates, rates.distances, rates.effective,
        source=f"LFW, all {int(ok.sum())} images as impostor probes against the {int(rates.subjects[0])} "
               "people with 2+ images (countenance.evaluate.subject_calibration)",
    )
    calibration = replace(base.calibration, effective=effective)
    return ImpostorCalibration(calibration, base.distances, base.excluded_pairs, base.people), rates
