"""`make eval-clean`: inject known noise into LFW people with 10+ photos, clean, score each kind.

The base set is LFW's people with at least 10 photos (158 people, 4,324 photos; from
countenance.datasets.lfw_dir()). For each seed, a temporary copy gets, in this order:
- 5 people split: half of each one's photos moved to a new folder under a new name;
- 5% of all photos moved to another person's folder (mislabels);
- 3% of the photos not moved copied again into their folder, cropped (up to 10% a side),
  resized (x0.6 to x1.4) and recompressed (JPEG quality 55 to 90): near-duplicates.
Then `clean_dataset` runs with the shipped defaults, and precision and recall are printed per
kind of noise, with the one-pass baseline (distance to the folder's median template above a
fixed cut) beside the mislabel figures. The un-noised base set is cleaned too: what it flags
is noise LFW already has (label errors, duplicate photos), shown apart ("net" figures leave
those findings out of the false positives; the strict figures count them).

Usage: python scripts/eval_clean.py [--seeds 0 1 2] [--cache FILE] [--workers 2] [--json]
Without --cache, templates go to a fresh temporary cache (from-scratch timing), and each seed
is cleaned a second time to time the cached run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from countenance.clean import CleanOptions, clean_dataset
from countenance.clean.findings import DUPLICATE_IDENTITY, MISLABEL, NEAR_DUPLICATE
from countenance.datasets import lfw_dir, shared_dir

SPLITS = 5
MISLABEL_FRACTION = 0.05
NEAR_DUPLICATE_FRACTION = 0.03
MIN_PHOTOS = 10


@dataclass
class Truth:
    identity: dict[str, str]  # relpath in the noisy copy -> original LFW relpath
    mislabelled: set[str]
    near_pairs: set[frozenset[str]]
    split_pairs: set[frozenset[str]]


def lfw_people(min_photos: int = MIN_PHOTOS) -> dict[str, list[Path]]:
    images = lfw_dir() / "images"
    people = {}
    for person in sorted(images.iterdir()):
        files = sorted(person.glob("*.jpg"))
        if len(files) >= min_photos:
            people[person.name] = files
    return people


def link_base(people: dict[str, list[Path]], root: Path) -> None:
    for name, files in people.items():
        (root / name).mkdir(parents=True)
        for file in files:
            (root / name / file.name).symlink_to(file)


def near_copy(source: Path, target: Path, rng: np.random.Generator) -> None:
    image = Image.open(source).convert("RGB")
    width, height = image.size
    left, top, right, bottom = (rng.uniform(0.0, 0.10) for _ in range(4))
    image = image.crop((int(left * width), int(top * height), int(width * (1 - right)), int(height * (1 - bottom))))
    scale = rng.uniform(0.6, 1.4)
    image = image.resize((max(16, int(image.width * scale)), max(16, int(image.height * scale))), Image.BICUBIC)
    image.save(target, "JPEG", quality=int(rng.integers(55, 91)))


def inject(people: dict[str, list[Path]], root: Path, seed: int) -> Truth:
    """A noisy copy of ``people`` under ``root`` (files copied, never the originals touched)."""
    rng = np.random.default_rng(seed)
    folders: dict[str, str] = {}  # relpath -> folder
    original: dict[str, str] = {}  # relpath -> original relpath
    person_of_folder = {name: name for name in people}
    for name, files in people.items():
        for file in files:
            folders[f"{name}/{file.name}"] = name
            original[f"{name}/{file.name}"] = f"{name}/{file.name}"
    truth = Truth({}, set(), set(), set())
    # 1. Splits.
    for name in rng.choice(sorted(people), SPLITS, replace=False):
        new = f"Person_{rng.integers(16**6):06x}"
        person_of_folder[new] = str(name)
        photos = sorted(p for p, f in folders.items() if f == name)
        for rel in rng.permutation(photos)[: len(photos) // 2]:
            folders[str(rel)] = new
        truth.split_pairs.add(frozenset({str(name), new}))
    # 2. Mislabels.
    everything = sorted(folders)
    moved = rng.choice(everything, round(MISLABEL_FRACTION * len(everything)), replace=False)
    all_folders = sorted(person_of_folder)
    for rel in moved:
        rel = str(rel)
        person = person_of_folder[folders[rel]]
        choices = [f for f in all_folders if person_of_folder[f] != person]
        folders[rel] = choices[int(rng.integers(len(choices)))]
    moved_set = {str(r) for r in moved}
    # Write the copy.
    for rel, folder in sorted(folders.items()):
        target = root / folder / Path(rel).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw_dir() / "images" / rel, target)
        new_rel = f"{folder}/{Path(rel).name}"
        truth.identity[new_rel] = original[rel]
        if rel in moved_set:
            truth.mislabelled.add(new_rel)
    # 3. Near-duplicates of photos that stayed with their person.
    stayed = sorted(r for r in truth.identity if r not in truth.mislabelled)
    for k, rel in enumerate(rng.choice(stayed, round(NEAR_DUPLICATE_FRACTION * len(truth.identity)), replace=False)):
        rel = str(rel)
        copy_rel = f"{Path(rel).parent}/{Path(rel).stem}_copy{k}.jpg"
        near_copy(root / rel, root / copy_rel, rng)
        truth.identity[copy_rel] = truth.identity[rel]
        truth.near_pairs.add(frozenset({rel, copy_rel}))
    return truth


def pairs_of(findings) -> set[frozenset[str]]:
    pairs = set()
    for finding in findings:
        items = finding.items
        pairs.update(frozenset({a, b}) for i, a in enumerate(items) for b in items[i + 1 :])
    return pairs


def precision_recall(predicted: set, truth: set, ignore: set = frozenset()) -> tuple[float, float, int, int]:
    """Precision (1.0 when nothing is predicted) and recall; ``ignore`` predictions count neither way."""
    kept = {p for p in predicted if p in truth or p not in ignore}
    hits = len(kept & truth)
    return (hits / len(kept) if kept else 1.0), (hits / len(truth) if truth else 1.0), hits, len(kept)


def baseline_one_pass(report, truth: Truth, cut: float) -> tuple[float, float]:
    """Largest face per photo; flagged when farther than ``cut`` from its folder's median template."""
    by_label: dict[str, list[tuple[str, np.ndarray]]] = {}
    for record in report.records:
        if record.faces:
            by_label.setdefault(record.photo.label, []).append((record.photo.relpath, record.faces[0].vector))
    flagged = set()
    for rows in by_label.values():
        vectors = np.stack([v for _, v in rows])
        median = np.median(vectors, axis=0)
        distances = np.linalg.norm(vectors - median, axis=1)
        flagged.update(rel for (rel, _), d in zip(rows, distances) if d > cut)
    p, r, _, _ = precision_recall(flagged, truth.mislabelled)
    return p, r


