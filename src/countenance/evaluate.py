"""Verification benchmarks: LFW's 10-fold protocol and any labelled pairs CSV.

Metrics are pure functions over ``distances`` (lower = more alike) and ``same`` labels;
:func:`evaluate_pairs` embeds the images (in parallel processes) and applies them.

LFW protocol (``pairs.txt``): 10 folds of 300 matched + 300 mismatched pairs. For each fold
the threshold that maximises accuracy on the other 9 folds is applied to it; the result is
the mean and standard deviation of the 10 fold accuracies.

Which face: for a pairs CSV, the largest face of each image. For LFW, whose images are
crops centred on the labelled person, the face nearest the centre, and only a face whose box
centre lies within ``CENTRAL_TOLERANCE`` of the image size from the centre: a bystander at
the edge is never taken for the labelled person (that mistake alone cost ~0.3 points).

Face-finding failures: each image is embedded once with the pipeline (HOG, upsampled, other
rotations); if that finds no (central) face, dlib's CNN detector is tried; for LFW only, a
final fallback uses the fixed central box where LFW's deep-funneled crops put the face
(``LFW_CENTRE_BOX``, the median HOG box over LFW), as dlib's own LFW test does. An image
that is still faceless fails, and every pair using it is counted as wrong at any threshold.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import CountenanceError, InvalidPairsFile

if TYPE_CHECKING:
    from .faces import Face

__all__ = [
    "Pair",
    "central_subject",
    "read_lfw_pairs",
    "read_pairs_csv",
    "assign_folds",
    "best_threshold",
    "kfold_accuracy",
    "roc_auc",
    "tar_at_far",
    "EmbeddingResult",
    "EvaluationReport",
    "evaluate_pairs",
    "LFW_CENTRE_BOX",
    "CENTRAL_TOLERANCE",
]

#: Where LFW deep-funneled 250x250 images hold the face: median HOG box (left, top, right, bottom).
LFW_CENTRE_BOX = (67.0, 80.0, 176.0, 188.0)

#: For ``choose="central"``: the largest offset of a face's box centre from the image centre,
#: as a fraction of the image's shorter side (50 px on LFW's 250 px images).
CENTRAL_TOLERANCE = 0.2

#: False accept rates at which the true accept rate is reported.
DEFAULT_FARS = (0.01, 0.001)


@dataclass(frozen=True)
class Pair:
    """Two image paths, whether they show the same person, and the fold the pair belongs to."""

    path_x: Path
    path_y: Path
    same: bool
    fold: int


# ---------------------------------------------------------------- pairs files


def read_lfw_pairs(lfw_dir: str | os.PathLike[str], pairs_file: str = "pairs.txt") -> list[Pair]:
    """The pairs of LFW's ``pairs.txt`` under ``lfw_dir`` (images in ``lfw_dir/images``)."""
    root = Path(lfw_dir)
    path = root / pairs_file
    images = root / "images" if (root / "images").is_dir() else root
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InvalidPairsFile(f"{path}: no such file (is --lfw-dir the LFW folder with pairs.txt?)") from None
    if not lines:
        raise InvalidPairsFile(f"{path}: empty file")
    header = lines[0].split()
    try:
        n_folds, per_class = int(header[0]), int(header[1])
    except (IndexError, ValueError):
        raise InvalidPairsFile(f"{path}:1: expected '<folds> <pairs per class>', got {lines[0]!r}") from None
    expected = n_folds * 2 * per_class
    if len(lines) - 1 < expected:
        raise InvalidPairsFile(f"{path}: {len(lines) - 1} pairs, the header promises {expected}")

    def image(name: str, number: str, lineno: int) -> Path:
        try:
            return images / name / f"{name}_{int(number):04d}.jpg"
        except ValueError:
            raise InvalidPairsFile(f"{path}:{lineno}: image number {number!r} is not an integer") from None

    pairs = []
    for index, line in enumerate(lines[1 : expected + 1]):
        lineno = index + 2
        fields = line.split()
        fold = index // (2 * per_class)
        if len(fields) == 3:
            pairs.append(Pair(image(fields[0], fields[1], lineno), image(fields[0], fields[2], lineno), True, fold))
        elif len(fields) == 4:
            pairs.append(Pair(image(fields[0], fields[1], lineno), image(fields[2], fields[3], lineno), False, fold))
        else:
            raise InvalidPairsFile(f"{path}:{lineno}: expected 3 or 4 fields, got {line!r}")
    return pairs


