"""People discovery on albums where most people appear once: pairwise and BCubed precision,
recall and F of the library's clustering beside an Immich-style DBSCAN, on the same faces, in
the same run, and the published anchor (Otto, Wang & Jain 2017: pairwise F 0.87 on all of LFW).

Data, indexed once by the library's own indexer (YuNet when its model is present, dlib's ResNet
on ONNX Runtime) into ``--cache-dir`` (a rerun only re-clusters, in seconds):

- all of LFW: 13,233 photos of 5,749 people, 4,069 of them seen once;
- LFW people with 10+ photos (158 people, 4,324 photos), the same faces;
- a mixed album: the 10+ people, 1,500 people seen once (drawn with seed 0) and the fixtures;
- the fixtures alone (people/, probes/, groups/: tight crops, phone photos, group photos).

Ground truth: the largest face of each photo gets the photo's folder (for the fixtures, the
person the fixtures README names; photos of several people are not scored). Every other face
(bystanders) is clustered too, as in a real album, but only labelled faces are scored. Faces
below the shipped quality gate are not clustered; a face left unclustered is a singleton.

    python scripts/eval_library.py [--cache-dir DIR] [--workers 2] [--json OUT] [--grid] [--scale]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from countenance.datasets import lfw_dir, shared_dir
from countenance.library import LibraryStore, QualityGate, index_folders
from countenance.library.cluster import ClusterOptions, bcubed, cluster_faces, dbscan_baseline, pairwise_scores

MIN_IMAGES = 10
SEEN_ONCE = 1500
OTTO_PAIRWISE_F = 0.87  # Otto, Wang & Jain 2017, all of LFW, rank-order clustering of a 2016 model
# The fixtures README: photo -> person (photos of several people are left unscored).
FIXTURE_PROBES = {"obama1.jpg": "obama", "obama-240p.jpg": "obama", "obama-720p.jpg": "obama",
                  "obama_partial_face.jpg": "obama", "obama_partial_face2.jpg": "obama",
                  "johnsnow_test1.jpg": "kit_harington", "alex_lacamoire1.jpg": "alex_lacamoire",
                  "alex-lacamoire.png": "alex_lacamoire", "lin-manuel-miranda.png": "lin_manuel_miranda"}


@dataclass(frozen=True)
class FaceSet:
    """Faces of an album: ``photo_ids``, ``templates (N, D)``, ``passed`` (the quality gate) and
    ``labels`` (the person of a scored face, -1 for the others)."""

    name: str
    photo_ids: np.ndarray
    templates: np.ndarray
    passed: np.ndarray
    labels: np.ndarray

    def subset(self, name: str, keep: np.ndarray) -> FaceSet:
        return FaceSet(name, self.photo_ids[keep], self.templates[keep], self.passed[keep], self.labels[keep])


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


def load(db: Path, name: str, person_of_photo) -> tuple[FaceSet, list[str]]:  # noqa: ANN001 - (path) -> str | None
    """Every face of the library at ``db``; the largest face of a photo gets ``person_of_photo(path)``.
    Also returns each face's photo path."""
    store = LibraryStore.open(db, create=False)
    try:
        photos = {p.id: p.path for p in store.photos()}
        rows = store.faces(eligible_only=False)
    finally:
        store.close()
    gate = QualityGate()
    side = np.array([min(f.box_ltrb_px[2] - f.box_ltrb_px[0], f.box_ltrb_px[3] - f.box_ltrb_px[1]) for f in rows])
    largest: dict[int, int] = {}
    for k, face in enumerate(rows):
        if face.photo_id not in largest or side[k] > side[largest[face.photo_id]]:
            largest[face.photo_id] = k
    names: dict[str, int] = {}
    labels = np.full(len(rows), -1, dtype=np.int64)
    for photo_id, k in largest.items():
        person = person_of_photo(photos[photo_id])
        if person is not None:
            labels[k] = names.setdefault(person, len(names))
    passed = np.array([gate.reason(f.box_ltrb_px, f.sharpness) is None for f in rows])
    faces = FaceSet(name, np.array([f.photo_id for f in rows]), np.stack([f.template for f in rows]), passed, labels)
    return faces, [photos[f.photo_id] for f in rows]


