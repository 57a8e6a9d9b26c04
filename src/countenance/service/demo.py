"""The demo: enrol a folder of people in memory and name every face in the probe photos."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import datasets
from ..demo import EnrolledPeople, ProbeResult, enrol_people, identify_probes
from .options import PipelineFactory, PipelineOptions, build_pipeline
from .path_args import existing_folder

__all__ = ["DemoOptions", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoOptions:
    """``people``: one folder per person (None: the fixtures' people/); ``probes``: photos to
    identify (None: the fixtures' probes/); ``fixtures``: the folder holding both (None:
    ``datasets.fixtures_dir()``, found from the working directory or the package location)."""

    people: Path | None = None
    probes: Path | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    fixtures: Path | None = None


@dataclass(frozen=True)
class DemoResult:
    """Who was enrolled, every probe face with its decision, the threshold (a distance in
    ``metric``), and the probes that failed."""

    people_dir: Path
    enrolled: EnrolledPeople
    faces: tuple[ProbeResult, ...]
    failed: tuple[tuple[str, str], ...]
    threshold: float
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "enrolled": {
                "templates": len(self.enrolled.labels), "people": len(set(self.enrolled.labels)), "skipped": self.enrolled.skipped,
            },
            "threshold": self.faces[0].decision.threshold if self.faces else None,
            "threshold_rule": ("the model's fixed 1:1 threshold ('default'), against each enrolled photo: the demo has "
                               "no gallery, so no threshold set for a false-positive identification rate"),
            "faces": [
                {
                    "path": r.path,
                    "box": r.face.to_dict()["box"],
                    "decision": r.name,
                    "nearest": r.decision.nearest_label,
                    "distance": round(r.decision.distance, 4) if math.isfinite(r.decision.distance) else None,
                }
                for r in self.faces
            ],
            "failed": [{"path": p, "error": e} for p, e in self.failed],
        }


def run_demo(
    options: DemoOptions,
    *,
    pipelines: PipelineFactory = build_pipeline,
    on_enrol_start: Callable[[int], None] | None = None,
    on_probe_start: Callable[[int], None] | None = None,
    on_image: Callable[[Path], None] | None = None,
) -> DemoResult:
    """Enrol ``people/<name>/*`` (largest face of each photo) and identify every face of each probe
    at the model's default threshold (open set: strangers come out "unknown")."""
    from ..image import iter_image_files

    fixtures = options.fixtures if options.fixtures is not None else datasets.fixtures_dir()
    if options.fixtures is not None:
        existing_folder(fixtures, "--fixtures")
    people = options.people or fixtures / "people"
    probes = options.probes or fixtures / "probes"
    hint = "pass --fixtures DIR (the folder holding people/ and probes/) or set COUNTENANCE_SHARED"
    existing_folder(people, "--people", hint=hint)
    existing_folder(probes, "--probes", hint=hint)
    pipeline = pipelines(options.pipeline)
    if on_enrol_start:
        on_enrol_start(sum(1 for p in people.iterdir() if p.is_dir() for _ in iter_image_files(p)))
    enrolled = enrol_people(people, pipeline, on_image=on_image)
    probe_files = list(iter_image_files(probes))
    if on_probe_start:
        on_probe_start(len(probe_files))
    results, failed = identify_probes(probe_files, enrolled, pipeline, on_image=on_image)
    spec = pipeline.spec
    return DemoResult(people, enrolled, tuple(results), tuple(failed), float(spec.thresholds[spec.default_threshold]), str(spec.metric))
