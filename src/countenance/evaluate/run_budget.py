"""``countenance eval budget``: the most accurate pipeline within 100 / 500 / 1000 ms per image.

FRUITS-style (WebFace260M): the whole pipeline per image (decode, detect, landmarks, align,
embed) is timed on ONE thread (ONNX Runtime 1 intra-op thread, OpenCV set to 1 thread for the
run; dlib is single-threaded), after ``warmup`` untimed images, over ``repeats`` rounds of
``timing_images`` LFW images; the figure is the median over all timed runs, with the CPU model
from ``/proc/cpuinfo``. The 10th percentile is reported beside it: FRUITS' own statistic (the
6th fastest of 50 runs) is about that, and it is the steadier one on a shared machine. Accuracy per pipeline: LFW verification over the chosen folds (k-fold
accuracy and FNMR at FMR = ``target_fmr``, see :mod:`.pairs`).

``dlib`` and ``dlib-onnx`` run the same network on the same chips (templates equal within
cosine 0.99999), so the LFW figures of ``dlib`` are those of ``dlib-onnx`` with the same
detector (``accuracy_from`` says so); only their latency is measured separately.

``dlib-onnx-int8`` (:mod:`.quantize`, calibrated on LFW images of people outside the pairs) is
admitted only when its templates keep cosine >= ``int8_min_cosine`` to fp32 on the 1st
percentile of LFW chips and its LFW accuracy is within ``int8_max_accuracy_drop`` of fp32.

The frontier: pipelines no other pipeline beats on both latency and FNMR at the target FMR.
For each budget, the chosen pipeline is the one with the lowest FNMR that fits (ties: higher
accuracy, then lower latency).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from .choice import PipelineChoice, build_embedder, build_face_detector, embedding_spec
from .condition_pairs import score_condition
from .quantize import TemplateAgreement, ensure_int8_model, template_agreement
from .variant_templates import Variant, counted_progress, embed_variant, lfw_run, reembed

__all__ = ["BudgetOptions", "PipelineRow", "BudgetChoice", "BudgetResult", "run_budget", "frontier", "choose_for_budget",
           "cpu_model", "time_pipeline"]

_DEFAULT_DETECTORS = (
    # YuNet runs LFW's 250 px images at their own size from 320 up: 640 stands for both (and shares
    # its LFW templates with the masks and degradation runs).
    PipelineChoice("hog"), PipelineChoice("yunet", detector_size=640), PipelineChoice("yunet", detector_size=160),
    PipelineChoice("yunet", detector_size=96), PipelineChoice("ultraface", detector_size=320),
    PipelineChoice("ultraface", detector_size=640),
)


@dataclass(frozen=True)
class BudgetOptions:
    """What :func:`run_budget` measures. ``detectors`` give detector and size (their embedder is ignored)."""

    budgets_ms: tuple[float, ...] = (100.0, 500.0, 1000.0)
    detectors: tuple[PipelineChoice, ...] = _DEFAULT_DETECTORS
    embedders: tuple[str, ...] = ("dlib", "dlib-onnx", "dlib-onnx-int8")
    lfw_dir: Path | None = None
    folds: tuple[int, ...] | None = None
    target_fmr: float = 1e-3
    timing_images: int = 10
    repeats: int = 3
    warmup: int = 3
    int8_min_cosine: float = 0.999
    int8_max_accuracy_drop: float = 0.001
    calibration_images: int = 256
    cache_dir: Path | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.budgets_ms or any(not b > 0 for b in self.budgets_ms):
            raise InvalidArgument(f"budgets must be positive milliseconds, got {self.budgets_ms!r}")
        if self.timing_images < 1 or self.repeats < 1 or self.warmup < 0:
            raise InvalidArgument("timing_images and repeats must be >= 1, warmup >= 0")


@dataclass(frozen=True)
class PipelineRow:
    """One pipeline: median latency (ms, one thread) and LFW figures (None when not admitted)."""

    pipeline: PipelineChoice
    median_ms: float
    p90_ms: float
    p10_ms: float
    accuracy: float | None
    fnmr_at_fmr: float | None
    accuracy_from: str
    admitted: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline.name, "median_ms": round(self.median_ms, 2), "p90_ms": round(self.p90_ms, 2),
                "p10_ms": round(self.p10_ms, 2),
                "accuracy": self.accuracy, "fnmr_at_fmr": self.fnmr_at_fmr, "accuracy_from": self.accuracy_from,
                "admitted": self.admitted, "note": self.note}


@dataclass(frozen=True)
class BudgetChoice:
    """The pipeline chosen for ``budget_ms``, or None when none fits."""

    budget_ms: float
    row: PipelineRow | None

    def to_dict(self) -> dict[str, Any]:
        return {"budget_ms": self.budget_ms, "chosen": None if self.row is None else self.row.to_dict()}


@dataclass(frozen=True)
class BudgetResult:
    cpu: str
    pairs: int
    folds: tuple[int, ...] | None
    target_fmr: float
    rows: tuple[PipelineRow, ...]
    frontier: tuple[PipelineRow, ...]
    choices: tuple[BudgetChoice, ...]
    int8: TemplateAgreement | None
    timing: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu, "threads": 1, "timing": self.timing,
            "protocol": "LFW pairs.txt; latency = decode + detect + landmarks + align + embed, one thread",
            "pairs": self.pairs, "folds": None if self.folds is None else list(self.folds), "target_fmr": self.target_fmr,
            "pipelines": [r.to_dict() for r in self.rows],
            "frontier": [r.pipeline.name for r in self.frontier],
            "budgets": [c.to_dict() for c in self.choices],
            "int8_agreement": None if self.int8 is None else self.int8.to_dict(),
            "seconds": round(self.seconds, 1),
        }


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``"unknown"`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _key(row: PipelineRow) -> tuple[float, float, float]:
    return (row.fnmr_at_fmr if row.fnmr_at_fmr is not None else 2.0, -(row.accuracy or 0.0), row.median_ms)


def frontier(rows: Sequence[PipelineRow]) -> tuple[PipelineRow, ...]:
    """Admitted rows not beaten on both latency and FNMR by another, fastest first."""
    ranked = sorted((r for r in rows if r.admitted and r.fnmr_at_fmr is not None), key=lambda r: (r.median_ms, _key(r)))
    out, best = [], float("inf")
    for row in ranked:
        if row.fnmr_at_fmr < best:
            out.append(row)
            best = row.fnmr_at_fmr
    return tuple(out)


def choose_for_budget(rows: Sequence[PipelineRow], budget_ms: float) -> BudgetChoice:
    """The admitted row with the lowest FNMR (then highest accuracy, lowest latency) within ``budget_ms``."""
    fitting = [r for r in rows if r.admitted and r.fnmr_at_fmr is not None and r.median_ms <= budget_ms]
    return BudgetChoice(float(budget_ms), min(fitting, key=_key, default=None))


def time_pipeline(choice: PipelineChoice, images: Sequence[bytes], *, repeats: int, warmup: int) -> list[float]:
    """Milliseconds per image, one thread: every image ``repeats`` times after ``warmup`` untimed images."""
    import cv2

    from ..embedding import embed_faces
    from ..image import load_image

    detector = build_face_detector(choice, threads=1)
    embedder = build_embedder(choice, threads=1)

    def once(data: bytes) -> None:
        pixels = load_image(data)
        faces = detector.detect(pixels)
        if faces:
            embed_faces(embedder, pixels, faces[:1])

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the benchmark's own setting, restored below
    try:
        for k in range(warmup):
            once(images[k % len(images)])
        times = []
        for _ in range(repeats):
            for data in images:
                start = time.perf_counter()
                once(data)
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        cv2.setNumThreads(previous)
    return times


def _calibration_chips(root: Path, exclude: set[str], count: int) -> np.ndarray:
    """dlib chips of the first ``count`` LFW images (sorted) of people outside the pairs, found by YuNet."""
    from ..backends.dlib_onnx_embedder import DlibOnnxEmbedder
    from .protocols import central_subject
    from ..image import load_image

    people = {Path(n).parent.as_posix() for n in exclude}
    detector = build_face_detector(PipelineChoice("yunet"))
    embedder = DlibOnnxEmbedder()
    chips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in people):
        for path in sorted(folder.glob("*.jpg"))[:1]:
            pixels = load_image(path)
            face = central_subject(detector.detect(pixels), pixels.shape[1], pixels.shape[0])
            if face is not None:
                chips.append(embedder.chips(pixels, [face])[0])
        if len(chips) >= count:
            break
    return np.stack(chips)


def run_budget(options: BudgetOptions, on_progress: Callable[[str, int, int], None] | None = None) -> BudgetResult:
    """Time and measure every detector x embedder of ``options``; choose for each budget."""
    from ..backends.dlib_onnx_embedder import DlibOnnxEmbedder

    start = time.perf_counter()
    root, pairs, xs, ys, names, cache = lfw_run(options.lfw_dir, options.folds, options.cache_dir)
    timing_files = [(root / n).read_bytes() for n in names[:: max(1, len(names) // options.timing_images)][: options.timing_images]]

    int8_model: str | None = None
    agreement: TemplateAgreement | None = None
    if "dlib-onnx-int8" in options.embedders:
        chips = _calibration_chips(root, set(names), options.calibration_images + 128)
        fp32 = DlibOnnxEmbedder()
        int8_model = str(ensure_int8_model(fp32.model_path, chips[: options.calibration_images], cache / "models"))
        held_out = chips[options.calibration_images :]
        agreement = template_agreement(fp32.embed_chips(held_out), DlibOnnxEmbedder(model_path=int8_model).embed_chips(held_out))

    def accuracy_of(choice: PipelineChoice) -> tuple[float, float]:
        tick = counted_progress(on_progress, f"lfw {choice.name}", len(names))
        if choice.embedder == "dlib-onnx-int8":  # same detection as fp32: re-embed its faces only
            fp32 = replace(choice, embedder="dlib-onnx", embedder_model=None)
            clean = embed_variant(root, names, fp32, Variant("clean"), cache_dir=cache, workers=options.workers, on_progress=tick)
            records = reembed(root, clean, choice, made_by=fp32, cache_dir=cache)
        else:
            records = embed_variant(root, names, choice, Variant("clean"), cache_dir=cache, workers=options.workers,
                                    on_progress=tick)
        result = score_condition(choice.name, pairs, xs, ys, records, records, metric=embedding_spec(choice).metric,
                                target_fmr=options.target_fmr)
        return result.accuracy, result.at_target.fnmr

    rows = []
    measured: dict[str, tuple[float, float]] = {}
    for detector in options.detectors:
        for embedder in options.embedders:
            model = int8_model if embedder == "dlib-onnx-int8" else None
            choice = replace(detector, embedder=embedder, embedder_model=model)
            if on_progress:
                on_progress(f"timing {choice.name}", 0, 1)
            times = time_pipeline(choice, timing_files, repeats=options.repeats, warmup=options.warmup)
            median, p90, p10 = statistics.median(times), float(np.percentile(times, 90)), float(np.percentile(times, 10))
            fp32_choice = replace(detector, embedder="dlib-onnx", embedder_model=None)
            source, admitted, note = fp32_choice.name, True, ""
            if embedder == "dlib-onnx-int8":
                source = choice.name
                if agreement is None or agreement.cosine_p01 < options.int8_min_cosine:
                    admitted = False
                    note = f"int8 templates: 1st-percentile cosine to fp32 {agreement.cosine_p01:.4f} < {options.int8_min_cosine}"
            if admitted:
                if source not in measured:
                    measured[source] = accuracy_of(choice if embedder == "dlib-onnx-int8" else fp32_choice)
                accuracy, fnmr = measured[source]
                if embedder == "dlib-onnx-int8":
                    reference = measured.setdefault(fp32_choice.name, accuracy_of(fp32_choice))[0]
                    if reference - accuracy > options.int8_max_accuracy_drop:
                        admitted = False
                        note = f"int8 LFW accuracy {accuracy:.4f} is more than {options.int8_max_accuracy_drop} below fp32 {reference:.4f}"
            else:
                accuracy = fnmr = None
            rows.append(PipelineRow(choice, median, p90, p10, accuracy, fnmr, source, admitted, note))
    front = frontier(rows)
    choices = tuple(choose_for_budget(rows, b) for b in options.budgets_ms)
    timing = {"images": len(timing_files), "repeats": options.repeats, "warmup": options.warmup,
              "statistic": "median over images x repeats"}
    return BudgetResult(cpu_model(), len(pairs), options.folds, options.target_fmr, tuple(rows), front, choices,
                        agreement, timing, time.perf_counter() - start)