_TRUE = {"1", "yes", "true", "same", "y", "t"}
_FALSE = {"0", "no", "false", "different", "n", "f"}


def read_pairs_csv(csv_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[Pair]:
    """Pairs from a CSV with columns ``file_x,file_y,same`` (same in 1/0, yes/no, true/false).

    Relative paths are taken under ``root`` (default: the CSV's folder). Folds are assigned
    by :func:`assign_folds`.
    """
    path = Path(csv_path)
    base = Path(root) if root is not None else path.parent
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"file_x", "file_y", "same"} - set(reader.fieldnames or [])
            if missing:
                raise InvalidPairsFile(f"{path}:1: missing column(s) {', '.join(sorted(missing))}; need file_x,file_y,same")
            rows = []
            for lineno, row in enumerate(reader, start=2):
                label = (row["same"] or "").strip().lower()
                if label in _TRUE:
                    same = True
                elif label in _FALSE:
                    same = False
                else:
                    raise InvalidPairsFile(f"{path}:{lineno}: 'same' must be 1/0, yes/no or true/false, got {row['same']!r}")
                if not row["file_x"] or not row["file_y"]:
                    raise InvalidPairsFile(f"{path}:{lineno}: empty file name")
                rows.append((base / row["file_x"].strip(), base / row["file_y"].strip(), same))
    except FileNotFoundError:
        raise InvalidPairsFile(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InvalidPairsFile(f"{path}: not a text CSV file") from None
    if not rows:
        raise InvalidPairsFile(f"{path}: no pairs")
    folds = assign_folds(np.array([same for _, _, same in rows]))
    return [Pair(x, y, same, int(fold)) for (x, y, same), fold in zip(rows, folds)]


def assign_folds(same: np.ndarray, max_folds: int = 10) -> np.ndarray:
    """Stratified fold numbers for pairs: each class dealt round-robin over the folds.

    The number of folds is ``min(max_folds, size of the smaller class)``, at least 1, so that
    every fold holds both classes when both exist.
    """
    same = np.asarray(same, dtype=bool)
    n_folds = max(1, min(max_folds, int(same.sum()), int((~same).sum())))
    folds = np.empty(len(same), dtype=np.int64)
    for label in (True, False):
        index = np.flatnonzero(same == label)
        folds[index] = np.arange(len(index)) % n_folds
    return folds


# ---------------------------------------------------------------- metrics


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (``same`` iff ``distance <= threshold``) with the best accuracy.

    Candidates are midpoints between consecutive sorted distances, plus one below all and
    one above all; ties go to the smallest threshold. Empty input gives 0.0.
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    if d.size == 0:
        return 0.0
    order = np.argsort(d, kind="stable")
    d, y = d[order], y[order]
    # Accuracy if the threshold sits just after position i: same pairs at <= i are right,
    # different pairs after i are right.
    same_le = np.cumsum(y)
    diff_gt = (~y).sum() - np.cumsum(~y)
    correct = np.concatenate([[(~y).sum()], same_le + diff_gt])
    # Only cut between distinct distances (a cut inside a run of ties is not a threshold).
    valid = np.concatenate([[True], np.append(d[1:] > d[:-1], True)])
    correct = np.where(valid, correct, -1)
    k = int(np.argmax(correct))
    if k == 0:
        return float(d[0] - 1e-6)
    if k == len(d):
        return float(d[-1] + 1e-6)
    return float((d[k - 1] + d[k]) / 2.0)


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold accuracy with the threshold chosen on the other folds: ``(accuracies, thresholds)``.

    With a single fold the threshold is chosen on that fold itself (an optimistic figure).
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(f):
        test = f == fold
        train = ~test if (~test).any() else test
        threshold = best_threshold(d[train], y[train])
        accuracies.append(float(np.mean((d[test] <= threshold) == y[test])))
        thresholds.append(threshold)
    return np.array(accuracies), np.array(thresholds)


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve (a smaller distance should mean 'same'); NaN with one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(same, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, -np.asarray(distances, dtype=np.float64)))


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """True accept rate at the loosest threshold whose false accept rate is <= ``far``.

    Ties count as accepted at a threshold equal to them; NaN if a class is missing.
    """
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    genuine, impostor = np.sort(d[y]), np.sort(d[~y])
    if genuine.size == 0 or impostor.size == 0:
        return float("nan")
    allowed = int(np.floor(far * impostor.size + 1e-9))  # impostors we may accept
    # Largest threshold accepting at most `allowed` impostors: just below impostor[allowed].
    if allowed >= impostor.size:
        return 1.0
    limit = impostor[allowed]
    return float(np.mean(genuine < limit))


