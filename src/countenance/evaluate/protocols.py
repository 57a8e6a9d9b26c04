"""Benchmark protocols: LFW's ``pairs.txt``, a labelled pairs CSV, fold assignment and subsetting,
and which face of an LFW image is its labelled subject.

LFW protocol (``pairs.txt``): 10 folds of 300 matched + 300 mismatched pairs. Which face: for
a pairs CSV, the largest face of each image. For LFW, whose images are crops centred on the
labelled person, the face nearest the centre, and only a face whose box centre lies within
``CENTRAL_TOLERANCE`` of the image size from the centre: a bystander at the edge is never
taken for the labelled person (that mistake alone cost ~0.3 points).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgument, InvalidPairsFile

if TYPE_CHECKING:
    from ..faces import Face

__all__ = [
    "Pair",
    "read_lfw_pairs",
    "read_pairs_csv",
    "assign_folds",
    "first_per_fold",
    "central_subject",
    "LFW_CENTRE_BOX",
    "CENTRAL_TOLERANCE",
]

#: Where LFW deep-funneled 250x250 images hold the face: median HOG box (left, top, right, bottom).
LFW_CENTRE_BOX = (67.0, 80.0, 176.0, 188.0)

#: For ``choose="central"``: the largest offset of a face's box centre from the image centre,
#: as a fraction of the image's shorter side (50 px on LFW's 250 px images).
CENTRAL_TOLERANCE = 0.2


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


def first_per_fold(pairs: Sequence[Pair], per_class: int) -> list[Pair]:
    """The first ``per_class`` matched and the first ``per_class`` mismatched pairs of each fold,
    in their original order (a quick run of a k-fold protocol that keeps every fold)."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise InvalidArgument(f"pairs per class per fold must be an integer >= 1, got {per_class!r}")
    counts: dict[tuple[int, bool], int] = {}
    subset = []
    for pair in pairs:
        key = (pair.fold, pair.same)
        if counts.get(key, 0) < per_class:
            counts[key] = counts.get(key, 0) + 1
            subset.append(pair)
    return subset


def central_subject(faces: list[Face], width: int, height: int) -> Face | None:
    """The face LFW labels in a ``width`` x ``height`` image: the most central one, if any lies
    within ``CENTRAL_TOLERANCE`` of the image's shorter side from its centre (a bystander at
    the edge is never the subject)."""
    from ..detection import central_face

    limit = CENTRAL_TOLERANCE * min(width, height)
    near = [f for f in faces if np.hypot(f.box.center[0] - width / 2, f.box.center[1] - height / 2) <= limit]
    return central_face(near, width, height)
