"""Rebuild a model's calibration table (false-match rate vs distance) from LFW impostor pairs.

    python scripts/calibrate.py [--lfw-dir DIR] [--people N] [--out FILE]

Takes the first image of each LFW person (5,749 people: 16.5 million impostor pairs, so FMR
is measured down to ~6e-8), computes the distance of every pair of them (all different
people) and writes the distance quantiles to ``src/countenance/calibration/<model>.json``
(see :mod:`countenance.calibration.impostors`). Then every LFW image is an impostor probe
against each other person with 2+ images, which measures the effective number of templates
of a subject with several (:mod:`countenance.calibration.subjects`), written to the
same file. Templates come from the LFW template cache; computing them the first time takes a
while (~0.15 s per image per core with dlib).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from countenance import datasets
from countenance.calibration import lfw_subject_calibration, save_calibration
from countenance.evaluate import load_lfw_templates

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--lfw-dir", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="template cache (default: ~/.cache/countenance)")
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--people", type=int, default=None, help="use only the first N people (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="output (default: src/countenance/calibration/<model>.json)")
    args = parser.parse_args()

    lfw = args.lfw_dir or datasets.lfw_dir()
    templates = load_lfw_templates(
        lfw, embedder=args.embedder, cache_dir=args.cache_dir, workers=args.workers,
        log=lambda line: print(line, file=sys.stderr),
    )
    people = sorted(set(templates.people))[: args.people] if args.people else None
    start = time.perf_counter()
    ok = templates.ok
    result, rates = lfw_subject_calibration(
        templates.vectors[ok], [p for p, good in zip(templates.people, ok, strict=True) if good],
        model=templates.model, metric=templates.metric, subset=people, extra={
        "created": date.today().isoformat(), "embedder": args.embedder,
        "detector": "hog (cnn, then LFW centre box, as fallbacks)",
    })
    distances, calibration = result.distances, result.calibration
    print(f"{distances.size:,} impostor distances, effective templates measured in {time.perf_counter() - start:.1f} s "
          f"({len(result.excluded_pairs)} pairs left out as LFW label errors)", file=sys.stderr)
    out = args.out or ROOT / "src" / "countenance" / "calibration" / f"{templates.model}.json"
    save_calibration(calibration, out)
    print(f"wrote {out} ({len(calibration.distances)} points)")
    print(f"smallest impostor distance {distances.min():.4f}; median {np.median(distances):.4f}")
    for d in (0.4, 0.45, 0.5, 0.55, 0.6):
        print(f"  FMR({d}) = {calibration.false_match_rate(d):.3g}")
    for fmr in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        print(f"  distance at FMR {fmr:g}: {calibration.distance_at_fmr(fmr):.4f}")
    print("effective templates k_eff(k) at 0.40 / 0.45 / 0.50 / 0.55 (subjects, impostor pairs):")
    for i, k in enumerate(rates.templates):
        cells = " / ".join(f"{calibration.effective_templates(int(k), t):.2f}" for t in (0.40, 0.45, 0.50, 0.55))
        print(f"  k = {int(k):>2}: {cells}  ({rates.subjects[i]}, {rates.pairs[i]:,})")
    for shape in ({1: 14}, {1: 5, 2: 3, 3: 1}, {18: 5}, {1: 1680}, {1: 10_000}, {1: 1_000_000}):
        t = calibration.threshold_for_subjects(0.01, shape)
        old = calibration.threshold_for_fpir(0.01, sum(k * n for k, n in shape.items()))
        print(f"  FPIR 0.01 over {shape}: threshold {t:.4f} (every template independent: {old:.4f}; "
              f"expected FPIR {calibration.identification_fpir(t, shape):.4f})")

if __name__ == "__main__":
    main()