def album_sets(cache: Path, workers: int) -> list[FaceSet]:
    """The four sets of the module docstring (indexing what the cache lacks)."""
    images = lfw_dir() / "images"
    fixtures = shared_dir() / "data" / "fixtures"
    build(cache / "all" / "library.sqlite3", [images], workers)
    build(cache / "fixtures" / "library.sqlite3", [fixtures / d for d in ("people", "probes", "groups")], workers)
    lfw, paths = load(cache / "all" / "library.sqlite3", "all of LFW", lambda p: Path(p).parent.name)

    def fixture_person(path: str) -> str | None:
        p = Path(path)
        return p.parent.name if p.parent.name != "probes" and p.parent.parent.name == "people" else FIXTURE_PROBES.get(p.name)

    fix, _ = load(cache / "fixtures" / "library.sqlite3", "fixtures (tight crops, phone and group photos)", fixture_person)
    counts: dict[str, int] = {}
    for folder in sorted(images.iterdir()):
        counts[folder.name] = len(list(folder.glob("*.jpg")))
    folder = np.array([Path(p).parent.name for p in paths])
    many = np.array([counts[f] >= MIN_IMAGES for f in folder])
    once = sorted(f for f, c in counts.items() if c == 1)
    drawn = set(np.random.default_rng(0).choice(once, size=SEEN_ONCE, replace=False).tolist())
    mixed_lfw = lfw.subset("", many | np.isin(folder, list(drawn)))
    offset = int(mixed_lfw.labels.max()) + 1
    mixed = FaceSet(f"mixed album (10+ people, {SEEN_ONCE} seen once, fixtures)",
                    np.concatenate([mixed_lfw.photo_ids, fix.photo_ids + int(lfw.photo_ids.max()) + 1]),
                    np.concatenate([mixed_lfw.templates, fix.templates]),
                    np.concatenate([mixed_lfw.passed, fix.passed]),
                    np.concatenate([mixed_lfw.labels, np.where(fix.labels >= 0, fix.labels + offset, -1)]))
    return [lfw, lfw.subset(f"LFW people with {MIN_IMAGES}+ photos", many), mixed, fix]


def score(faces: FaceSet, clusters: np.ndarray) -> dict:
    scored = faces.labels >= 0
    b = bcubed(faces.labels[scored], clusters[scored])
    p = pairwise_scores(faces.labels[scored], clusters[scored])
    found = len({c for c in clusters[scored] if c >= 0})
    return {"pairwise_p": p.precision, "pairwise_r": p.recall, "pairwise_f": p.f1, "bcubed_p": b.precision,
            "bcubed_r": b.recall, "bcubed_f": b.f1, "people": found,
            "unclustered": int((clusters[scored] < 0).sum())}


def ours(faces: FaceSet, options: ClusterOptions) -> np.ndarray:
    labels = np.full(len(faces.labels), -1, dtype=np.int64)
    labels[faces.passed] = cluster_faces(faces.templates[faces.passed], faces.photo_ids[faces.passed], options).labels
    return labels


def line(method: str, row: dict, seconds: float) -> str:
    return (f"  {method:<38} pairwise P {row['pairwise_p']:.3f} R {row['pairwise_r']:.3f} F {row['pairwise_f']:.3f}"
            f"  BCubed P {row['bcubed_p']:.3f} R {row['bcubed_r']:.3f} F {row['bcubed_f']:.3f}"
            f"  people {row['people']:5d}  {seconds:.1f} s")


