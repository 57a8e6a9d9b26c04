"""The ``countenance`` command: a thin shell over the Python API.

Every command takes ``--json`` and then prints exactly one JSON document on stdout; tables,
progress bars and messages go to stderr. A Countenance error becomes one line on stderr and
a non-zero exit, never a traceback. Exit codes: 0 success, 1 some inputs of a multi-input
run failed (they are reported, the rest is done), 2 the command failed.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import datasets
from .errors import CountenanceError

app = typer.Typer(
    name="countenance",
    help="Consent-first, offline face recognition: detect, verify, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure verification accuracy (LFW protocol or a pairs CSV).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

stderr = Console(stderr=True)


# Options shared by several commands, defined once.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
# Backend names are checked against the registries (detect.DETECTORS, embed.EMBEDDERS) when the
# pipeline is built, so a new backend needs no CLI change.
DetectorOpt = Annotated[str, typer.Option("--detector", help="Face detector backend (hog, cnn, ...).")]
EmbedderOpt = Annotated[str, typer.Option("--embedder", help="Face embedding backend (dlib, ...).")]
UpsampleOpt = Annotated[
    str, typer.Option("--upsample", help="Times to double the image before detecting (0-3), or 'auto'.")
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel processes.")]
JittersOpt = Annotated[
    int, typer.Option("--jitters", min=0, max=1000, help="Average each template over N perturbed copies (dlib models; N times slower).")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Countenance errors (and bad option values) into one line on stderr and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (CountenanceError, ValueError) as error:
            raise _fail(str(error)) from None

    return wrapper


def report_skipped(messages: list[str]) -> None:
    """Each skipped input's error on stderr, then exit 1 (some inputs failed) if there were any."""
    for message in messages:
        stderr.print(f"[yellow]skipped[/] {message}", highlight=False, soft_wrap=True)
    if messages:
        raise typer.Exit(1)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


