"""The result of cleaning a data set: :class:`CleanReport` (findings, settings, timings) and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from .findings import AMBIGUOUS_FACE, KINDS, MISLABEL, NEAR_DUPLICATE, NO_FACE, OUTLIER, UNREADABLE, Finding
from .templates import PhotoFaces

__all__ = ["CleanReport", "REMOVED_KINDS", "REVIEW_KINDS"]

#: Kinds whose items a cleaned copy leaves out (of a near-duplicate group, all but the first).
REMOVED_KINDS = (MISLABEL, NO_FACE, AMBIGUOUS_FACE, UNREADABLE, NEAR_DUPLICATE)
#: Kinds whose items a cleaned copy keeps but a person should look at (an outlier may be a
#: hard photo of the right person).
REVIEW_KINDS = (OUTLIER,)


@dataclass(frozen=True, eq=False)
class CleanReport:
    """What :func:`~countenance.clean.clean_dataset` found in the data set at ``root``.

    ``cut_distance`` is the pair cut used (model metric), ``cut_fmr`` the stranger false-match
    rate it was taken at (None when given as a distance). ``records`` are the photos' faces
    (for the HTML report's crops; never written to JSON: templates are biometric data);
    ``chosen_faces`` maps each photo to the index of the face taken as its labelled person
    (-1: none).
    ``cache_hits`` / ``computed``: photos whose templates came from the cache / were computed.
    """

    root: str
    photos: int
    labels: int
    model: str
    detector: str
    metric: str
    cut_distance: float
    cut_fmr: float | None
    findings: tuple[Finding, ...]
    chosen_faces: Mapping[str, int]
    records: tuple[PhotoFaces, ...]
    cache_hits: int
    computed: int
    template_seconds: float
    check_seconds: float

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind listed, zeros included)."""
        return {kind: sum(1 for f in self.findings if f.kind == kind) for kind in KINDS}

    def of_kind(self, kind: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)

    def removed_items(self) -> dict[str, Finding]:
        """Item (photo path relative to the root) -> the finding that removes it from a cleaned copy.

        Mislabelled, faceless, ambiguous and unreadable photos, and every copy of a
        near-duplicate group but the first (the one with the most pixels).
        """
        removed: dict[str, Finding] = {}
        for finding in self.findings:
            if finding.kind not in REMOVED_KINDS:
                continue
            items = finding.items[1:] if finding.kind == NEAR_DUPLICATE else finding.items
            for item in items:
                removed.setdefault(item, finding)
        return removed

    def review_items(self) -> dict[str, Finding]:
        """Item -> the finding that asks a person to look at it (kept in a cleaned copy)."""
        return {item: f for f in self.findings if f.kind in REVIEW_KINDS for item in f.items}

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "photos": self.photos,
            "labels": self.labels,
            "model": self.model,
            "detector": self.detector,
            "metric": self.metric,
            "cut_distance": round(self.cut_distance, 4),
            "cut_fmr": self.cut_fmr,
            "counts": self.counts(),
            "removed": len(self.removed_items()),
            "to_review": len(self.review_items()),
            "cache_hits": self.cache_hits,
            "computed": self.computed,
            "template_seconds": round(self.template_seconds, 2),
            "check_seconds": round(self.check_seconds, 2),
            "findings": [f.to_dict() for f in self.findings],
        }
