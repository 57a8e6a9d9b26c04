"""Open-set identification on LFW through a real gallery (SQLite + FAISS, calibrated threshold).

    python scripts/eval_identification.py [--lfw-dir DIR] [--json]

Protocol: the 1,680 people with at least two images are enrolled with one image each (their
first); probes are their other images (mated: the answer should be them) and every image of
the 4,069 people with a single image (non-mated: the answer should be "unknown"). Reports

- rank-1 accuracy: mated probes whose first candidate is the right person (any distance);
- FNIR at FPIR = 0.01 and 0.003: the threshold is set on the non-mated probes so that that
  fraction of them get a name; FNIR is the fraction of mated probes not named correctly at it;
- the gallery's own decisions, at the threshold its calibration sets for its target FPIR at
  this gallery size: the measured FPIR against the target, and the FNIR.

Templates come from the shared LFW cache (lfw_cache.py): the gallery is given them as faces
already embedded (``EmbeddedImage``); everything after embedding is the gallery's own code.
The calibration table was measured on LFW too (first image of each person), so the measured
FPIR is an in-sample check of the method, not an independent one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lfw_cache import load_lfw_templates  # noqa: E402

from countenance import datasets  # noqa: E402
from countenance.embed import make_embedder  # noqa: E402
from countenance.evaluate import LFW_CENTRE_BOX  # noqa: E402
from countenance.faces import Box, Face, Template  # noqa: E402
from countenance.gallery import EmbeddedImage, Gallery, Policy  # noqa: E402
from countenance.hashing import sha256_file  # noqa: E402


def embedded(path: Path, vector: np.ndarray | None, model: str) -> EmbeddedImage:
    """The cached template of an LFW image as the one face of that image (centre box), or no face."""
    faces = () if vector is None else (Face(box=Box(*LFW_CENTRE_BOX), detection_score=1.0, template=Template(vector, model)),)
    return EmbeddedImage(faces, sha256_file(path), str(path.resolve()))


def fnir_at_fpir(mated_top: np.ndarray, mated_right: np.ndarray, nonmated_top: np.ndarray, fpir: float) -> tuple[float, float]:
    """``(threshold, FNIR)``: the largest threshold naming at most ``fpir`` of the non-mated
    probes (top-1 distance <= threshold), and the fraction of mated probes not named correctly."""
    ordered = np.sort(nonmated_top)
    allowed = int(np.floor(fpir * ordered.size + 1e-9))
    threshold = np.nextafter(ordered[allowed], -np.inf) if allowed < ordered.size else np.inf
    named_right = mated_right & (mated_top <= threshold)
    return float(threshold), float(1.0 - named_right.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    lfw = args.lfw_dir or datasets.lfw_dir()
    images = lfw / "images"
    cached = load_lfw_templates(lfw, embedder=args.embedder, cache_dir=args.cache_dir, workers=args.workers)
    by_person: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(cached.paths):
        by_person[rel.split("/")[0]].append(rel)
    vector_of = {str((images / rel).resolve()): v for rel, v, ok in zip(cached.paths, cached.vectors, cached.ok, strict=True) if ok}
    failed = [rel for rel, ok in zip(cached.paths, cached.ok, strict=True) if not ok]

    spec = make_embedder(args.embedder).spec

    def image(rel: str) -> EmbeddedImage:
        path = images / rel
        return embedded(path, vector_of.get(str(path.resolve())), spec.name)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery.create(Path(tmp) / "lfw", model=spec, policy=Policy(consent_required=False, keep_crops=False), actor="eval")
        enrolled, mated, nonmated = {}, [], []
        for person, files in sorted(by_person.items()):
            if len(files) >= 2:
                result = gallery.enroll(person, [image(files[0])])
                if result.templates:
                    enrolled[person] = files[0]
                    mated.extend((person, f) for f in files[1:])
            else:
                nonmated.extend((None, f) for f in files)
        gallery.flush()
        threshold = gallery.threshold()
        target = gallery.policy.target_fpir
        n_templates = gallery.template_count

        def top1(probes):
            out = []
            for truth, rel in probes:
                faces = gallery.identify(image(rel), k=1).faces
                if not faces:
                    out.append((truth, None, np.inf, None))
                    continue
                face = faces[0]
                best = face.candidates[0] if face.candidates else None
                out.append((truth, best.subject if best else None, best.distance if best else np.inf, face.decision))
            return out

        mated_results = top1(mated)
        nonmated_results = top1(nonmated)
        info = gallery.info()
        gallery.close()
    seconds = time.perf_counter() - start

    mated_top = np.array([d for _, _, d, _ in mated_results])
    mated_right = np.array([truth == who for truth, who, _, _ in mated_results])
    nonmated_top = np.array([d for _, _, d, _ in nonmated_results])
    report = {
        "enrolled_people": len(enrolled),
        "templates": n_templates,
        "mated_probes": len(mated_results),
        "non_mated_probes": len(nonmated_results),
        "images_without_template": len(failed),
        "rank1_accuracy": round(float(mated_right.mean()), 4),
        "fnir_at_fpir": {},
        "default_threshold": {
            "target_fpir": target,
            "threshold": round(threshold, 4),
            "measured_fpir": round(float(np.mean([dec is not None for *_, dec in nonmated_results])), 4),
            "fnir": round(float(np.mean([dec != truth for truth, _, _, dec in mated_results])), 4),
        },
        "index": info.index.to_dict(),
        "seconds": round(seconds, 1),
    }
    for fpir in (0.01, 0.003):
        t, fnir = fnir_at_fpir(mated_top, mated_right, nonmated_top, fpir)
        report["fnir_at_fpir"][str(fpir)] = {"fnir": round(fnir, 4), "threshold": round(t, 4)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"LFW open-set identification ({spec.name}): {report['enrolled_people']} people enrolled (1 image each), "
          f"{report['mated_probes']} mated + {report['non_mated_probes']} non-mated probes, {len(failed)} images without a template")
    print(f"  rank-1 accuracy (mated)      {report['rank1_accuracy']:.4f}")
    for fpir, row in report["fnir_at_fpir"].items():
        print(f"  FNIR at FPIR = {fpir:<6}       {row['fnir']:.4f}  (threshold {row['threshold']:.4f})")
    d = report["default_threshold"]
    print(f"  default threshold {d['threshold']:.4f} (calibrated for FPIR {d['target_fpir']} over {n_templates} templates): "
          f"measured FPIR {d['measured_fpir']:.4f}, FNIR {d['fnir']:.4f}")
    print(f"  ({report['seconds']} s through the gallery, index {info.index.kind})")


if __name__ == "__main__":
    main()