def score(report, base_report, truth: Truth) -> dict:
    # What the base set already has, in terms of the noisy copy's paths.
    base_mis = {f.items[0] for f in base_report.of_kind(MISLABEL)}
    base_near = pairs_of(base_report.of_kind(NEAR_DUPLICATE))
    ignore_mis = {rel for rel, orig in truth.identity.items() if orig in base_mis}
    ignore_near = {pair for pair in pairs_of(report.of_kind(NEAR_DUPLICATE))
                   if frozenset(truth.identity[i] for i in pair) in base_near}
    mislabelled = {f.items[0] for f in report.of_kind(MISLABEL)}
    near = pairs_of(report.of_kind(NEAR_DUPLICATE))
    splits = {frozenset(f.labels) for f in report.of_kind(DUPLICATE_IDENTITY)}
    base_splits = {frozenset(f.labels) for f in base_report.of_kind(DUPLICATE_IDENTITY)}
    out = {}
    for name, predicted, true, ignore in (("mislabel", mislabelled, truth.mislabelled, ignore_mis),
                                          ("near_duplicate", near, truth.near_pairs, ignore_near)):
        p, r, hits, n = precision_recall(predicted, true)
        pn, _, _, nn = precision_recall(predicted, true, ignore)
        out[name] = {"precision": round(p, 4), "recall": round(r, 4), "found": hits, "flagged": n,
                     "truth": len(true), "precision_net": round(pn, 4), "already_in_lfw": n - nn}
    out["split"] = {"found": len(splits & truth.split_pairs), "truth": len(truth.split_pairs),
                    "false_pairs": sorted("+".join(sorted(p)) for p in splits - truth.split_pairs),
                    "false_pairs_in_lfw_too": len((splits - truth.split_pairs) & base_splits)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, default=None, help="template cache (default: a fresh temporary one)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-cuts", type=float, nargs="+", default=[0.45, 0.5, 0.55],
                        help="fixed cuts of the one-pass baseline (each is printed)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the noisy copies under this folder")
    args = parser.parse_args()

    yunet = shared_dir() / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    detector = "hog"
    if yunet.is_file():  # as a user's `countenance models pull yunet --from FILE`, sha256-verified
        os.environ.setdefault("COUNTENANCE_MODEL_DIR", tempfile.mkdtemp(prefix="countenance-eval-models-"))
        from countenance.model_registry import pull

        pull("yunet", yunet)
        detector = "yunet"
    people = lfw_people()
    work = Path(tempfile.mkdtemp(prefix="countenance-eval-clean-"))
    cache = args.cache or work / "templates.sqlite"
    options = CleanOptions(detector=detector, embedder="dlib-onnx", workers=args.workers, cache_path=cache)
    print(f"LFW people with >= {MIN_PHOTOS} photos: {len(people)} people, {sum(map(len, people.values()))} photos; "
          f"{detector} + dlib-onnx, {args.workers} workers; cache {cache}", file=sys.stderr)
    results = []
    try:
        base_root = work / "base"
        link_base(people, base_root)
        start = time.perf_counter()
        base_report = clean_dataset(base_root, options)
        base_seconds = time.perf_counter() - start
        print(f"base set: {base_report.computed} templates computed, {base_report.cache_hits} cached, "
              f"{base_seconds:.1f} s; findings {base_report.counts()}", file=sys.stderr)
        for seed in args.seeds:
            root = (args.keep or work) / f"seed{seed}"
            truth = inject(people, root, seed)
            start = time.perf_counter()
            report = clean_dataset(root, options)
            first = time.perf_counter() - start
            start = time.perf_counter()
            report = clean_dataset(root, options)
            cached = time.perf_counter() - start
            result = {"seed": seed, "photos": report.photos, "labels": report.labels,
                      "cut_distance": round(report.cut_distance, 4), "cut_fmr": report.cut_fmr,
                      **score(report, base_report, truth)}
            result["baseline_one_pass"] = []
            for cut in args.baseline_cuts:
                p, r = baseline_one_pass(report, truth, cut)
                result["baseline_one_pass"].append({"cut": cut, "precision": round(p, 4), "recall": round(r, 4)})
            result["seconds"] = {"base_from_scratch": round(base_seconds, 1), "first": round(first, 1),
                                 "cached": round(cached, 1)}
            results.append(result)
            print_result(result)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


