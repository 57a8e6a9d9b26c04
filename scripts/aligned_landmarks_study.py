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
from dataclasses import dataclass

import numpy as np

from countenance.aligned import ALIGNED_ARCFACE112
from countenance.datasets import lfw_dir
from countenance.evaluate import kfold_accuracy, read_lfw_pairs
from countenance.ingest import LARGEST_FACE, BatchEmbedder, ImageJob
from countenance.pipeline import PipelineConfig


@dataclass(frozen=True)
class FixedLandmarks:
    """The aligned crop's face with dlib's landmarks at the template's mean positions (no predictor)."""

    key: str = "aligned-fixed-landmarks"

    def choose(self, pipeline, pixels, job):
        from countenance.aligned import AlignedFaces

        return pixels, [(face, "fixed") for face in AlignedFaces(refine=False).detect(pixels)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pairs = read_lfw_pairs(lfw_dir())
    paths = sorted({str(p.path_x) for p in pairs} | {str(p.path_y) for p in pairs})
    start = time.perf_counter()
    config = PipelineConfig(detector=ALIGNED_ARCFACE112, embedder="dlib-onnx")
    jobs = [ImageJob(path) for path in paths]
    with BatchEmbedder(config, workers=args.workers) as embedder:  # one set of workers for both ways
        placed = {r.path: r.vector for r in embedder.embed(jobs, choice=LARGEST_FACE)}
        fixed = {r.path: r.vector for r in embedder.embed(jobs, choice=FixedLandmarks())}
    found = {path: (placed[path], fixed[path]) for path in paths}
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
