"""`make eval-clean`: inject known noise into LFW people with 10+ photos, clean, score each kind.

The base set is LFW's people with at least 10 photos (158 people, 4,324 photos; from
countenance.datasets.lfw_dir()). For each seed, a temporary copy gets, in this order:
- 5 people split: half of each one's photos moved to a new folder under a new name;
- 5% of all photos moved to another person's folder (mislabels);
- 3% of the photos not moved copied again into their folder, cropped (up to 10% a side),
  resized (x0.6 to x1.4) and recompressed (JPEG quality 55 to 90): near-duplicates.
Then `clean_dataset` runs with the shipped defaults, and precision and recall are printed per
kind of noise, with the one-pass baseline (distance to the folder's median template above a
fixed cut) beside the mislabel figures.

Two figures per kind. "Strict" counts only injected noise as true: every other flag is false.
"With verified" also counts as true the problems LFW already has that a person verified by
eye (VERIFIED_NEAR_DUPLICATES, VERIFIED_MISLABELS below), and only those: a flag on the
un-noised set that nobody looked at, or that was looked at and is not a problem, stays false.
The un-noised base set is cleaned too, and each of its findings is listed with what the eye
said about it (verified / looked at, not a problem / not looked at).

With --aligned (LFW turned into ArcFace-aligned 112x112 crops by scripts/lfw_aligned_crops.py,
COUNTENANCE_LFW_DIR pointing there), nothing is detected (aligned input, ``aligned-arcface112``)
and a near-duplicate copy is resized back to the crop's own size after its crop, as a copy in
such a data set is.

Usage: python scripts/eval_clean.py [--seeds 0 1 2] [--cache FILE] [--workers 2] [--json] [--aligned]
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
from countenance.clean.findings import DUPLICATE_IDENTITY, MISLABEL, NEAR_DUPLICATE, OUTLIER
from countenance.datasets import lfw_dir, shared_dir
from countenance.pipeline import PipelineConfig

# Pairs of LFW photos that are the same picture twice, verified by eye on 2026-12-01 (helper L):
# every near-duplicate pair the check reported on the un-noised set with the defaults of that
# day was rendered side by side, then one photo warped onto the other (ORB matches, a
# similarity transform by RANSAC) and the difference image viewed. These 14 line up over the
# whole frame, background included (only edges and borders differ; 0006 and 0165 of George W.
# Bush differ in colour balance only). Found by the check, confirmed independently of it.
VERIFIED_NEAR_DUPLICATES = (
    ("Serena_Williams/Serena_Williams_0002.jpg", "Serena_Williams/Serena_Williams_0016.jpg"),
    ("Serena_Williams/Serena_Williams_0029.jpg", "Serena_Williams/Serena_Williams_0031.jpg"),
    ("George_W_Bush/George_W_Bush_0016.jpg", "George_W_Bush/George_W_Bush_0039.jpg"),
    ("George_W_Bush/George_W_Bush_0109.jpg", "George_W_Bush/George_W_Bush_0461.jpg"),
    ("George_W_Bush/George_W_Bush_0130.jpg", "George_W_Bush/George_W_Bush_0206.jpg"),
    ("George_W_Bush/George_W_Bush_0147.jpg", "George_W_Bush/George_W_Bush_0165.jpg"),
    ("George_W_Bush/George_W_Bush_0168.jpg", "George_W_Bush/George_W_Bush_0171.jpg"),
    ("George_W_Bush/George_W_Bush_0177.jpg", "George_W_Bush/George_W_Bush_0194.jpg"),
    ("George_W_Bush/George_W_Bush_0235.jpg", "George_W_Bush/George_W_Bush_0261.jpg"),
    ("George_W_Bush/George_W_Bush_0407.jpg", "George_W_Bush/George_W_Bush_0409.jpg"),
    ("Julie_Gerberding/Julie_Gerberding_0004.jpg", "Julie_Gerberding/Julie_Gerberding_0006.jpg"),
    ("Julianne_Moore/Julianne_Moore_0001.jpg", "Julianne_Moore/Julianne_Moore_0008.jpg"),
    ("Ari_Fleischer/Ari_Fleischer_0006.jpg", "Ari_Fleischer/Ari_Fleischer_0011.jpg"),
    ("Renee_Zellweger/Renee_Zellweger_0010.jpg", "Renee_Zellweger/Renee_Zellweger_0013.jpg"),
)
# Looked at the same way on 2026-12-01 and NOT the same picture (false if flagged): two moments
# of one session or two frames of one TV address; the aligned difference shows the head, mouth
# and shoulders moved. Their aligned face crops differ by 6-10 hash bits with a correlation of
# 0.964-0.975, inside the range of the injected copies, so the face checks pass them; the
# whole-picture comparison (countenance.clean.picture_match) rejects them (overall correlation
# 0.82-0.92 against >= 0.978 for copies).
NOT_SAME_PICTURE = (
    ("Pierce_Brosnan/Pierce_Brosnan_0003.jpg", "Pierce_Brosnan/Pierce_Brosnan_0008.jpg"),
    ("George_W_Bush/George_W_Bush_0372.jpg", "George_W_Bush/George_W_Bush_0376.jpg"),
    ("George_W_Bush/George_W_Bush_0027.jpg", "George_W_Bush/George_W_Bush_0032.jpg"),
)
# LFW photos whose labelled face is not the person the folder names, verified by eye on
# 2026-12-01 (rendered beside two photos of the folder and two of the suggested folder).
VERIFIED_MISLABELS = {
    "Michael_Schumacher/Michael_Schumacher_0008.jpg": "shows Rubens Barrichello",
    "Recep_Tayyip_Erdogan/Recep_Tayyip_Erdogan_0004.jpg": "Abdullah Gul in front; the only face found is Gul's",
    "Colin_Powell/Colin_Powell_0048.jpg": "label right, but YuNet misses Powell's face and finds only "
                                          "George W. Bush's at the edge: the template used is not Powell",
}
# Looked at and the right person (a hard photo; a false mislabel).
RIGHT_PERSON = {"Bill_Simon/Bill_Simon_0006.jpg": "Bill Simon in half profile"}

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


def near_copy(source: Path, target: Path, rng: np.random.Generator, *, keep_size: bool = False) -> None:
    image = Image.open(source).convert("RGB")
    width, height = image.size
    left, top, right, bottom = (rng.uniform(0.0, 0.10) for _ in range(4))
    image = image.crop((int(left * width), int(top * height), int(width * (1 - right)), int(height * (1 - bottom))))
    scale = rng.uniform(0.6, 1.4)
    size = (width, height) if keep_size else (max(16, int(image.width * scale)), max(16, int(image.height * scale)))
    image = image.resize(size, Image.BICUBIC)
    image.save(target, "JPEG", quality=int(rng.integers(55, 91)))


def inject(people: dict[str, list[Path]], root: Path, seed: int, *, keep_size: bool = False) -> Truth:
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
        near_copy(root / rel, root / copy_rel, rng, keep_size=keep_size)
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


def _verified_truth(truth: Truth) -> tuple[set[str], set[frozenset[str]]]:
    """Injected noise plus the verified pre-existing problems, in the noisy copy's paths."""
    originals = {rel: orig for rel, orig in truth.identity.items() if "_copy" not in Path(rel).stem}
    by_original = {orig: rel for rel, orig in originals.items()}
    mislabelled = truth.mislabelled | {by_original[o] for o in VERIFIED_MISLABELS if o in by_original}
    near = set(truth.near_pairs) | {frozenset({by_original[a], by_original[b]}) for a, b in VERIFIED_NEAR_DUPLICATES
                                    if a in by_original and b in by_original}
    return mislabelled, near


