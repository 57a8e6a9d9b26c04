"""Verification benchmarks: LFW's 10-fold protocol (optionally a quick subset) and a pairs CSV."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import datasets
from ..errors import InvalidArgument, InvalidPairsFile
from ..evaluate import EvaluationReport, Pair, evaluate_pairs, first_per_fold, read_lfw_pairs, read_pairs_csv
from ..evaluate.protocols import LFW_CENTRE_BOX
from .aligned_input import AlignedInput, resolve_aligned
from .options import PipelineOptions
from .path_args import existing_file, existing_folder

__all__ = ["EvaluationRun", "LfwEvalOptions", "evaluate_lfw", "PairsEvalOptions", "evaluate_pairs_csv"]


@dataclass(frozen=True)
class EvaluationRun:
    """How an evaluation runs: the pipeline each worker builds, and how many worker processes."""

    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    workers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 64:
            raise InvalidArgument(f"workers must be an integer in 1..64, got {self.workers!r}")


@dataclass(frozen=True)
class LfwEvalOptions:
    """LFW folder (pairs.txt and images/; None: ``datasets.lfw_dir()``), and ``per_fold``: use
    only the first N pairs of each class in each fold (None: all)."""

    lfw_dir: Path | None = None
    per_fold: int | None = None
    run: EvaluationRun = field(default_factory=EvaluationRun)


#: Progress callbacks: ``on_start(n_images)`` once, ``on_progress(n_done_since_last)`` as images finish.
StartCallback = Callable[[int], None]
ProgressCallback = Callable[[int], None]
#: Told once which input the run uses (aligned crops or detection), before any image is embedded.
AlignedCallback = Callable[[AlignedInput], None]


def evaluate_lfw(
    options: LfwEvalOptions, *, on_start: StartCallback | None = None, on_progress: ProgressCallback | None = None,
    on_aligned: AlignedCallback | None = None,
) -> EvaluationReport:
    """LFW verification: official pairs.txt, 10 folds, threshold chosen on 9, tested on the 10th."""
    lfw_dir = existing_folder(options.lfw_dir or datasets.lfw_dir(), "--lfw-dir", hint="set COUNTENANCE_LFW_DIR or pass --lfw-dir")
    pairs = read_lfw_pairs(lfw_dir)
    protocol = "lfw-10-fold"
    if options.per_fold is not None:
        pairs = first_per_fold(pairs, options.per_fold)
        protocol = f"lfw-10-fold (subset: {options.per_fold} pairs per class per fold)"
    return _evaluate(pairs, options.run, "central", LFW_CENTRE_BOX, protocol, on_start, on_progress, on_aligned)


@dataclass(frozen=True)
class PairsEvalOptions:
    """A CSV with columns ``file_x,file_y,same``; file names relative to ``root`` (None: the CSV's folder)."""

    pairs_csv: Path
    root: Path | None = None
    run: EvaluationRun = field(default_factory=EvaluationRun)


def evaluate_pairs_csv(
    options: PairsEvalOptions, *, on_start: StartCallback | None = None, on_progress: ProgressCallback | None = None,
    on_aligned: AlignedCallback | None = None,
) -> EvaluationReport:
    """Verification accuracy on labelled pairs (stratified k-fold, k <= 10; largest face of each image).

    Raises InvalidPairsFile when the file holds only one class of pairs (no threshold, AUC or
    FNMR at an FMR can be measured from it), or when no pair could be measured (with the hint to use
    ``--root`` when no image could be read).
    """
    csv_path = existing_file(options.pairs_csv, "pairs file")
    root = existing_folder(options.root, "--root") if options.root is not None else None
    pairs = read_pairs_csv(csv_path, root)
    same = sum(p.same for p in pairs)
    if same in (0, len(pairs)):
        kind = "same-person" if same else "different-people"
        raise InvalidPairsFile(
            f"{csv_path}: all {len(pairs)} pairs are {kind} pairs; a threshold, AUC and FNMR at an FMR need both "
            "same-person and different-people pairs"
        )
    n_folds = len({p.fold for p in pairs})
    try:
        return _evaluate(pairs, options.run, "largest", None, f"stratified-{n_folds}-fold", on_start, on_progress,
                         on_aligned)
    except InvalidPairsFile as error:
        if root is None and str(error).startswith("no image could be read"):
            raise InvalidPairsFile(
                f"{csv_path}: {error}; file names are read relative to the CSV's folder {csv_path.parent}: use --root DIR"
            ) from None
        raise InvalidPairsFile(f"{csv_path}: {error}") from None


def _evaluate(
    pairs: Sequence[Pair],
    run: EvaluationRun,
    choose: str,
    centre_box: tuple[float, float, float, float] | None,
    protocol: str,
    on_start: StartCallback | None,
    on_progress: ProgressCallback | None,
    on_aligned: AlignedCallback | None = None,
) -> EvaluationReport:
    aligned = resolve_aligned(run.pipeline, sorted({p.path_x for p in pairs} | {p.path_y for p in pairs}))
    if on_aligned:
        on_aligned(aligned)
    return evaluate_pairs(
        pairs, aligned.pipeline.config(), choose=choose, centre_box=centre_box, workers=run.workers, protocol=protocol,
        on_start=on_start, on_progress=on_progress,
    )
