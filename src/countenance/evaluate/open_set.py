"""Open-set identification through a real gallery: any enrolment and probe sets, faces embedded once.

:func:`search_gallery` enrols the given subjects (each with one or more images, as
``EmbeddedImage``: faces already carrying templates) in a temporary gallery (SQLite + FAISS, the
gallery's own calibrated threshold), searches it with every probe, and measures:

- the CMC (rank 1..R): mated probes whose right subject is among the first ``r`` candidates;
- FNIR at FPIR, with the threshold set empirically on the non-mated probes
  (:func:`~countenance.calibration.rates.fnir_at_fpir`);
- at the gallery's own threshold for each target FPIR: the FPIR it expects, the FPIR measured
  on the non-mated probes (with a 95% Wilson interval), the false names and the FNIR. For the
  policy's target the gallery's own decisions are counted; for the others, the same rule
  (:func:`~countenance.decide.open_set_decision`, tie margin included) applied to each probe's
  candidates at the gallery's threshold for that target.

Two counts per non-mated probe, because the gallery's answer has three outcomes (a name,
"ambiguous", "unknown"):

- a *false positive* (what FPIR counts, as NIST FRTE defines it: a non-mated search that
  returns a candidate within the threshold) is a name or an "ambiguous" answer: both show the
  operator an enrolled person as a possible match. This is what the calibration predicts;
- a *false name* is a name only: the tie rule turns some false positives into "ambiguous",
  so false names are at most the false positives.

A mated probe is "named correctly" when the gallery names its first face as the right subject
("ambiguous" is not a name: FNIR counts it as a miss); a probe without a face counts as not
named (a miss when mated).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..faces import ModelSpec
from ..decide import open_set_decision
from ..calibration.rates import fnir_at_fpir
from .metrics import cmc, wilson_interval

__all__ = ["Probe", "FnirAtFpir", "GalleryThresholdPoint", "OpenSetReport", "search_gallery"]

#: Why a rate is undefined (NaN in the report, null in its JSON document).
NO_NON_MATED = "no non-mated probes (give --unenrolled-dir, or probe folders of people not enrolled)"
NO_MATED = "no mated probes (probe folders of people enrolled from the gallery folder)"


def _finite(value: float, digits: int) -> float | None:
    """``value`` rounded, or None (JSON null) when it is NaN or infinite: an undefined rate."""
    return round(value, digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class Probe:
    """One search: ``image`` (an ``EmbeddedImage``) and the subject it shows (None: nobody enrolled)."""

    image: Any
    truth: str | None


@dataclass(frozen=True)
class FnirAtFpir:
    """FNIR at an FPIR measured on the non-mated probes, and the distance threshold giving it."""

    fpir: float
    fnir: float
    threshold: float


@dataclass(frozen=True)
class GalleryThresholdPoint:
    """At the gallery's threshold for ``target_fpir``: what its calibration expects and what was measured."""

    target_fpir: float
    threshold: float
    expected_fpir: float | None
    measured_fpir: float
    fpir_interval: tuple[float, float]
    false_positives: int
    fnir: float
    false_names: int = 0

    @property
    def ratio(self) -> float:
        """measured FPIR / target."""
        return self.measured_fpir / self.target_fpir


@dataclass(frozen=True)
class OpenSetReport:
    """What :func:`search_gallery` measured (rates in [0, 1], distances in the model's metric)."""

    model: str
    subjects: int
    templates: int
    templates_per_subject: tuple[tuple[int, int], ...]
    mated_probes: int
    non_mated_probes: int
    probes_without_face: int
    cmc: tuple[float, ...]
    fnir_at_fpir: tuple[FnirAtFpir, ...]
    at_gallery_threshold: tuple[GalleryThresholdPoint, ...]
    calibration: str
    seconds: float

    def undefined(self) -> dict[str, str]:
        """``{field: why}`` for the figures with nothing to measure them on (NaN here, null in
        :meth:`to_dict`): FPIR without non-mated probes; FNIR and the CMC without mated ones."""
        why: dict[str, str] = {}
        if not self.mated_probes:
            why.update(cmc=NO_MATED, fnir=NO_MATED, fnir_at_fpir=NO_MATED)
        if not self.non_mated_probes:
            why.update(measured_fpir=NO_NON_MATED, fnir_at_fpir=NO_NON_MATED)
        return why

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "subjects": self.subjects,
            "templates": self.templates,
            "templates_per_subject": {str(k): n for k, n in self.templates_per_subject},
            "mated_probes": self.mated_probes,
            "non_mated_probes": self.non_mated_probes,
            "probes_without_face": self.probes_without_face,
            "cmc": [_finite(v, 4) for v in self.cmc],
            "fnir_at_fpir": [{"fpir": p.fpir, "fnir": _finite(p.fnir, 4), "threshold": _finite(p.threshold, 4)}
                             for p in self.fnir_at_fpir],
            "at_gallery_threshold": [
                {
                    "target_fpir": p.target_fpir,
                    "threshold": round(p.threshold, 4),
                    "expected_fpir": None if p.expected_fpir is None else round(p.expected_fpir, 6),
                    "measured_fpir": _finite(p.measured_fpir, 6),
                    "fpir_95": [round(v, 6) for v in p.fpir_interval] if self.non_mated_probes else None,
                    "false_positives": p.false_positives,
                    "ratio_to_target": _finite(p.ratio, 3),
                    "false_names": p.false_names,
                    "fnir": _finite(p.fnir, 4),
                }
                for p in self.at_gallery_threshold
            ],
            "calibration": self.calibration,
            "seconds": round(self.seconds, 1),
            "undefined": self.undefined(),
        }