def _same_picture(pair: frozenset[str], truth: Truth, verified: set[frozenset[str]]) -> bool:
    """An injected copy (or a copy of a verified pair's photo) with a verified partner."""
    a, b = (truth.identity[i] for i in pair)
    return a == b or frozenset({a, b}) in verified


def score(report, truth: Truth) -> dict:
    mislabelled = {f.items[0] for f in report.of_kind(MISLABEL)}
    outliers = {f.items[0] for f in report.of_kind(OUTLIER)}
    near = pairs_of(report.of_kind(NEAR_DUPLICATE))
    splits = {frozenset(f.labels) for f in report.of_kind(DUPLICATE_IDENTITY)}
    verified_mis, verified_near = _verified_truth(truth)
    verified_pairs = {frozenset(p) for p in VERIFIED_NEAR_DUPLICATES}
    near_true = {p for p in near if p in verified_near or _same_picture(p, truth, verified_pairs)}
    out = {}
    for name, predicted, strict, verified, true_predicted in (
            ("mislabel", mislabelled, truth.mislabelled, verified_mis, mislabelled & verified_mis),
            ("near_duplicate", near, truth.near_pairs, verified_near, near_true)):
        p, r, hits, n = precision_recall(predicted, strict)
        out[name] = {"precision": round(p, 4), "recall": round(r, 4), "found": hits, "flagged": n,
                     "truth": len(strict),
                     "precision_verified": round(len(true_predicted) / n if n else 1.0, 4),
                     "recall_verified": round(len(predicted & verified) / len(verified) if verified else 1.0, 4),
                     "truth_verified": len(verified),
                     "false": sorted("+".join(sorted(x)) if isinstance(x, frozenset) else x
                                     for x in predicted - true_predicted)}
    out["outlier"] = {"flagged": len(outliers), "moved": len(outliers & truth.mislabelled)}
    out["split"] = {"found": len(splits & truth.split_pairs), "truth": len(truth.split_pairs),
                    "false_pairs": sorted("+".join(sorted(p)) for p in splits - truth.split_pairs)}
    return out


