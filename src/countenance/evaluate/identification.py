"""Open-set identification on LFW through a real gallery (SQLite + FAISS, calibrated threshold).

Protocol: the people with at least two images are enrolled with one image each (their
first); probes are their other images (mated: the answer should be them) and every image of
the people with a single image (non-mated: the answer should be "unknown"). Reported:

- rank-1 accuracy: mated probes whose first candidate is the right person (any distance);
- FNIR at FPIR (:func:`~countenance.evaluate.metrics.fnir_at_fpir`): the threshold is set on the
  non-mated probes so that that fraction of them get a name; FNIR is the fraction of mated
  probes not named correctly at it;
- the gallery's own decisions, at the threshold its calibration sets for its target FPIR at
  this gallery size: the measured FPIR against the target, and the FNIR.

Templates come from the LFW cache (:mod:`.lfw_templates`), so the gallery is fed cached
templates as faces already embedded (``EmbeddedImage``); everything after embedding is the gallery's own code.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..faces import Box, Face, ModelSpec, Template
from .lfw_templates import LfwTemplates
from .metrics import fnir_at_fpir
from .protocols import LFW_CENTRE_BOX

__all__ = ["FnirPoint", "IdentificationReport", "evaluate_lfw_identification"]


@dataclass(frozen=True)
class FnirPoint:
    """FNIR at one FPIR, and the threshold (a distance) that gives that FPIR."""

    fpir: float
    fnir: float
    threshold: float


@dataclass(frozen=True)
class IdentificationReport:
    """What :func:`evaluate_lfw_identification` measured (rates in [0, 1], distances in the model's metric)."""

    model: str
    enrolled_people: int
    templates: int
    mated_probes: int
    non_mated_probes: int
    images_without_template: int
    rank1_accuracy: float
    fnir_at_fpir: tuple[FnirPoint, ...]
    target_fpir: float
    default_threshold: float
    measured_fpir: float
    fnir_at_default: float
    index: Mapping[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "enrolled_people": self.enrolled_people,
            "templates": self.templates,
            "mated_probes": self.mated_probes,
            "non_mated_probes": self.non_mated_probes,
            "images_without_template": self.images_without_template,
            "rank1_accuracy": round(self.rank1_accuracy, 4),
            "fnir_at_fpir": {str(p.fpir): {"fnir": round(p.fnir, 4), "threshold": round(p.threshold, 4)} for p in self.fnir_at_fpir},
            "default_threshold": {
                "target_fpir": self.target_fpir,
                "threshold": round(self.default_threshold, 4),
                "measured_fpir": round(self.measured_fpir, 4),
                "fnir": round(self.fnir_at_default, 4),
            },
            "index": dict(self.index),
            "seconds": round(self.seconds, 1),
        }


def evaluate_lfw_identification(
    templates: LfwTemplates, images: Path, spec: ModelSpec, *, fpirs: Sequence[float] = (0.01, 0.003)
) -> IdentificationReport:
    """Run the protocol above on ``templates`` (of every LFW image under ``images``) in a
    temporary gallery of ``spec``'s model (consent not required: a benchmark, no crops kept)."""
    from ..gallery import EmbeddedImage, Gallery, Policy
    from ..hashing import sha256_file

    by_person: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(templates.paths):
        by_person[rel.split("/")[0]].append(rel)
    vector_of = {
        str((images / rel).resolve()): v for rel, v, ok in zip(templates.paths, templates.vectors, templates.ok, strict=True) if ok
    }
    without = int((~templates.ok).sum())

    def image(rel: str):
        """The cached template of an LFW image as that image's one face (centre box), or no face."""
        path = images / rel
        vector = vector_of.get(str(path.resolve()))
        faces = () if vector is None else (Face(box=Box(*LFW_CENTRE_BOX), detection_score=1.0, template=Template(vector, spec.name)),)
        return EmbeddedImage(faces, sha256_file(path), str(path.resolve()))

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Policy(consent_required=False, keep_crops=False)
        with Gallery.create(Path(tmp) / "lfw", model=spec, policy=policy, actor="eval") as gallery:
            enrolled, mated, nonmated = 0, [], []
            for person, files in sorted(by_person.items()):
                if len(files) >= 2:
                    # LFW files some people under two names: the protocol enrols every name as given.
                    if gallery.enroll(person, [image(files[0])], allow_duplicate=True).templates:
                        enrolled += 1
                        mated.extend((person, f) for f in files[1:])
                else:
                    nonmated.extend((None, f) for f in files)
            gallery.flush()
            threshold = gallery.threshold()
            target = gallery.policy.target_fpir
            n_templates = gallery.template_count

            def top1(probes: list[tuple[str | None, str]]) -> list[tuple[str | None, str | None, float, str | None]]:
                out = []
                for truth, rel in probes:
                    faces = gallery.identify(image(rel), k=1).faces
                    if not faces:
                        out.append((truth, None, np.inf, None))
                        continue
                    best = faces[0].candidates[0] if faces[0].candidates else None
                    out.append((truth, best.subject if best else None, best.distance if best else np.inf, faces[0].decision))
                return out

            mated_results, nonmated_results = top1(mated), top1(nonmated)
            info = gallery.info()
    info_document = info.to_dict() if hasattr(info, "to_dict") else dict(info)
    mated_top = np.array([d for _, _, d, _ in mated_results], dtype=np.float64)
    mated_right = np.array([truth == who for truth, who, _, _ in mated_results], dtype=bool)
    nonmated_top = np.array([d for _, _, d, _ in nonmated_results], dtype=np.float64)
    points = []
    for fpir in fpirs:
        t, fnir = fnir_at_fpir(mated_top, mated_right, nonmated_top, fpir)
        points.append(FnirPoint(float(fpir), fnir, t))
    return IdentificationReport(
        model=spec.name,
        enrolled_people=enrolled,
        templates=n_templates,
        mated_probes=len(mated_results),
        non_mated_probes=len(nonmated_results),
        images_without_template=without,
        rank1_accuracy=float(mated_right.mean()) if mated_right.size else float("nan"),
        fnir_at_fpir=tuple(points),
        target_fpir=target,
        default_threshold=float(threshold),
        measured_fpir=float(np.mean([dec is not None for *_, dec in nonmated_results])) if nonmated_results else float("nan"),
        fnir_at_default=float(np.mean([dec != truth for truth, _, _, dec in mated_results])) if mated_results else float("nan"),
        index=info_document["index"],
        seconds=time.perf_counter() - start,
    )