# ---------------------------------------------------------------- running a benchmark


@dataclass(frozen=True)
class EmbeddingResult:
    """The template found for one image, and how: ``detected``, ``cnn``, ``centre-box`` or ``failed``."""

    path: str
    vector: np.ndarray | None
    how: str
    error: str = ""


@dataclass
class EvaluationReport:
    """What :func:`evaluate_pairs` measured. ``to_dict`` gives the CLI's JSON document."""

    accuracy: float
    accuracy_std: float
    auc: float
    tar_at_far: dict[str, float]
    threshold: float
    fold_accuracies: list[float]
    pairs: int
    failures: int
    failed_images: list[str]
    found_by: dict[str, int]
    seconds: float
    images: int
    model: str
    detector: str
    protocol: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.accuracy, 6),
            "accuracy_std": round(self.accuracy_std, 6),
            "auc": round(self.auc, 6),
            "tar_at_far": {k: round(v, 6) for k, v in self.tar_at_far.items()},
            "threshold": round(self.threshold, 6),
            "fold_accuracies": [round(a, 6) for a in self.fold_accuracies],
            "pairs": self.pairs,
            "failures": self.failures,
            "failed_images": self.failed_images,
            "found_by": self.found_by,
            "images": self.images,
            "seconds": round(self.seconds, 2),
            "model": self.model,
            "detector": self.detector,
            "protocol": self.protocol,
            **self.extra,
        }


@dataclass(frozen=True)
class _WorkerConfig:
    detector: str
    embedder: str
    choose: str  # "largest" or "central"
    centre_box: tuple[float, float, float, float] | None
    num_jitters: int = 0


_worker_state: dict[str, Any] = {}


def _init_worker(config: _WorkerConfig) -> None:
    # Per-process models: built once in each worker, never shared between processes.
    from .pipeline import Pipeline

    _worker_state["config"] = config
    _worker_state["pipeline"] = Pipeline(
        detector=config.detector, embedder=config.embedder, num_jitters=config.num_jitters
    )
    _worker_state["cnn"] = None


def central_subject(faces: list[Face], width: int, height: int) -> Face | None:
    """The face LFW labels in a ``width`` x ``height`` image: the most central one, if any lies
    within ``CENTRAL_TOLERANCE`` of the image's shorter side from its centre (a bystander at
    the edge is never the subject)."""
    from .detect import central_face

    limit = CENTRAL_TOLERANCE * min(width, height)
    near = [f for f in faces if np.hypot(f.box.center[0] - width / 2, f.box.center[1] - height / 2) <= limit]
    return central_face(near, width, height)


def _embed_one(path: str) -> EmbeddingResult:
    from .detect import FaceDetector, largest_face
    from .embed import embed_faces
    from .faces import Box, Face

    config: _WorkerConfig = _worker_state["config"]
    pipeline = _worker_state["pipeline"]
    try:
        pixels = pipeline.load(path)
    except CountenanceError as error:
        return EmbeddingResult(path, None, "failed", str(error))
    height, width = pixels.shape[:2]

    def choose(faces: list[Face]) -> Face | None:
        return central_subject(faces, width, height) if config.choose == "central" else largest_face(faces)

    face, how = choose(pipeline.face_detector.detect(pixels)), "detected"
    if face is None and config.detector != "cnn":
        if _worker_state["cnn"] is None:
            _worker_state["cnn"] = FaceDetector("cnn")
        face, how = choose(_worker_state["cnn"].detect(pixels)), "cnn"
    if face is None and config.centre_box is not None:
        box = Box(*config.centre_box)
        landmarks = pipeline.face_detector.landmarker.landmarks(pixels, box)
        face, how = Face(box=box, detection_score=0.0, landmarks=landmarks, detector="centre-box"), "centre-box"
    if face is None:
        return EmbeddingResult(path, None, "failed", "no face found")
    vector = embed_faces(pipeline.embedder, pixels, [face])[0].template.vector
    return EmbeddingResult(path, vector, how)


