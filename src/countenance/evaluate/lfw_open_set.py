"""Do the gallery's open-set thresholds hold? LFW protocols over :func:`.open_set.search_gallery`.

Two enrolments, both probed with the held-out images of the enrolled people (mated) and
every image of the people with a single image (non-mated):

- ``one``: every person with at least 2 images is enrolled with one (their first); the other
  images are mated probes (the protocol of :mod:`.identification`);
- ``all-but-one``: every person with at least 4 images is enrolled with all their images but
  the last, which is the mated probe (3 to 529 templates per subject).

Calibrating and measuring on the same people is in-sample, so each protocol runs twice more
with the people split in two halves (a seeded shuffle of the names): the calibration (the
per-comparison table from each calibrating person's first image, the effective number of
templates from all their images) is measured on one half and the gallery built from the other,
then the halves swap. The false positives of both directions are pooled; the non-mated probes
of one direction are the single-image people of its half only. The in-sample run uses the
table shipped with the package (measured on all of LFW).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..faces import Box, Face, ModelSpec, Template
from ..calibration import lfw_subject_calibration
from .lfw_templates import LfwTemplates
from .metrics import wilson_interval
from .open_set import OpenSetReport, Probe, search_gallery
from .protocols import LFW_CENTRE_BOX

__all__ = ["PROTOCOLS", "SplitRun", "LfwOpenSetReport", "lfw_open_set", "split_people"]

PROTOCOLS = ("one", "all-but-one")


@dataclass(frozen=True)
class SplitRun:
    """One direction of the split: calibrated on ``calibrated_on`` people, measured on the others."""

    calibrated_on: int
    report: OpenSetReport


@dataclass(frozen=True)
class LfwOpenSetReport:
    """The in-sample run and both split directions of one protocol, with the pooled split FPIRs."""

    protocol: str
    in_sample: OpenSetReport
    splits: tuple[SplitRun, ...]
    seed: int

    def pooled(self) -> list[dict[str, Any]]:
        """Per target FPIR: false positives and non-mated probes summed over the split directions."""
        out = []
        for i, point in enumerate(self.in_sample.at_gallery_threshold):
            fp = sum(s.report.at_gallery_threshold[i].false_positives for s in self.splits)
            false_names = sum(s.report.at_gallery_threshold[i].false_names for s in self.splits)
            n = sum(s.report.non_mated_probes for s in self.splits)
            fnir = [s.report.at_gallery_threshold[i].fnir for s in self.splits]
            mated = [s.report.mated_probes for s in self.splits]
            measured = fp / n if n else float("nan")
            low, high = wilson_interval(fp, n)
            out.append({
                "target_fpir": point.target_fpir,
                "false_positives": fp,
                "non_mated_probes": n,
                "measured_fpir": round(measured, 6),
                "fpir_95": [round(low, 6), round(high, 6)],
                "ratio_to_target": round(measured / point.target_fpir, 3),
                "false_names": false_names,
                "fnir": round(float(np.average(fnir, weights=mated)), 4) if sum(mated) else None,
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "in_sample": self.in_sample.to_dict(),
            "split": {
                "seed": self.seed,
                "directions": [{"calibrated_on_people": s.calibrated_on, **s.report.to_dict()} for s in self.splits],
                "pooled": self.pooled(),
            },
        }


def split_people(people: Sequence[str], seed: int = 0) -> tuple[frozenset[str], frozenset[str]]:
    """The distinct names of ``people`` shuffled with ``seed`` and cut in two halves."""
    names = sorted(set(people))
    order = np.random.default_rng(seed).permutation(len(names))
    half = len(names) // 2
    return frozenset(names[i] for i in order[:half]), frozenset(names[i] for i in order[half:])


def _protocol_sets(
    templates: LfwTemplates, images: Path, spec: ModelSpec, protocol: str, people: frozenset[str] | None
) -> tuple[dict[str, list[Any]], list[Probe]]:
    from ..gallery import EmbeddedImage
    from ..hashing import sha256_file

    by_person: dict[str, list[int]] = defaultdict(list)
    for i, person in enumerate(templates.people):
        if people is None or person in people:
            by_person[person].append(i)

    def image(i: int) -> Any:
        """The cached template of an LFW image as that image's one face (centre box), or no face."""
        path = images / templates.paths[i]
        faces = ()
        if templates.ok[i]:
            faces = (Face(box=Box(*LFW_CENTRE_BOX), detection_score=1.0, template=Template(templates.vectors[i], spec.name)),)
        return EmbeddedImage(faces, sha256_file(path), str(path.resolve()))

    enrol: dict[str, list[Any]] = {}
    probes: list[Probe] = []
    for person, rows in sorted(by_person.items()):
        rows = sorted(rows, key=lambda i: templates.paths[i])
        if len(rows) == 1:
            probes.append(Probe(image(rows[0]), None))
        elif protocol == "one":
            enrol[person] = [image(rows[0])]
            probes.extend(Probe(image(i), person) for i in rows[1:])
        elif len(rows) >= 4:
            enrol[person] = [image(i) for i in rows[:-1]]
            probes.append(Probe(image(rows[-1]), person))
    # A subject none of whose enrolment images had a face is not enrolled: its probes are dropped.
    usable = {p for p, imgs in enrol.items() if any(img.faces for img in imgs)}
    return {p: enrol[p] for p in usable}, [q for q in probes if q.truth is None or q.truth in usable]


def lfw_open_set(
    templates: LfwTemplates,
    images: Path,
    spec: ModelSpec,
    *,
    protocol: str = "all-but-one",
    targets: Sequence[float] = (0.01, 0.001),
    seed: int = 0,
    splits: bool = True,
) -> LfwOpenSetReport:
    """Run ``protocol`` (module docstring) on ``templates`` (of every LFW image under ``images``):
    in-sample with the shipped calibration, then (``splits``) calibrated on each half of the
    people and measured on the other."""
    if protocol not in PROTOCOLS:
        raise InvalidArgument(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    enrol, probes = _protocol_sets(templates, images, spec, protocol, None)
    in_sample = search_gallery(spec, enrol, probes, targets=targets)
    runs = []
    if splits:
        halves = split_people(templates.people, seed)
        for calibrate_on, measure_on in (halves, halves[::-1]):
            ok = templates.ok
            calibration, _ = lfw_subject_calibration(
                templates.vectors[ok], [p for p, good in zip(templates.people, ok, strict=True) if good],
                model=templates.model, metric=templates.metric, subset=calibrate_on,
            )
            enrol, probes = _protocol_sets(templates, images, spec, protocol, measure_on)
            report = search_gallery(spec, enrol, probes, calibration=calibration.calibration, targets=targets)
            runs.append(SplitRun(len(calibrate_on), report))
    return LfwOpenSetReport(protocol, in_sample, tuple(runs), seed)