def evaluate(faces: FaceSet, grid: bool) -> list[dict]:
    scored = faces.labels >= 0
    print(f"{faces.name}: {len(faces.labels)} faces, {int(scored.sum())} scored, "
          f"{len(set(faces.labels[scored].tolist()))} people, {int((~faces.passed).sum())} below the quality gate")
    rows = []
    candidates = [("countenance (shipped defaults)", ClusterOptions())]
    if grid:
        candidates += [(f"  cut {cut:.2f} (pairs {cut:.2f}), min {m}",
                        ClusterOptions(max_distance=cut, max_pair_distance=cut, min_faces=m))
                       for cut in (0.45, 0.48, 0.5, 0.51, 0.52, 0.55) for m in (2, 3)]
        candidates += [(f"  cut {cut:.2f}, pairs {pair:.2f}, min 3", ClusterOptions(max_distance=cut, max_pair_distance=pair))
                       for pair, cut in ((0.45, 0.52), (0.45, 0.53), (0.45, 0.55), (0.46, 0.53), (0.47, 0.53),
                                         (0.48, 0.55), (0.45, 0.6))]
    for method, options in candidates:
        start = time.perf_counter()
        row = score(faces, ours(faces, options))
        print(line(method, row, time.perf_counter() - start), flush=True)
        rows.append({"method": method, **row})
    start = time.perf_counter()
    row = score(faces, dbscan_baseline(faces.templates, eps=0.5, min_faces=3))
    print(line("Immich-style DBSCAN (eps 0.5, min 3)", row, time.perf_counter() - start), flush=True)
    rows.append({"method": "Immich-style DBSCAN (eps 0.5, min 3)", **row})
    if faces.name == "all of LFW":
        print(f"  {'Otto, Wang & Jain 2017 (published)':<38} pairwise F {OTTO_PAIRWISE_F:.2f}")
    return rows


def scale(cache: Path, workers: int) -> dict:
    """All of LFW in a library: a second index run detects nothing; a full re-cluster; 100 new
    photos placed incrementally by ``library index``."""
    from PIL import Image

    from countenance.library import Library

    images = lfw_dir() / "images"
    new = cache / "new-100"
    singles = [p for p in sorted(images.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) == 1][:100]
    new.mkdir(parents=True, exist_ok=True)
    for image in new.glob("*.jpg"):
        image.unlink()
    out: dict = {}
    with Library.open(cache / "all") as library:
        second = library.index([images], workers=workers)
        start = time.perf_counter()
        clustered = library.recluster()
        out["recluster_all"] = {"faces": clustered.faces, "persons": clustered.persons, "seconds": time.perf_counter() - start}
        # New photos: LFW images re-encoded (other bytes, so not duplicates of the indexed ones).
        for folder in singles:
            for image in folder.glob("*.jpg"):
                with Image.open(image) as source:
                    source.save(new / image.name, quality=90)
        added = library.index([images, new], workers=workers)
        start = time.perf_counter()
        placed = library.place_new()
        out["add_100"] = {"index_seconds": added.seconds, "detected": added.detected,
                          "place_seconds": time.perf_counter() - start, "placed": placed.clustered}
        for image in new.glob("*.jpg"):  # drop the 100 again, so the next run measures the same
            image.unlink()
        library.index([images, new], workers=workers)
    print(f"all LFW in a library: second index run detected {second.detected} ({second.unchanged} unchanged) in "
          f"{second.seconds:.1f} s; full re-cluster of {clustered.faces} faces {out['recluster_all']['seconds']:.1f} s; "
          f"+100 photos: index {added.seconds:.1f} s, placed in {out['add_100']['place_seconds']:.2f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--grid", action="store_true", help="also score the cut and min-faces grid the defaults come from")
    parser.add_argument("--scale", action="store_true", help="also time index / re-cluster / placement on all of LFW")
    args = parser.parse_args(argv)
    from countenance.paths import cache_dir

    cache = args.cache_dir or cache_dir() / "library-eval"
    if "COUNTENANCE_MODEL_DIR" not in os.environ and (shared_dir() / "models" / "yunet").is_dir():
        os.environ["COUNTENANCE_MODEL_DIR"] = str(shared_dir() / "models" / "yunet")
    results = {faces.name: evaluate(faces, args.grid) for faces in album_sets(cache, args.workers)}
    if args.scale:
        results["scale"] = scale(cache, args.workers)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
