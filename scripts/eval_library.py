"""People discovery on LFW: BCubed precision/recall/F1 of the library's clustering beside an
Immich-style DBSCAN baseline, on the same faces, in the same run.

Data: the LFW people with at least 10 images (158 people, 4,324 images), nobody enrolled,
indexed by the library's own indexer (fast pipeline: YuNet when installed, else HOG; dlib's
ResNet on ONNX Runtime) at full size (250 px) and downscaled to half (125 px) so the defaults
are checked across image sizes. The libraries are the cache: they live under ``--cache-dir``
and a rerun only re-clusters (indexing is incremental), so tuning runs take seconds.

Ground truth: in each image the face LFW labels is the one nearest the centre within a fifth
of the image side (as ``countenance eval lfw`` chooses it); it gets the folder's name. Every
other face (bystanders) is clustered too, as distractors, but only labelled faces are scored.
A face the method leaves unclustered counts as a singleton.

    python scripts/eval_library.py [--cache-dir DIR] [--workers 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from countenance.datasets import lfw_dir, shared_dir
from countenance.library import LibraryStore, QualityGate, index_folders
from countenance.library.cluster import ClusterOptions, bcubed, cluster_faces, dbscan_baseline

MIN_IMAGES = 10
CENTRAL_FRACTION = 0.2


def people_with_many_images(images: Path, minimum: int = MIN_IMAGES) -> list[Path]:
    return [p for p in sorted(images.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) >= minimum]


def make_half_size(folders: list[Path], out: Path) -> None:
    """JPEG copies at half the side (LANCZOS, quality 95); existing copies are kept."""
    from PIL import Image

    for folder in folders:
        target = out / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for image in sorted(folder.glob("*.jpg")):
            path = target / image.name
            if path.exists():
                continue
            with Image.open(image) as source:
                small = source.convert("RGB").resize((source.width // 2, source.height // 2), Image.LANCZOS)
            tmp = path.with_suffix(".tmp.jpg")
            small.save(tmp, quality=95)
            os.replace(tmp, path)


def build(db: Path, roots: list[Path], workers: int) -> None:
    store = LibraryStore.open(db)
    try:
        def progress(p):
            if p.done % 500 == 0 or p.done == p.total:
                print(f"  {db.parent.name}: {p.done}/{p.total} {p.rate_per_s:.1f}/s eta {p.eta_s or 0:.0f}s",
                      file=sys.stderr, flush=True)
        summary = index_folders(store, roots, workers=workers, on_progress=progress)
        print(f"  {db.parent.name}: {summary.detected} images detected, {summary.unchanged} unchanged, "
              f"{summary.faces_total} faces, {summary.images_per_second:.1f} images/s", file=sys.stderr)
    finally:
        store.close()


def labelled(store: LibraryStore) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(face ids, photo ids, templates, short side px, labels)`` of every face; label -1 for a bystander."""
    photos = {p.id: p for p in store.photos()}
    names: dict[str, int] = {}
    rows = store.faces(eligible_only=False)
    central: dict[int, tuple[float, int]] = {}
    for face in rows:
        photo = photos[face.photo_id]
        left, top, right, bottom = face.box_ltrb_px
        offset = np.hypot((left + right) / 2 - photo.width_px / 2, (top + bottom) / 2 - photo.height_px / 2)
        if offset <= CENTRAL_FRACTION * min(photo.width_px, photo.height_px):
            if face.photo_id not in central or offset < central[face.photo_id][0]:
                central[face.photo_id] = (offset, face.id)
    subject = {face_id: photo_id for photo_id, (_, face_id) in central.items()}
    labels = []
    for face in rows:
        if face.id in subject:
            person = Path(photos[face.photo_id].path).parent.name
            labels.append(names.setdefault(person, len(names)))
        else:
            labels.append(-1)
    side = [min(f.box_ltrb_px[2] - f.box_ltrb_px[0], f.box_ltrb_px[3] - f.box_ltrb_px[1]) for f in rows]
    return (np.array([f.id for f in rows]), np.array([f.photo_id for f in rows]),
            np.stack([f.template for f in rows]), np.array(side), np.array(labels))


def report(name: str, labels: np.ndarray, clusters: np.ndarray, seconds: float) -> dict:
    scored = labels >= 0
    score = bcubed(labels[scored], clusters[scored])
    found = len({c for c in clusters[scored] if c >= 0})
    print(f"  {name:<34} P {score.precision:.4f}  R {score.recall:.4f}  F1 {score.f1:.4f}  "
          f"clusters {found:4d}  unclustered {int((clusters[scored] < 0).sum()):4d}  {seconds * 1000:.0f} ms")
    return {"method": name, "precision": score.precision, "recall": score.recall, "f1": score.f1,
            "clusters": found, "seconds": seconds}


