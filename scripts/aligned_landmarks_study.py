"""Where dlib's landmarks go in an aligned 112 px crop: a study behind ``countenance.aligned``.

On LFW turned into ArcFace-aligned crops (``scripts/lfw_aligned_crops.py OUT``), every image of
pairs.txt is embedded (dlib-onnx) twice: with dlib's 5 landmarks placed by its predictor on the
template's mean box (what ``--aligned arcface112`` does) and at the template's mean positions
(``DLIB_LANDMARKS_112``, no predictor). The official 10-fold accuracy is printed for both.

Usage: COUNTENANCE_LFW_DIR=OUT python scripts/aligned_landmarks_study.py [--workers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from countenance.datasets import lfw_dir
from countenance.evaluate import kfold_accuracy, read_lfw_pairs
from countenance.ingest import process_map

_state: dict = {}


def _init() -> None:
    from countenance.aligned import AlignedFaces
    from countenance.backends.dlib_onnx_embedder import DlibOnnxEmbedder

    _state["embedder"] = DlibOnnxEmbedder()
    _state["placed"] = AlignedFaces(refine=True)
    _state["fixed"] = AlignedFaces(refine=False)


def _embed(path: str) -> tuple[str, np.ndarray, np.ndarray]:
    from countenance.image import load_image

    pixels = load_image(path)
    embedder = _state["embedder"]
    placed = embedder.embed(pixels, _state["placed"].detect(pixels))[0]
    fixed = embedder.embed(pixels, _state["fixed"].detect(pixels))[0]
    return path, placed, fixed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pairs = read_lfw_pairs(lfw_dir())
    paths = sorted({str(p.path_x) for p in pairs} | {str(p.path_y) for p in pairs})
    start = time.perf_counter()
    found = {path: (placed, fixed) for path, placed, fixed in process_map(_embed, paths, workers=args.workers,
                                                                           initializer=_init)}
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    print(f"{len(paths)} images, {len(pairs)} pairs, {time.perf_counter() - start:.0f} s")
    for i, name in enumerate(("predictor on the template's box (shipped)", "template's mean positions")):
        distances = np.array([np.linalg.norm(found[str(p.path_x)][i] - found[str(p.path_y)][i]) for p in pairs])
        accuracies, _ = kfold_accuracy(distances, same, folds)
        print(f"{name}: accuracy {accuracies.mean():.4f} ± {accuracies.std():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
