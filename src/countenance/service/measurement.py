"""Protocol-level measurements (issue 12): latency budgets, masks, degradations, per-group errors.

Each use case checks its path arguments first (:mod:`.path_args`: nothing heavy starts on a
bad path), runs one entry of :mod:`countenance.evaluate` and writes its report (``report.json``
and an offline ``report.html``) into ``report_dir``. What is measured and how is documented
in docs/MEASURE.md and in the ``run_*`` modules.

Pipelines: these measurements run the toolkit's pipelines (detector ``hog``, ``yunet`` or
``ultraface``; embedder ``dlib``, ``dlib-onnx`` or ``dlib-onnx-int8``), chosen through the
shared :class:`~.options.PipelineOptions`; ``"auto"`` is what it is in every command
(:meth:`countenance.pipeline.PipelineConfig.resolved`: YuNet when installed, else HOG; dlib-onnx
when ONNX Runtime works, else dlib). Upsampling, rotations and jitters are the toolkit's own
(fixed), so other values there are refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import datasets
from ..errors import InvalidArgument
from .options import PipelineOptions
from .path_args import existing_file, existing_folder, writable_folder, writing

if TYPE_CHECKING:
    from ..evaluate.choice import PipelineChoice
    from ..evaluate.run_budget import BudgetResult
    from ..evaluate.run_degrade import DegradeResult
    from ..evaluate.run_groups import GroupsResult
    from ..evaluate.run_masks import MasksResult

__all__ = [
    "MeasureRun", "LfwFolds", "parse_folds", "parse_budgets", "Measurement", "BudgetEvalOptions", "measure_budget",
    "MasksEvalOptions", "measure_masks", "DegradeEvalOptions", "measure_degrade", "GroupsEvalOptions", "measure_groups",
]

#: ``on_progress(step, done, total)``: the toolkit's progress (``step`` names the current stage).
StepProgress = Callable[[str, int, int], None]

#: LFW's folds a measurement uses unless told otherwise: 2 of 10 (1,200 pairs, ~1.4 M impostor
#: comparisons: enough for FMR = 1e-3) keeps a run within minutes on 2 cores.
DEFAULT_FOLDS = (0, 1)


def parse_folds(text: str) -> tuple[int, ...] | None:
    """``"0,1"`` -> ``(0, 1)`` (0-based LFW folds, 0..9); ``"all"`` -> None (all ten)."""
    if text.strip().lower() == "all":
        return None
    try:
        folds = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise InvalidArgument(f"--folds must be 'all' or comma-separated fold numbers 0..9, got {text!r}") from None
    if not folds or not all(0 <= f <= 9 for f in folds):
        raise InvalidArgument(f"--folds must be 'all' or comma-separated fold numbers 0..9, got {text!r}")
    return folds


def parse_budgets(text: str) -> tuple[float, ...]:
    """``"100,500,1000"`` -> ``(100.0, 500.0, 1000.0)`` milliseconds (each > 0)."""
    try:
        budgets = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidArgument(f"--budgets must be comma-separated milliseconds, got {text!r}") from None
    if not budgets or not all(0 < b < float("inf") for b in budgets):
        raise InvalidArgument(f"--budgets must be comma-separated milliseconds > 0, got {text!r}")
    return budgets


@dataclass(frozen=True)
class MeasureRun:
    """Where a measurement writes and caches, and how many worker processes embed.

    ``report_dir``: folder for ``report.json`` and ``report.html`` (created; None:
    ``./countenance-eval/<what>``). ``cache_dir``: templates and int8 models are cached
    there (None: ``<cache>/countenance/measure``), so a rerun only recomputes what changed.
    """

    report_dir: Path | None = None
    cache_dir: Path | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 64:
            raise InvalidArgument(f"workers must be an integer in 1..64, got {self.workers!r}")


@dataclass(frozen=True)
class LfwFolds:
    """LFW (``lfw_dir`` with pairs.txt; None: ``datasets.lfw_dir()``) restricted to ``folds``
    (0-based; None: all ten)."""

    lfw_dir: Path | None = None
    folds: tuple[int, ...] | None = DEFAULT_FOLDS

    def __post_init__(self) -> None:
        if self.folds is not None and (not self.folds or not all(isinstance(f, int) and 0 <= f <= 9 for f in self.folds)):
            raise InvalidArgument(f"folds must be LFW fold numbers 0..9, got {self.folds!r}")


@dataclass(frozen=True)
class Measurement:
    """One measurement's result (``what``: budget, masks, degrade or groups) and its report files."""

    what: str
    result: BudgetResult | MasksResult | DegradeResult | GroupsResult
    json_path: Path
    html_path: Path

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON (``{what: result}``) with where the report files are."""
        return {self.what: self.result.to_dict(), "report": {"json": str(self.json_path), "html": str(self.html_path)}}


def _choice(pipeline: PipelineOptions) -> PipelineChoice:
    from ..evaluate.choice import PipelineChoice

    if pipeline.jitters or pipeline.upsample != "auto" or not pipeline.rotate:
        raise InvalidArgument("measurements run the toolkit's own detection settings: no --jitters, --upsample or --no-rotate")
    # "auto" decided where every command decides it (yunet when installed, else hog; dlib-onnx, else dlib).
    config = PipelineOptions(detector=pipeline.detector, embedder=pipeline.embedder).config().resolved()
    detector, embedder = config.detector, config.embedder
    if embedder == "dlib-onnx-int8":
        raise InvalidArgument("dlib-onnx-int8 is measured by `eval budget` (it makes the int8 model); choose dlib or dlib-onnx")
    return PipelineChoice(detector, embedder)  # InvalidArgument names the choices on a bad one


def _lfw(lfw: LfwFolds) -> Path:
    return existing_folder(lfw.lfw_dir or datasets.lfw_dir(), "--lfw-dir", hint="set COUNTENANCE_LFW_DIR or pass --lfw-dir")


def _places(run: MeasureRun, what: str) -> tuple[Path, Path | None]:
    """The report folder (checked, created) and the cache folder (checked), before anything runs."""
    cache = writable_folder(run.cache_dir, "--cache-dir") if run.cache_dir is not None else None
    report = writable_folder(run.report_dir or Path("countenance-eval") / what, "--report-dir", create=True)
    return report, cache


def _report(what: str, result: Any, report_dir: Path) -> Measurement:
    from ..evaluate.report import write_report

    with writing(report_dir, "--report-dir"):
        json_path, html_path = write_report({what: result.to_dict()}, report_dir, title=f"Countenance evaluation: {what}")
    return Measurement(what, result, json_path, html_path)


# ------------------------------------------------------------------ budget


@dataclass(frozen=True)
class BudgetEvalOptions:
    """Latency budgets (ms per image, one thread) to choose a pipeline for; every detector x
    embedder of the toolkit is timed ``repeats`` times over its timing images and measured on
    ``lfw``."""

    budgets_ms: tuple[float, ...] = (100.0, 500.0, 1000.0)
    repeats: int = 3
    lfw: LfwFolds = field(default_factory=LfwFolds)
    run: MeasureRun = field(default_factory=MeasureRun)

    def __post_init__(self) -> None:
        if not self.budgets_ms or not all(b > 0 for b in self.budgets_ms):
            raise InvalidArgument(f"budgets must be milliseconds > 0, got {self.budgets_ms!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or not 1 <= self.repeats <= 100:
            raise InvalidArgument(f"repeats must be an integer in 1..100, got {self.repeats!r}")


def measure_budget(options: BudgetEvalOptions, on_progress: StepProgress | None = None) -> Measurement:
    """The most accurate pipeline within each budget, and the speed/accuracy frontier."""
    lfw_dir = _lfw(options.lfw)
    report_dir, cache = _places(options.run, "budget")
    from ..evaluate.run_budget import BudgetOptions, run_budget

    result = run_budget(BudgetOptions(budgets_ms=options.budgets_ms, lfw_dir=lfw_dir, folds=options.lfw.folds,
                                      repeats=options.repeats, cache_dir=cache, workers=options.run.workers), on_progress)
    return _report("budget", result, report_dir)


# ------------------------------------------------------------------ masks


@dataclass(frozen=True)
class MasksEvalOptions:
    """Synthetic masks on ``lfw`` pairs with ``pipeline``, and detection on real masked photos
    (``masked_dir`` with ``with_mask/`` and ``without_mask/``; None: the fixtures')."""

    lfw: LfwFolds = field(default_factory=LfwFolds)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    masked_dir: Path | None = None
    seed: int = 0
    run: MeasureRun = field(default_factory=MeasureRun)


def measure_masks(options: MasksEvalOptions, on_progress: StepProgress | None = None) -> Measurement:
    """Masked-vs-unmasked and masked-vs-masked LFW figures, and detection rates on masked photos."""
    lfw_dir = _lfw(options.lfw)
    masked = existing_folder(options.masked_dir, "--masked-dir") if options.masked_dir is not None else None
    choice = _choice(options.pipeline)
    report_dir, cache = _places(options.run, "masks")
    from ..evaluate.run_masks import MasksOptions, run_masks

    result = run_masks(MasksOptions(lfw_dir=lfw_dir, folds=options.lfw.folds, pipeline=choice, seed=options.seed,
                                    masked_dir=masked, cache_dir=cache, workers=options.run.workers), on_progress)
    return _report("masks", result, report_dir)


# ------------------------------------------------------------------ degradations


@dataclass(frozen=True)
class DegradeEvalOptions:
    """``lfw`` pairs with the probe side degraded (downscaled, blurred, JPEG, occluded), with
    ``pipeline``; ``iod_levels`` the inter-ocular distances (px) to downscale to (None: the
    toolkit's 32/24/20/16/12)."""

    lfw: LfwFolds = field(default_factory=LfwFolds)
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    iod_levels: tuple[float, ...] | None = None
    run: MeasureRun = field(default_factory=MeasureRun)

    def __post_init__(self) -> None:
        if self.iod_levels is not None and (not self.iod_levels or not all(level > 0 for level in self.iod_levels)):
            raise InvalidArgument(f"iod_levels must be pixels > 0, got {self.iod_levels!r}")


def measure_degrade(options: DegradeEvalOptions, on_progress: StepProgress | None = None) -> Measurement:
    """One curve per degradation, and the smallest face the model still handles."""
    lfw_dir = _lfw(options.lfw)
    choice = _choice(options.pipeline)
    report_dir, cache = _places(options.run, "degrade")
    from ..evaluate.run_degrade import DegradeOptions, run_degrade

    levels = {} if options.iod_levels is None else {"iod_levels": tuple(sorted(options.iod_levels, reverse=True))}
    result = run_degrade(DegradeOptions(lfw_dir=lfw_dir, folds=options.lfw.folds, pipeline=choice, cache_dir=cache,
                                        workers=options.run.workers, **levels), on_progress)
    return _report("degrade", result, report_dir)


# ------------------------------------------------------------------ per-group errors


@dataclass(frozen=True)
class GroupsEvalOptions:
    """Per-group errors on ``image_dir`` (one sub-folder per person) with the user's labels
    (``labels_csv``: columns ``image`` and ``column``); at ``threshold`` (a distance; None: the
    model's default), with ``samples`` bootstrap resamples for the intervals."""

    image_dir: Path
    labels_csv: Path
    column: str = "group"
    threshold: float | None = None
    samples: int = 1000
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    run: MeasureRun = field(default_factory=MeasureRun)

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or not 10 <= self.samples <= 100_000:
            raise InvalidArgument(f"samples must be an integer in 10..100000, got {self.samples!r}")
        if self.threshold is not None and not 0 <= self.threshold < float("inf"):
            raise InvalidArgument(f"threshold must be a distance >= 0, got {self.threshold!r}")


def measure_groups(options: GroupsEvalOptions) -> Measurement:
    """FMR and FNMR per group at one threshold, the cross-group matrix and max/min ratios."""
    image_dir = existing_folder(options.image_dir, "image folder")
    labels = existing_file(options.labels_csv, "--labels")
    choice = _choice(options.pipeline)
    report_dir, cache = _places(options.run, "groups")
    from ..evaluate.run_groups import GroupsOptions, run_groups

    result = run_groups(GroupsOptions(image_dir, labels, column=options.column, pipeline=choice, threshold=options.threshold,
                                      samples=options.samples, cache_dir=cache, workers=options.run.workers))
    return _report("groups", result, report_dir)
