"""People discovery at scale: a full re-cluster of a synthetic 100k- and 1M-face library, and
placing the faces of 1,000 new photos in it, with the peak memory of each run; beside the
peer, exact average linkage (SciPy, O(N^2) memory) on 10,000 of the same faces, in the same run.

The synthetic libraries are built from real templates: the faces of all of LFW (indexed once
by ``scripts/eval_library.py`` into its cache) are copied, each copy turned by its own random
rotation about the templates' mean, so each copy is a new set of people at the real distances
from each other. Each case runs in its own process, so its peak memory (ru_maxrss) is its own. Wall and CPU
seconds are both printed: on a shared machine the wall time counts the other processes' turns
(run with OMP_NUM_THREADS=1 there: FAISS's waiting threads then spin for nothing).

    python scripts/bench_library_cluster.py [--sizes 100000 1000000] [--cache-dir DIR]
    python scripts/bench_library_cluster.py --library-case 1000000 [--keep DIR]  # through SQLite
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NEW_PHOTOS = 1000


def real_faces(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    from countenance.library import LibraryStore

    store = LibraryStore.open(cache / "all" / "library.sqlite3", create=False)
    try:
        _, photos, templates = store.face_arrays()
    finally:
        store.close()
    return photos, templates


def synthetic(photos: np.ndarray, templates: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` faces: copies of the real faces, each turned by a random rotation about their mean."""
    rng = np.random.default_rng(0)
    mean = templates.mean(axis=0)
    centred = templates - mean
    out_t = np.empty((size, templates.shape[1]), dtype=np.float32)
    out_p = np.empty(size, dtype=np.int64)
    stride = int(photos.max()) + 1
    for copy, start in enumerate(range(0, size, len(templates))):
        take = min(len(templates), size - start)
        rotation, _ = np.linalg.qr(rng.standard_normal((templates.shape[1],) * 2))
        out_t[start:start + take] = (centred[:take] @ rotation if copy else centred[:take]) + mean
        out_p[start:start + take] = photos[:take] + copy * stride
    return out_p, out_t


def case(size: int, cache: Path) -> dict:
    from countenance.library.cluster import ClusterOptions, cluster_faces, neighbour_index

    photos, templates = synthetic(*real_faces(cache), size)
    options = ClusterOptions()
    start, cpu = time.perf_counter(), time.process_time()
    full = cluster_faces(templates, photos, options)
    full_s, full_cpu = time.perf_counter() - start, time.process_time() - cpu
    # The faces of 1,000 photos arrive: the rest is clustered (its people are seeds) and in the
    # library's neighbour index; the new faces are added to the index and placed.
    rng = np.random.default_rng(1)
    new_photos = rng.choice(np.unique(photos), size=NEW_PHOTOS, replace=False)
    order = np.argsort(np.isin(photos, new_photos), kind="stable")
    photos, templates, labels = photos[order], templates[order], full.labels[order]
    new = np.isin(photos, new_photos)
    index = neighbour_index(templates[~new])
    seeds = np.where(new, -1, labels)
    start, cpu = time.perf_counter(), time.process_time()
    index.add(templates[new])
    placed = cluster_faces(templates, photos, options, seeds=seeds, queries=np.flatnonzero(new), index=index)
    place_s, place_cpu = time.perf_counter() - start, time.process_time() - cpu
    # What `library index` does today: no neighbour index kept, one exact search of the new faces.
    start, cpu = time.perf_counter(), time.process_time()
    cluster_faces(templates, photos, options, seeds=seeds, queries=np.flatnonzero(new))
    exact_s, exact_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"faces": size, "people": full.count, "clustered": int((full.labels >= 0).sum()),
            "recluster_s": full_s, "recluster_cpu_s": full_cpu, "new_faces": int(new.sum()),
            "placed": int((placed.labels[new] >= 0).sum()), "place_s": place_s, "place_cpu_s": place_cpu,
            "place_exact_s": exact_s, "place_exact_cpu_s": exact_cpu,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}


