"""Measure the quality gate's defaults: how face size and sharpness decide whether a face can
be told apart, on LFW faces degraded on purpose.

For a sample of LFW images of the people with 10+ images, the image is shrunk so the face is
N pixels wide, or blurred with a Gaussian of a given fraction of the face's width; the face is
detected and embedded again (fast pipeline), and compared with the 158 people's mean templates
(from the full-size images, the image itself left out). Reported per size / sharpness bucket:
how often the nearest person is the right one (rank-1) and how often the right person's mean
lies within the clustering's ``max_distance`` (the face can join its person).

    python scripts/eval_quality_gate.py [--cache-dir DIR] [--images 120]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from countenance.datasets import shared_dir
from countenance.library import ClusterOptions, LibraryStore
from countenance.library.quality import face_sharpness

SIZES_PX = (16, 20, 24, 28, 32, 40, 56)
BLURS = (0.02, 0.04, 0.06, 0.09, 0.13)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--images", type=int, default=120)
    args = parser.parse_args(argv)
    from PIL import Image, ImageFilter

    from countenance import Pipeline
    from countenance.paths import cache_dir

    if "COUNTENANCE_MODEL_DIR" not in os.environ and (shared_dir() / "models" / "yunet").is_dir():
        os.environ["COUNTENANCE_MODEL_DIR"] = str(shared_dir() / "models" / "yunet")
    db = (args.cache_dir or cache_dir() / "library-eval") / "full" / "library.sqlite3"
    sys.path.insert(0, str(Path(__file__).parent))
    from eval_library import labelled

    store = LibraryStore.open(db, create=False)
    ids, photos, templates, side, labels = labelled(store)
    paths = {p.id: p.path for p in store.photos()}
    store.close()
    keep = labels >= 0
    ids, photos, templates, labels, side = ids[keep], photos[keep], templates[keep], labels[keep], side[keep]
    sums = np.zeros((labels.max() + 1, templates.shape[1]))
    np.add.at(sums, labels, templates)
    counts = np.bincount(labels)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(ids), size=min(args.images, len(ids)), replace=False)
    pipeline = Pipeline()
    limit = ClusterOptions().max_distance
    rows = []  # (kind, level, size_px, sharpness, rank1, within)
    for k in sample:
        image = Image.open(paths[int(photos[k])]).convert("RGB")
        label = labels[k]
        means = sums.copy()
        means[label] = (sums[label] - templates[k]) / (counts[label] - 1)
        means[np.arange(len(means)) != label] /= counts[np.arange(len(means)) != label, None]
        face_px = float(side[k])  # the face's width at full size, from the index
        variants = [("size", s, image.resize((max(8, round(image.width * s / face_px)),) * 2, Image.LANCZOS)) for s in SIZES_PX]
        variants += [("blur", b, image.filter(ImageFilter.GaussianBlur(b * face_px))) for b in BLURS]
        for kind, level, variant in variants:
            pixels = np.asarray(variant)
            faces = pipeline.embed(pixels)
            centre = np.array(pixels.shape[1::-1]) / 2
            faces = [f for f in faces if np.hypot(*(np.array(f.box.center) - centre)) <= 0.2 * min(pixels.shape[:2])]
            if not faces:
                rows.append((kind, level, np.nan, np.nan, False, False))
                continue
            face = faces[0]
            box = tuple(face.box.to_list())
            d = np.linalg.norm(means - face.template.vector, axis=1)
            rows.append((kind, level, min(box[2] - box[0], box[3] - box[1]), face_sharpness(pixels, box),
                         int(np.argmin(d)) == label, d[label] <= limit))
    print(f"{len(sample)} LFW images, fast pipeline; 'joins' = right person's mean within {limit}")
    for kind in ("size", "blur"):
        for level in (SIZES_PX if kind == "size" else BLURS):
            part = [r for r in rows if r[0] == kind and r[1] == level]
            found = [r for r in part if not np.isnan(r[2])]
            if not found:
                print(f"  {kind} {level}: no face found")
                continue
            print(f"  {kind} {level:<5} found {len(found):3d}/{len(part)}  face {np.median([r[2] for r in found]):5.1f} px  "
                  f"sharpness {np.median([r[3] for r in found]):7.1f}  rank-1 {np.mean([r[4] for r in found]):.3f}  "
                  f"joins {np.mean([r[5] for r in found]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
