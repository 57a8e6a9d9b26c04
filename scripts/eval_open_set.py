"""Do the gallery's open-set thresholds hold? LFW, one template and several templates per person.

    python scripts/eval_open_set.py [--lfw-dir DIR] [--protocols one all-but-one] [--out FILE.json] [--json]

The protocols are in :mod:`countenance.evaluate.lfw_open_set`: enrol every person with 4+
images with all but one (or every person with 2+ images with one), probe with the held-out
images (mated) and every image of the single-image people (non-mated); measure the FPIR and
FNIR at the gallery's own threshold for target FPIRs 0.01 and 0.001 (a false positive is a
stranger answered with a name or "ambiguous"; false names, the names alone, are printed beside). In-sample with the
shipped table, then calibrated on one half of the people and measured on the other (both ways).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from countenance import datasets
from countenance.embedding import make_embedder
from countenance.evaluate import load_lfw_templates
from countenance.evaluate.lfw_open_set import PROTOCOLS, lfw_open_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the split of people in halves")
    parser.add_argument("--no-split", action="store_true", help="in-sample run only")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    lfw = args.lfw_dir or datasets.lfw_dir()
    templates = load_lfw_templates(
        lfw, embedder=args.embedder, cache_dir=args.cache_dir, workers=args.workers, log=lambda line: print(line, file=sys.stderr)
    )
    spec = make_embedder(args.embedder).spec
    reports = []
    for protocol in args.protocols:
        print(f"running {protocol} ...", file=sys.stderr)
        reports.append(lfw_open_set(templates, lfw / "images", spec, protocol=protocol, seed=args.seed, splits=not args.no_split))
    document = {"model": spec.name, "protocols": [r.to_dict() for r in reports]}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=1) + "\n")
    if args.json:
        print(json.dumps(document, indent=1))
        return
    for report in reports:
        r = report.in_sample
        print(f"\n{report.protocol}: {r.subjects} subjects, {r.templates} templates, {r.mated_probes} mated + "
              f"{r.non_mated_probes} non-mated probes; rank-1 {r.cmc[0]:.4f}")
        for p in r.fnir_at_fpir:
            print(f"  FNIR at FPIR {p.fpir:<6} (empirical threshold {p.threshold:.4f}): {p.fnir:.4f}")
        for p in r.at_gallery_threshold:
            print(f"  in-sample, target {p.target_fpir:<6}: threshold {p.threshold:.4f}, measured FPIR {p.measured_fpir:.4f} "
                  f"({p.false_positives}/{r.non_mated_probes}, x{p.ratio:.2f}, 95% {p.fpir_interval[0]:.4f}-{p.fpir_interval[1]:.4f}), "
                  f"false names {p.false_names}, FNIR {p.fnir:.4f}")
        for split in report.splits:
            for p in split.report.at_gallery_threshold:
                print(f"  split (calibrated on {split.calibrated_on} people), target {p.target_fpir:<6}: threshold "
                      f"{p.threshold:.4f}, FPIR {p.measured_fpir:.4f} ({p.false_positives}/{split.report.non_mated_probes}), "
                      f"false names {p.false_names}, FNIR {p.fnir:.4f}")
        for pooled in report.pooled():
            print(f"  split pooled, target {pooled['target_fpir']:<6}: FPIR {pooled['measured_fpir']:.4f} "
                  f"({pooled['false_positives']}/{pooled['non_mated_probes']}, x{pooled['ratio_to_target']:.2f}, "
                  f"95% {pooled['fpir_95'][0]:.4f}-{pooled['fpir_95'][1]:.4f}), false names {pooled['false_names']}, "
                  f"FNIR {pooled['fnir']:.4f}")


if __name__ == "__main__":
    main()
