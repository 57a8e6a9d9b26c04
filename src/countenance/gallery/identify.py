"""Open-set identification and verification results, and the pure function that ranks candidates.

A search returns the nearest *templates*; a person may have several, so candidates are
ranked per *subject* by their nearest template. The decision over them is
:func:`countenance.decide.open_set_decision`: the first candidate when its distance is within
the threshold, else ``None`` ("unknown"). A face smaller than the model's minimum is not
searched: "too small to identify".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..faces import Box

__all__ = ["TOO_SMALL", "Candidate", "FaceIdentification", "Identification", "Verification", "rank_subjects"]


@dataclass(frozen=True)
class Candidate:
    """A subject a face may be.

    ``distance`` is in the model's metric to the subject's nearest template (lower is more
    alike); ``similarity`` is the cosine similarity to that template in [-1, 1];
    ``expected_false_match_rate`` is the calibrated per-comparison FMR at ``distance`` (how
    often a stranger's face comes this close to one template), None without a calibration.
    """

    subject: str
    distance: float
    similarity: float
    expected_false_match_rate: float | None
    template_id: int

    def to_dict(self) -> dict[str, Any]:
        fmr = self.expected_false_match_rate
        return {
            "subject": self.subject,
            "similarity": round(self.similarity, 6),
            "distance": round(self.distance, 6),
            "expected_false_match_rate": float(f"{fmr:.3g}") if fmr is not None else None,
        }


#: The decision for a face smaller than the model's documented minimum (no name is guessed).
TOO_SMALL = "too small to identify"


@dataclass(frozen=True)
class FaceIdentification:
    """One face of a probe: its box, the decision (a subject, or None), the top candidates.

    ``decision`` is None for "unknown" and when ``ambiguous``: the two nearest subjects were
    within the model's tie margin of each other (see :func:`countenance.decide.open_set_decision`),
    so the gallery does not pick one; both are the first candidates. It is None as well when
    ``too_small``: the face's ``inter_ocular_px`` (pixels between the eye centres, in the image
    as given) is below the model's :attr:`~countenance.faces.ModelSpec.min_interocular_px`,
    where the model no longer meets its error rates; such a face is not searched, so it has
    no candidates. ``inter_ocular_px`` is None when the face had no landmarks.

    ``low_confidence``: the face is under the model's measured minimum size but was searched
    and decided as any other (the gallery's policy sets no ``min_face_px`` refusal): below the
    minimum the model misses more of the people it knows, its false-match rate does not rise.
    """

    box: Box
    decision: str | None
    candidates: tuple[Candidate, ...]
    ambiguous: bool = False
    too_small: bool = False
    inter_ocular_px: float | None = None
    low_confidence: bool = False
    low_confidence_reason: str | None = None

    @property
    def name(self) -> str:
        if self.decision is not None:
            return self.decision
        return TOO_SMALL if self.too_small else ("ambiguous" if self.ambiguous else "unknown")

    @property
    def outcome(self) -> str:
        """``"match"``, ``"ambiguous"``, ``"too-small"`` or ``"unknown"``."""
        if self.decision is not None:
            return "match"
        return "too-small" if self.too_small else ("ambiguous" if self.ambiguous else "unknown")

    def to_dict(self) -> dict[str, Any]:
        iod = self.inter_ocular_px
        return {
            "box": [round(v, 1) for v in self.box.to_list()],
            "decision": self.name,
            "outcome": self.outcome,
            "inter_ocular_px": None if iod is None else round(iod, 1),
            "low_confidence": self.low_confidence,
            "low_confidence_reason": self.low_confidence_reason,
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class Identification:
    """Every face of one probe image, searched against ``templates`` enrolled templates.

    ``threshold`` is the distance at which a candidate is accepted; ``target_fpir`` the false
    positive identification rate it was set for (None when given directly or uncalibrated);
    ``min_interocular_px`` the model's smallest identifiable face (None: no limit).
    """

    query_sha256: str
    faces: tuple[FaceIdentification, ...]
    threshold: float
    target_fpir: float | None
    templates: int
    path: str | None = None
    min_interocular_px: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.query_sha256,
            "threshold": round(self.threshold, 6),
            "target_fpir": self.target_fpir,
            "templates": self.templates,
            "min_interocular_px": self.min_interocular_px,
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass(frozen=True)
class Verification:
    """Is the largest face of a probe the enrolled ``subject``? (1:1 against their templates)"""

    subject: str
    same: bool
    distance: float
    similarity: float
    threshold: float
    expected_false_match_rate: float | None
    box: Box
    query_sha256: str
    threshold_rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        fmr = self.expected_false_match_rate
        return {
            "subject": self.subject,
            "same": self.same,
            "distance": round(self.distance, 6),
            "similarity": round(self.similarity, 6),
            "threshold": round(self.threshold, 6),
            "threshold_rule": self.threshold_rule,
            "expected_false_match_rate": float(f"{fmr:.3g}") if fmr is not None else None,
            "box": [round(v, 1) for v in self.box.to_list()],
            "sha256": self.query_sha256,
        }


def rank_subjects(
    distances: np.ndarray, template_ids: np.ndarray, subject_of: dict[int, str], k: int
) -> list[tuple[str, float, int]]:
    """The ``k`` nearest subjects as ``(subject, distance, template id)``, nearest first.

    ``distances`` and ``template_ids`` are one query's search row (``(m,)``, padded with
    ``inf`` / ``-1``); each subject counts once, at its nearest template. Ids missing from
    ``subject_of`` (deleted since the index was read) are dropped. Ties keep search order.
    """
    best: dict[str, tuple[float, int]] = {}
    for distance, template_id in zip(np.asarray(distances, dtype=np.float64).tolist(), np.asarray(template_ids).tolist(), strict=True):
        subject = subject_of.get(int(template_id)) if template_id >= 0 else None
        if subject is None or not np.isfinite(distance):
            continue
        if subject not in best or distance < best[subject][0]:
            best[subject] = (distance, int(template_id))
    ranked = sorted(best.items(), key=lambda item: item[1][0])
    return [(subject, distance, template_id) for subject, (distance, template_id) in ranked[:k]]