def evaluate(store: LibraryStore, title: str, eps_grid: list[float]) -> list[dict]:
    ids, photos, templates, side, labels = labelled(store)
    # The shipped quality gate, applied afresh (so a changed default needs no re-index): gated
    # faces are not clustered and count as unclustered singletons, as in the library.
    gate = QualityGate()
    rows = store.faces()
    passed = np.array([gate.reason(f.box_ltrb_px, f.sharpness) is None for f in rows])
    print(f"{title}: {int((~passed & (labels >= 0)).sum())} labelled faces gated "
          f"(min {gate.min_face_px:g} px, sharpness {gate.min_sharpness:g})")
    print(f"{title}: {len(ids)} faces, {int((labels >= 0).sum())} labelled, {len(set(labels[labels >= 0]))} people, "
          f"median face {np.median(side[labels >= 0]):.0f} px")
    start = time.perf_counter()
    ours = np.full(len(ids), -1, dtype=np.int64)
    ours[passed] = cluster_faces(templates[passed], photos[passed], ClusterOptions()).labels
    results = [report("countenance (shipped defaults)", labels, ours, time.perf_counter() - start)]
    best = None
    for eps in eps_grid:
        start = time.perf_counter()
        base = dbscan_baseline(templates, eps=eps, min_faces=3)
        row = report(f"DBSCAN min 3, eps {eps:.2f}", labels, base, time.perf_counter() - start)
        results.append(row)
        if best is None or row["f1"] > best["f1"]:
            best = row
    print(f"  best baseline: {best['method']} (F1 {best['f1']:.4f})")
    return results


def scale(cache: Path, workers: int) -> dict:
    """All of LFW (13,233 images): index throughput, a second run that detects nothing, the
    clustering time, and the time to take in 100 new photos and re-cluster."""
    from countenance.library import Library

    images = lfw_dir() / "images"
    new = cache / "new-100"
    singles = [p for p in sorted(images.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) == 1][:100]
    from PIL import Image

    # New photos: LFW images re-encoded (other bytes, so not duplicates of the indexed ones).
    new.mkdir(parents=True, exist_ok=True)
    for folder in singles:
        for image in folder.glob("*.jpg"):
            with Image.open(image) as source:
                source.save(new / image.name, quality=90)
    out: dict = {}
    with Library.open(cache / "all") as library:
        first = library.index([images], workers=workers)
        out["first_run"] = first.to_dict()
        second = library.index([images], workers=workers)
        out["second_run"] = {"detected": second.detected, "unchanged": second.unchanged, "seconds": second.seconds}
        start = time.perf_counter()
        clustered = library.recluster()
        out["cluster_all"] = {"faces": clustered.faces, "persons": clustered.persons, "seconds": time.perf_counter() - start}
        added = library.index([images, new], workers=workers)
        start = time.perf_counter()
        again = library.recluster()
        out["add_100"] = {"index_seconds": added.seconds, "detected": added.detected,
                          "recluster_seconds": time.perf_counter() - start, "persons": again.persons}
        for image in new.glob("*.jpg"):  # drop the 100 again, so the next run measures the same
            image.unlink()
        library.index([images, new], workers=workers)
    print(f"all LFW: first run {out['first_run']['detected']} images at {out['first_run']['images_per_second']:.1f}/s "
          f"({out['first_run']['faces_total']} faces); second run detected {second.detected}, "
          f"{second.unchanged} unchanged in {second.seconds:.1f} s; clustering {clustered.faces} faces: "
          f"{out['cluster_all']['seconds']:.1f} s; +100 photos: index {added.seconds:.1f} s, "
          f"re-cluster {out['add_100']['recluster_seconds']:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--skip-half", action="store_true")
    parser.add_argument("--scale", action="store_true", help="also index all of LFW (throughput, re-cluster time)")
    args = parser.parse_args(argv)
    from countenance.paths import cache_dir

    cache = args.cache_dir or cache_dir() / "library-eval"
    if "COUNTENANCE_MODEL_DIR" not in os.environ and (shared_dir() / "models" / "yunet").is_dir():
        os.environ["COUNTENANCE_MODEL_DIR"] = str(shared_dir() / "models" / "yunet")
    folders = people_with_many_images(lfw_dir() / "images")
    print(f"LFW people with >= {MIN_IMAGES} images: {len(folders)}", file=sys.stderr)
    build(cache / "full" / "library.sqlite3", folders, args.workers)
    sizes = [("full size (250 px)", cache / "full" / "library.sqlite3")]
    if not args.skip_half:
        make_half_size(folders, cache / "half-images")
        build(cache / "half" / "library.sqlite3", [cache / "half-images" / f.name for f in folders], args.workers)
        sizes.append(("half size (125 px)", cache / "half" / "library.sqlite3"))
    results = {}
    eps_grid = [0.35, 0.38, 0.4, 0.42, 0.45, 0.5]
    for title, db in sizes:
        store = LibraryStore.open(db, create=False)
        try:
            results[title] = evaluate(store, title, eps_grid)
        finally:
            store.close()
    if args.scale:
        results["scale"] = scale(cache, args.workers)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