def base_findings(base_report) -> list[str]:
    """The un-noised set's mislabel and near-duplicate findings, each with what the eye said."""
    lines = []
    for finding in base_report.of_kind(MISLABEL):
        item = finding.items[0]
        said = (f"verified by eye: {VERIFIED_MISLABELS[item]}" if item in VERIFIED_MISLABELS
                else f"looked at, the right person ({RIGHT_PERSON[item]})" if item in RIGHT_PERSON else "not looked at")
        lines.append(f"mislabel {item} -> {finding.suggested_label}: {said}")
    verified, different = {frozenset(p) for p in VERIFIED_NEAR_DUPLICATES}, {frozenset(p) for p in NOT_SAME_PICTURE}
    for pair in sorted(pairs_of(base_report.of_kind(NEAR_DUPLICATE)), key=sorted):
        said = ("verified by eye: the same picture" if pair in verified
                else "looked at: NOT the same picture" if pair in different else "not looked at")
        lines.append(f"near-duplicate {' + '.join(sorted(pair))}: {said}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", type=Path, default=None, help="template cache (default: a fresh temporary one)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-cuts", type=float, nargs="+", default=[0.45, 0.5, 0.55],
                        help="fixed cuts of the one-pass baseline (each is printed)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--aligned", action="store_true",
                        help="the photos are ArcFace-aligned 112 px crops (scripts/lfw_aligned_crops.py): no detection")
    parser.add_argument("--keep", type=Path, default=None, help="keep the noisy copies under this folder")
    args = parser.parse_args()

    yunet = shared_dir() / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    detector = "hog"
    if yunet.is_file():  # as a user's `countenance models pull yunet --from FILE`, sha256-verified
        os.environ.setdefault("COUNTENANCE_MODEL_DIR", tempfile.mkdtemp(prefix="countenance-eval-models-"))
        from countenance.model_registry import pull

        pull("yunet", yunet)
        detector = "yunet"
    if args.aligned:
        from countenance.aligned import ALIGNED_ARCFACE112

        detector = ALIGNED_ARCFACE112
    people = lfw_people()
    work = Path(tempfile.mkdtemp(prefix="countenance-eval-clean-"))
    cache = args.cache or work / "templates.sqlite"
    options = CleanOptions(PipelineConfig(detector=detector, embedder="dlib-onnx"), workers=args.workers, cache_path=cache)
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
        print("\nLFW before any noise (problems it already has; verified by eye on 2026-12-01):")
        for line in base_findings(base_report):
            print(f"  {line}")
        for seed in args.seeds:
            root = (args.keep or work) / f"seed{seed}"
            truth = inject(people, root, seed, keep_size=args.aligned)
            start = time.perf_counter()
            report = clean_dataset(root, options)
            first = time.perf_counter() - start
            start = time.perf_counter()
            report = clean_dataset(root, options)
            cached = time.perf_counter() - start
            result = {"seed": seed, "photos": report.photos, "labels": report.labels,
                      "cut_distance": round(report.cut_distance, 4), "cut_fmr": report.cut_fmr,
                      **score(report, truth)}
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
    m, n, s, o = result["mislabel"], result["near_duplicate"], result["split"], result["outlier"]
    print(f"\nseed {result['seed']}: {result['photos']} photos, {result['labels']} folders; "
          f"cut {result['cut_distance']} (FMR {result['cut_fmr']})")
    print(f"  mislabels      strict P {m['precision']:.3f}  R {m['recall']:.3f}  ({m['found']}/{m['truth']} moved photos "
          f"found, {m['flagged']} flagged)")
    print(f"                 with verified LFW problems P {m['precision_verified']:.3f}  R {m['recall_verified']:.3f}  "
          f"(truth {m['truth_verified']}); still false: {m['false']}")
    print(f"  outliers       {o['flagged']} flagged (match no folder; not counted as mislabels), {o['moved']} of them moved photos")
    for b in result["baseline_one_pass"]:
        print(f"  baseline       P {b['precision']:.3f}  R {b['recall']:.3f}  (one pass, median template, cut {b['cut']})")
    print(f"  near-dups      strict P {n['precision']:.3f}  R {n['recall']:.3f}  ({n['found']}/{n['truth']} injected pairs, "
          f"{n['flagged']} flagged)")
    print(f"                 with verified LFW duplicates P {n['precision_verified']:.3f}  R {n['recall_verified']:.3f}  "
          f"(truth {n['truth_verified']}); still false: {n['false']}")
    print(f"  split people   {s['found']}/{s['truth']} found, {len(s['false_pairs'])} false pairs {s['false_pairs']}")
    sec = result["seconds"]
    print(f"  seconds        base set {sec['base_from_scratch']}, noisy set {sec['first']} then cached {sec['cached']}")


if __name__ == "__main__":
    raise SystemExit(main())