def print_result(result: dict) -> None:
    m, n, s = result["mislabel"], result["near_duplicate"], result["split"]
    print(f"\nseed {result['seed']}: {result['photos']} photos, {result['labels']} folders; "
          f"cut {result['cut_distance']} (FMR {result['cut_fmr']})")
    print(f"  mislabels      P {m['precision']:.3f}  R {m['recall']:.3f}  ({m['found']}/{m['truth']} found, "
          f"{m['flagged']} flagged; net of {m['already_in_lfw']} LFW already has: P {m['precision_net']:.3f})")
    for b in result["baseline_one_pass"]:
        print(f"  baseline       P {b['precision']:.3f}  R {b['recall']:.3f}  (one pass, median template, cut {b['cut']})")
    print(f"  near-dups      P {n['precision']:.3f}  R {n['recall']:.3f}  ({n['found']}/{n['truth']} pairs, "
          f"{n['flagged']} flagged; net of {n['already_in_lfw']} LFW already has: P {n['precision_net']:.3f})")
    print(f"  split people   {s['found']}/{s['truth']} found, {len(s['false_pairs'])} false pairs "
          f"{s['false_pairs']} ({s['false_pairs_in_lfw_too']} also in the base set)")
    sec = result["seconds"]
    print(f"  seconds        base set {sec['base_from_scratch']}, noisy set {sec['first']} then cached {sec['cached']}")


if __name__ == "__main__":
    raise SystemExit(main())