@contextmanager
def _progress(description: str, total: int | None):
    """A progress bar on stderr; shown only for jobs long enough to need one."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=total is not None and total <= 1,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def _upsample(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--upsample must be 'auto' or 0..3, got {value!r}") from None


def _pipeline(detector: str, embedder: str = "auto", upsample: str = "auto", rotate: bool = True):
    from .pipeline import Pipeline

    return Pipeline(detector=detector, embedder=embedder, upsample=_upsample(upsample), try_rotations=rotate)


@app.command()
@handle_errors
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    upsample: UpsampleOpt = "auto",
    rotate: Annotated[bool, typer.Option(help="Try the other rotations when no face is found upright.")] = True,
) -> None:
    """Find the faces in images: boxes (left, top, right, bottom), landmarks, scores."""
    from .errors import ImageNotFound
    from .image import iter_image_files

    pipeline = _pipeline(detector, upsample=upsample, rotate=rotate)
    files: list[Path] = []
    errors: list[dict[str, str]] = []
    for item in images:
        if item.is_dir():
            files.extend(iter_image_files(item))
        else:
            files.append(item)
    if not files and not errors:
        raise ImageNotFound(images[0], "no image files found") if len(images) == 1 else CountenanceError("no image files found")
    results = []
    with _progress("Detecting", len(files)) as advance:
        for path in files:
            start = time.perf_counter()
            try:
                pixels = pipeline.load(path)
                faces = pipeline.face_detector.detect(pixels)
            except CountenanceError as error:
                errors.append({"path": str(path), "error": str(error)})
                if len(files) > 1:
                    stderr.print(f"[yellow]skipped[/] {error}", highlight=False, soft_wrap=True)
                advance()
                continue
            results.append(
                {
                    "path": str(path),
                    "width": int(pixels.shape[1]),
                    "height": int(pixels.shape[0]),
                    "faces": [face.to_dict() for face in faces],
                    "seconds": round(time.perf_counter() - start, 4),
                }
            )
            advance()
    if len(files) == 1 and errors:
        raise _fail(errors[0]["error"])
    if json_output:
        _print_json({"images": results, "errors": errors, "faces": sum(len(r["faces"]) for r in results)})
    else:
        table = Table("image", "faces", "boxes (left, top, right, bottom)", "rotation")
        for r in results:
            boxes = "; ".join(", ".join(f"{v:.0f}" for v in f["box"]) for f in r["faces"])
            rotations = sorted({f["rotation"] for f in r["faces"]})
            table.add_row(r["path"], str(len(r["faces"])), boxes or "-", ", ".join(map(str, rotations)) or "-")
        Console().print(table)
        if errors:
            stderr.print(f"{len(errors)} file(s) skipped", highlight=False)
    if errors:
        raise typer.Exit(1)


@app.command()
@handle_errors
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image (its largest face is used).")],
    image_b: Annotated[Path, typer.Argument(help="Second image (its largest face is used).")],
    json_output: JsonOpt = False,
    threshold: Annotated[
        Optional[str], typer.Option(help="Threshold name (e.g. 'default') or a distance; lower is stricter.")
    ] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
) -> None:
    """Are the largest faces of two images the same person? (1:1 verification)"""
    pipeline = _pipeline(detector, embedder)
    face_a = pipeline.embed_largest(image_a)
    face_b = pipeline.embed_largest(image_b)
    chosen: str | float | None = threshold
    if threshold is not None and threshold not in pipeline.spec.thresholds:
        try:
            chosen = float(threshold)
        except ValueError:
            known = ", ".join(sorted(pipeline.spec.thresholds))
            raise ValueError(f"--threshold {threshold!r} is neither a number nor a known name ({known})") from None
    result = pipeline.compare(face_a, face_b, chosen)
    document = {
        **result.to_dict(),
        "a": {"path": str(image_a), **face_a.to_dict()},
        "b": {"path": str(image_b), **face_b.to_dict()},
    }
    if json_output:
        _print_json(document)
        return
    verdict = "[green]same person[/]" if result.same else "[red]different people[/]"
    Console().print(
        f"{verdict}: distance {result.distance:.4f} ({result.metric}) vs threshold "
        f"{result.threshold:.4f} ({result.threshold_name}); cosine similarity {result.similarity:.4f}"
    )


def _run_evaluation(pairs, json_output: bool, title: str, **options: Any) -> None:
    from .evaluate import evaluate_pairs

    progress = Progress(
        TextColumn("[bold]Embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr, transient=True,
    )
    with progress:
        task = progress.add_task("Embedding", total=None)

        report = evaluate_pairs(
            pairs, on_start=lambda total: progress.update(task, total=total), on_progress=lambda n: progress.advance(task, n), **options)
    document = report.to_dict()
    document["auc"] = _finite(document["auc"])
    document["tar_at_far"] = {k: _finite(v) for k, v in document["tar_at_far"].items()}
    if json_output:
        _print_json(document)
        return
    table = Table(title=title, show_header=False)
    table.add_row("accuracy", f"{report.accuracy:.4f} ± {report.accuracy_std:.4f}")
    table.add_row("AUC", f"{report.auc:.4f}")
    for far, tar in report.tar_at_far.items():
        table.add_row(f"TAR @ FAR={far}", f"{tar:.4f}")
    table.add_row("threshold (mean)", f"{report.threshold:.4f}")
    table.add_row("pairs / failed pairs", f"{report.pairs} / {report.failures}")
    table.add_row("images / found by", f"{report.images} / {report.found_by}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    Console().print(table)


@eval_app.command("lfw")
@handle_errors
def eval_lfw(
    lfw_dir: Annotated[
        Optional[Path], typer.Option("--lfw-dir", help="LFW folder with pairs.txt and images/ (default: ../shared/data/lfw).")
    ] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 2,
    jitters: JittersOpt = 0,
    per_fold: Annotated[
        Optional[int], typer.Option("--per-fold", min=2, help="Use only the first N pairs of each class in each fold (a quick run).")
    ] = None,
) -> None:
    """LFW verification: official pairs.txt, 10 folds, threshold chosen on 9, tested on the 10th."""
    from .evaluate import LFW_CENTRE_BOX, read_lfw_pairs

    root = lfw_dir or datasets.lfw_dir()
    pairs = read_lfw_pairs(root)
    protocol = "lfw-10-fold"
    if per_fold is not None:
        counts: dict[tuple[int, bool], int] = {}
        subset = []
        for pair in pairs:
            key = (pair.fold, pair.same)
            if counts.get(key, 0) < per_fold:
                counts[key] = counts.get(key, 0) + 1
                subset.append(pair)
        pairs, protocol = subset, f"lfw-10-fold (subset: {per_fold} pairs per class per fold)"
    _run_evaluation(
        pairs, json_output, "LFW verification", detector=detector, embedder=embedder,
        choose="central", centre_box=LFW_CENTRE_BOX, workers=workers, num_jitters=jitters, protocol=protocol,
    )


@eval_app.command("pairs")
@handle_errors
def eval_pairs(
    pairs_csv: Annotated[Path, typer.Argument(help="CSV with columns file_x,file_y,same.")],
    root: Annotated[Optional[Path], typer.Option("--root", help="Folder the file names are relative to (default: the CSV's).")] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
    workers: WorkersOpt = 1,
    jitters: JittersOpt = 0,
) -> None:
    """Verification accuracy on your own labelled pairs (stratified k-fold, k <= 10)."""
    from .evaluate import read_pairs_csv

    pairs = read_pairs_csv(pairs_csv, root)
    n_folds = len({p.fold for p in pairs})
    _run_evaluation(
        pairs, json_output, f"Pairs verification ({pairs_csv.name})", detector=detector,
        embedder=embedder, choose="largest", workers=workers, num_jitters=jitters, protocol=f"stratified-{n_folds}-fold",
    )


@app.command()
@handle_errors
def demo(
    people: Annotated[Optional[Path], typer.Option(help="One folder per person (default: ../shared/data/fixtures/people).")] = None,
    probes: Annotated[Optional[Path], typer.Option(help="Photos to identify (default: ../shared/data/fixtures/probes).")] = None,
    json_output: JsonOpt = False,
    detector: DetectorOpt = "auto",
) -> None:
    """Enrol a folder of people in memory and name every face in the probe photos."""
    from .demo import enrol_people, identify_probes
    from .image import iter_image_files

    people = people or datasets.fixtures_dir() / "people"
    probes = probes or datasets.fixtures_dir() / "probes"
    for folder in (people, probes):
        if not folder.is_dir():
            raise CountenanceError(f"{folder}: no such folder (set COUNTENANCE_SHARED or pass --people/--probes)")
    pipeline = _pipeline(detector)
    enrol_total = sum(1 for p in people.iterdir() if p.is_dir() for _ in iter_image_files(p))
    with _progress("Enrolling", enrol_total) as advance:
        enrolled = enrol_people(people, pipeline, on_image=lambda _: advance())
    probe_files = list(iter_image_files(probes))
    with _progress("Identifying", len(probe_files)) as advance:
        results, failed = identify_probes(probe_files, enrolled, pipeline, on_image=lambda _: advance())
    if json_output:
        _print_json(
            {
                "enrolled": {"templates": len(enrolled.labels), "people": len(set(enrolled.labels)), "skipped": enrolled.skipped},
                "threshold": results[0].decision.threshold if results else None,
                "faces": [
                    {
                        "path": r.path,
                        "box": r.face.to_dict()["box"],
                        "decision": r.name,
                        "nearest": r.decision.nearest_label,
                        "distance": _finite(round(r.decision.distance, 4)),
                    }
                    for r in results
                ],
                "failed": [{"path": p, "error": e} for p, e in failed],
            }
        )
        return
    console = Console()
    console.print(f"Enrolled {len(enrolled.labels)} photos of {len(set(enrolled.labels))} people from {people}")
    table = Table("probe", "face box", "decision", "nearest enrolled", "distance")
    for r in results:
        box = ", ".join(f"{v:.0f}" for v in r.face.box.to_list())
        style = "green" if r.decision.label else "yellow"
        table.add_row(Path(r.path).name, box, f"[{style}]{r.name}[/]", r.decision.nearest_label or "-", f"{r.decision.distance:.3f}")
    console.print(table)
    console.print(f"'unknown' = nearest enrolled face farther than {pipeline.spec.thresholds['default']} ({pipeline.spec.metric} distance)")
    for path, error in failed:
        stderr.print(f"[yellow]skipped[/] {error}", highlight=False)


# Sub-apps import helpers from this module, so they are attached after those are defined.
from .cli_gallery import register as _register_gallery  # noqa: E402
from .cli_models import models_app  # noqa: E402

app.add_typer(models_app, name="models")
_register_gallery(app)


def main() -> None:
    """Entry point of the ``countenance`` script."""
    app()


if __name__ == "__main__":
    main()
