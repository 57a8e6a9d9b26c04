"""Open-set identification on LFW through a real gallery (SQLite + FAISS, calibrated threshold).

    python scripts/eval_identification.py [--lfw-dir DIR] [--json]

The protocol and the figures are described in :mod:`countenance.evaluate.identification`: the
1,680 people with at least two images are enrolled with one image each; their other images are
mated probes and every image of the 4,069 people with a single image a non-mated probe.
The calibration table was measured on LFW too (first image of each person), so the measured
FPIR is an in-sample check of the method, not an independent one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from countenance import datasets
from countenance.embed import make_embedder
from countenance.evaluate import load_lfw_templates
from countenance.evaluate.identification import evaluate_lfw_identification


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    lfw = args.lfw_dir or datasets.lfw_dir()
    templates = load_lfw_templates(
        lfw, embedder=args.embedder, cache_dir=args.cache_dir, workers=args.workers, log=lambda line: print(line, file=sys.stderr)
    )
    spec = make_embedder(args.embedder).spec
    report = evaluate_lfw_identification(templates, lfw / "images", spec)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(f"LFW open-set identification ({report.model}): {report.enrolled_people} people enrolled (1 image each), "
          f"{report.mated_probes} mated + {report.non_mated_probes} non-mated probes, "
          f"{report.images_without_template} images without a template")
    print(f"  rank-1 accuracy (mated)      {report.rank1_accuracy:.4f}")
    for point in report.fnir_at_fpir:
        print(f"  FNIR at FPIR = {point.fpir:<6}       {point.fnir:.4f}  (threshold {point.threshold:.4f})")
    print(f"  default threshold {report.default_threshold:.4f} (calibrated for FPIR {report.target_fpir} over "
          f"{report.templates} templates): measured FPIR {report.measured_fpir:.4f}, FNIR {report.fnir_at_default:.4f}")
    print(f"  ({report.seconds:.1f} s through the gallery, index {report.index['kind']})")


if __name__ == "__main__":
    main()