def library_case(size: int, cache: Path, folder: Path, keep: Path | None = None) -> dict:
    """Placement through the library itself (`library index` after indexing): a clustered
    ``size``-face library in SQLite (rows written directly), the faces of 1,000 new photos
    added, then :func:`~countenance.library.placement.place_new` timed, reading included.
    ``keep``: a folder where the built library (before placement) is kept and, on a later
    run, copied from instead of built again (building clusters the whole library first)."""
    import shutil

    from countenance.library import LibraryStore
    from countenance.library.cluster import ClusterOptions, cluster_faces
    from countenance.library.people import mark_clustered

    kept = keep / f"library-{size}.sqlite3" if keep else None
    if kept is not None and kept.exists():
        shutil.copyfile(kept, folder / "library.sqlite3")
        store = LibraryStore.open(folder / "library.sqlite3", create=False)
        try:
            return _place(store, size)
        finally:
            store.close()
    photos, templates = synthetic(*real_faces(cache), size)
    new = np.isin(photos, np.random.default_rng(1).choice(np.unique(photos), size=NEW_PHOTOS, replace=False))
    order = np.argsort(new, kind="stable")
    photos, templates, new = photos[order], templates[order], new[order]
    options = ClusterOptions()
    labels = cluster_faces(templates[~new], photos[~new], options).labels
    store = LibraryStore.open(folder / "library.sqlite3")
    ids = np.arange(1, size + 1)

    def faces(rows: np.ndarray) -> list[tuple]:
        return [(int(ids[k]), int(photos[k]) + 1, 0.0, 0.0, 100.0, 100.0, 1.0, 100.0, templates[k].tobytes(), "synthetic")
                for k in rows.tolist()]
    insert = ("INSERT INTO faces (id, photo_id, left_px, top_px, right_px, bottom_px, detection_score, sharpness, "
              "template, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    try:
        with store.transaction():
            store.connection.executemany("INSERT INTO photos (id, path, sha256, size_bytes, mtime_ns) VALUES (?, ?, '', 0, 0)",
                                         [(int(p) + 1, f"/synthetic/{p}.jpg") for p in np.unique(photos).tolist()])
            old = np.flatnonzero(~new)
            for start in range(0, len(old), 100_000):
                store.connection.executemany(insert, faces(old[start:start + 100_000]))
            store.connection.executemany("INSERT INTO persons (id) VALUES (?)", [(int(k) + 1,) for k in np.unique(labels[labels >= 0])])
            store.connection.executemany("INSERT INTO assignments VALUES (?, ?, 0)",
                                         [(int(ids[k]), int(labels[k]) + 1) for k in np.flatnonzero(labels >= 0).tolist()])
            mark_clustered(store, options, ids[~new])
            store.connection.executemany(insert, faces(np.flatnonzero(new)))
        if kept is not None:
            keep.mkdir(parents=True, exist_ok=True)
            store.connection.execute("VACUUM INTO ?", (str(kept),))
        return _place(store, size)
    finally:
        store.close()


def _place(store, size: int) -> dict:
    from countenance.library.cluster import ClusterOptions
    from countenance.library.placement import place_new

    start, cpu = time.perf_counter(), time.process_time()
    placed = place_new(store, ClusterOptions())
    return {"faces": size, "new_faces": placed.faces, "placed": placed.clustered,
            "library_place_s": time.perf_counter() - start, "library_place_cpu_s": time.process_time() - cpu,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}


def peer(cache: Path, size: int = 10_000) -> dict:
    """Exact average linkage (SciPy, the full condensed distance matrix) beside ours on ``size`` faces."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    from countenance.library.cluster import ClusterOptions, cluster_faces

    photos, templates = synthetic(*real_faces(cache), size)
    start = time.perf_counter()
    tree = linkage(pdist(templates.astype(np.float64)), method="average")
    fcluster(tree, ClusterOptions().max_distance, criterion="distance")
    scipy_s = time.perf_counter() - start
    start = time.perf_counter()
    cluster_faces(templates, photos)
    ours_s = time.perf_counter() - start
    return {"faces": size, "scipy_average_s": scipy_s, "ours_s": ours_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--library-case", type=int, default=None,
                        help="time `library index`'s placement through SQLite in a library of this many faces")
    parser.add_argument("--keep", type=Path, default=None,
                        help="with --library-case: keep the built library in this folder and reuse it on later runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from countenance.paths import cache_dir

    cache = args.cache_dir or cache_dir() / "library-eval"
    if args.case is not None:
        print(json.dumps(case(args.case, cache)))
        return 0
    if args.library_case is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(library_case(args.library_case, cache, Path(folder), args.keep)))
        return 0
    if not (cache / "all" / "library.sqlite3").exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("eval_library.py")), "--cache-dir", str(cache)], check=True)
    rows = []
    compare = peer(cache)
    print(f"10,000 faces: exact average linkage (SciPy) {compare['scipy_average_s']:.1f} s, ours {compare['ours_s']:.1f} s "
          f"({compare['scipy_average_s'] / compare['ours_s']:.1f}x)", flush=True)
    for size in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--case", str(size), "--cache-dir", str(cache)],
                              check=True, capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{size:>9,} faces: full re-cluster {row['recluster_s']:.1f} s wall, {row['recluster_cpu_s']:.1f} s CPU "
              f"({row['people']:,} people, {row['clustered']:,} faces in them); {row['new_faces']:,} faces of "
              f"{NEW_PHOTOS:,} new photos placed in {row['place_s']:.2f} s wall, {row['place_cpu_s']:.2f} s CPU "
              f"({row['placed']:,} in people), {row['place_exact_s']:.2f} s wall, {row['place_exact_cpu_s']:.2f} s CPU "
              f"with an exact search instead of the kept index; peak memory {row['peak_rss_gb']:.2f} GB", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"peer": compare, "cases": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