def search_gallery(
    spec: ModelSpec,
    enrol: Mapping[str, Sequence[Any]],
    probes: Sequence[Probe],
    *,
    calibration: Any = None,
    fpirs: Sequence[float] = (0.01, 0.001),
    targets: Sequence[float] = (0.01, 0.001),
    ranks: int = 10,
) -> OpenSetReport:
    """Enrol ``enrol`` (subject -> images, each an ``EmbeddedImage``), search with ``probes``,
    measure (module docstring). ``calibration``: a :class:`~countenance.calibration.Calibration`
    (default: the one shipped for ``spec``'s model); ``targets``: the target FPIRs at which the
    gallery's own threshold is checked (the first is the policy's); ``fpirs``: where FNIR is
    measured at an empirical threshold."""
    from ..gallery import Gallery, Policy

    if not enrol:
        raise InvalidArgument("nobody to enrol: the gallery folder has no person with a usable face")
    if ranks < 1:
        raise InvalidArgument(f"ranks must be >= 1, got {ranks}")
    start = time.perf_counter()
    # top_k >= 2: the runner-up decides ties at every target.
    policy = Policy(consent_required=False, keep_crops=False, target_fpir=targets[0] if targets else 0.01, top_k=max(ranks, 2))
    # A throwaway gallery: on tmpfs where there is one, so that the audit entry each search
    # commits (synchronous=FULL) does not wait for a disk.
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=scratch) as tmp, Gallery.create(
        Path(tmp) / "gallery", model=spec, policy=policy, actor="eval", calibration=calibration
    ) as gallery:
        for name, images in sorted(enrol.items()):
            # A benchmark enrols every subject as labelled: lookalikes (LFW has some) must not be
            # refused as one face under two names, or the protocol would change with the data.
            gallery.enroll(name, list(images), allow_duplicate=True, allow_mixed=True)
        gallery.flush()
        per_subject = gallery.templates_per_subject()
        thresholds = [gallery.threshold(fpir=t) for t in targets]
        expected = [gallery.calibration.identification_fpir(t, per_subject) if gallery.calibration else None for t in thresholds]
        tie_margin = gallery.model.tie_margin
        top, right, rank, outcomes, found_lists, faceless = [], [], [], [], [], 0
        for probe in probes:
            faces = gallery.identify(probe.image).faces
            if not faces:
                faceless += 1
                top.append(np.inf), right.append(False), rank.append(0), outcomes.append((None, False)), found_lists.append(((), ()))
                continue
            found = [c.subject for c in faces[0].candidates]
            top.append(faces[0].candidates[0].distance if found else np.inf)
            right.append(bool(found) and found[0] == probe.truth)
            rank.append(found.index(probe.truth) + 1 if probe.truth in found else 0)
            outcomes.append((faces[0].decision, faces[0].ambiguous))
            found_lists.append(([c.distance for c in faces[0].candidates], found))
        calibration_source = gallery.calibration.source if gallery.calibration is not None else "none (model threshold)"
        templates = gallery.template_count
    mated = np.array([p.truth is not None for p in probes], dtype=bool)
    top_d, right_a, rank_a = np.array(top, dtype=np.float64), np.array(right, dtype=bool), np.array(rank, dtype=np.int64)
    truths = [p.truth for p in probes]
    non_mated = int((~mated).sum())
    points = []
    for target, threshold, expect in zip(targets, thresholds, expected, strict=True):
        if target != policy.target_fpir:  # the gallery's rule at this target's threshold
            decided = [open_set_decision(d, s, threshold, tie_margin=tie_margin) for d, s in found_lists]
            at_target = [(n.label, n.ambiguous) for n in decided]
        else:  # the gallery's own decisions
            at_target = outcomes
        fp = sum(1 for m, (name, ambiguous) in zip(mated, at_target, strict=True) if not m and (name is not None or ambiguous))
        false_names = sum(1 for m, (name, _) in zip(mated, at_target, strict=True) if not m and name is not None)
        measured = fp / non_mated if non_mated else float("nan")
        misses = [name != truth for m, (name, _), truth in zip(mated, at_target, truths, strict=True) if m]
        fnir = float(np.mean(misses)) if misses else float("nan")
        points.append(GalleryThresholdPoint(
            float(target), float(threshold), expect, float(measured), wilson_interval(fp, non_mated), fp, fnir, false_names,
        ))
    empirical = []
    for f in fpirs:  # without non-mated probes there is no threshold to set: NaN (undefined)
        t, fnir = fnir_at_fpir(top_d[mated], right_a[mated], top_d[~mated], f) if (~mated).any() else (np.nan, np.nan)
        empirical.append(FnirAtFpir(float(f), float(fnir), float(t)))
    return OpenSetReport(
        model=spec.name,
        subjects=sum(per_subject.values()),
        templates=templates,
        templates_per_subject=tuple(sorted(per_subject.items())),
        mated_probes=int(mated.sum()),
        non_mated_probes=int((~mated).sum()),
        probes_without_face=faceless,
        cmc=tuple(float(v) for v in cmc(rank_a[mated], ranks)),
        fnir_at_fpir=tuple(empirical),
        at_gallery_threshold=tuple(points),
        calibration=calibration_source,
        seconds=time.perf_counter() - start,
    )