def embed_images(
    paths: Sequence[str],
    *,
    detector: str = "hog",
    embedder: str = "dlib",
    choose: str = "largest",
    centre_box: tuple[float, float, float, float] | None = None,
    workers: int = 1,
    num_jitters: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, EmbeddingResult]:
    """One template per image path (with the fallbacks described above), in ``workers`` processes."""
    from .ingest import process_map

    config = _WorkerConfig(detector, embedder, choose, centre_box, num_jitters)
    results = process_map(
        _embed_one, list(paths), workers=workers, initializer=_init_worker, initargs=(config,),
        chunk=16, on_progress=on_progress,
    )
    return {result.path: result for result in results}


def evaluate_pairs(
    pairs: Sequence[Pair],
    *,
    detector: str = "hog",
    embedder: str = "dlib",
    choose: str = "largest",
    centre_box: tuple[float, float, float, float] | None = None,
    workers: int = 1,
    num_jitters: int = 0,
    fars: Sequence[float] = DEFAULT_FARS,
    protocol: str = "pairs",
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Embed every image of ``pairs`` once and measure verification accuracy over the folds."""
    from .detect import make_box_detector
    from .embed import make_embedder

    if not pairs:
        raise InvalidPairsFile("no pairs to evaluate")
    # Resolve "auto" here so the report names the backends that really ran.
    backend = make_box_detector(detector)
    embedding = make_embedder(embedder)
    spec, detector_name = embedding.spec, backend.name
    embedder_name = _embedder_name(embedding) if embedder == "auto" else embedder
    start = time.perf_counter()
    paths = sorted({str(p.path_x) for p in pairs} | {str(p.path_y) for p in pairs})
    if on_start:
        on_start(len(paths))
    results = embed_images(
        paths, detector=detector_name, embedder=embedder_name,
        choose=choose, centre_box=centre_box, workers=workers, num_jitters=num_jitters, on_progress=on_progress,
    )
    from .decide import pairwise_distances

    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    distances = np.empty(len(pairs), dtype=np.float64)
    failed = np.zeros(len(pairs), dtype=bool)
    for i, pair in enumerate(pairs):
        vx, vy = results[str(pair.path_x)].vector, results[str(pair.path_y)].vector
        if vx is None or vy is None:
            failed[i] = True
            continue
        distances[i] = pairwise_distances(vx, vy, spec.metric)[0, 0]
    # A failed pair is wrong at every threshold: "same" pairs get a distance above all,
    # "different" pairs one below all.
    if failed.any():
        ok = distances[~failed]
        high = (ok.max() if ok.size else 1.0) + 1.0
        distances[failed & same] = high
        distances[failed & ~same] = -1.0
    accuracies, thresholds = kfold_accuracy(distances, same, folds)
    found_by = Counter(r.how for r in results.values())
    return EvaluationReport(
        accuracy=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        auc=roc_auc(distances, same),
        tar_at_far={str(far): tar_at_far(distances, same, far) for far in fars},
        threshold=float(np.mean(thresholds)),
        fold_accuracies=[float(a) for a in accuracies],
        pairs=len(pairs),
        failures=int(failed.sum()),
        failed_images=sorted(f"{r.path}: {r.error}" for r in results.values() if r.vector is None),
        found_by=dict(sorted(found_by.items())),
        seconds=time.perf_counter() - start,
        images=len(paths),
        model=spec.name,
        detector=detector_name,
        protocol=protocol,
        extra={"embedder": embedder_name, "num_jitters": num_jitters},
    )


def _embedder_name(embedding: Any) -> str:
    """The registry name of an embedder built from "auto" (dlib-onnx or its dlib fallback)."""
    return "dlib-onnx" if type(embedding).__name__ == "DlibOnnxEmbedder" else "dlib"
