"""Folder indexing against face_recognition on the same images, in the same run.

`library index` (``countenance.library.index_folders``: walk, hash, decode, YuNet, dlib
landmarks, dlib's ResNet on ONNX Runtime, sharpness, SQLite) over a copy of N LFW images
(shuffled, seed 0), into an empty library, with 1 and with 2 worker processes; beside it
face_recognition (HOG at its default upsample 1, its 5-point landmarks, dlib's ResNet) over
the same files, in this process (1) and in a pool of 2 spawned processes (its own CLI's way).
Each side embeds every face it finds. The four runs alternate (peer 1, ours 1, peer 2, ours 2)
so that load from other jobs falls on both; the load average is printed beside the figures.

    python scripts/bench_index.py [--images 1000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import multiprocessing
import random
import shutil
import tempfile
import time
from pathlib import Path

from countenance.datasets import lfw_dir, shared_dir


def _peer_one(path: str) -> int:
    import face_recognition

    pixels = face_recognition.load_image_file(path)
    return len(face_recognition.face_encodings(pixels, face_recognition.face_locations(pixels), model="small"))


def peer(paths: list[str], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    if workers == 1:
        faces = sum(_peer_one(path) for path in paths)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            faces = sum(pool.map(_peer_one, paths, chunksize=16))
    return time.perf_counter() - start, faces


def ours(folder: Path, workers: int) -> tuple[float, int]:
    from countenance.library import LibraryStore, index_folders

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        store = LibraryStore.open(Path(tmp) / "library.sqlite3")
        try:
            start = time.perf_counter()
            summary = index_folders(store, [folder], workers=workers)
            seconds = time.perf_counter() - start
        finally:
            store.close()
    return seconds, summary.faces_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the four runs; each ratio is printed per round")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import face_recognition  # noqa: F401 - loads its models now, not inside the first timed run

    os.environ.setdefault("COUNTENANCE_MODEL_DIR", tempfile.mkdtemp(prefix="countenance-bench-models-"))
    from countenance.model_registry import pull

    pull("yunet", shared_dir() / "models" / "yunet" / "face_detection_yunet_2023mar.onnx")
    images = sorted((lfw_dir() / "images").glob("*/*.jpg"))
    random.Random(0).shuffle(images)
    with tempfile.TemporaryDirectory(prefix="bench-index-photos-") as tmp:
        folder = Path(tmp)
        for path in images[: args.images]:
            shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
        paths = sorted(str(p) for p in folder.iterdir())
        from countenance.backends.precision import resolve_precision

        print(f"# library index vs face_recognition: {len(paths)} LFW images (250 px), every face; "
              f"ours embeds in {resolve_precision('auto')} ($COUNTENANCE_PRECISION=f32 for float32); "
              f"xN = face_recognition's time / ours; load average before: {os.getloadavg()[0]:.2f}")
        for round_ in range(args.rounds):
            for workers in args.workers:
                peer_s, peer_faces = peer(paths, workers)
                ours_s, our_faces = ours(folder, workers)
                print(f"round {round_ + 1}, {workers} worker{'s' if workers > 1 else ' '}: face_recognition "
                      f"{len(paths) / peer_s:6.1f} img/s ({peer_faces} faces)  library index "
                      f"{len(paths) / ours_s:6.1f} img/s ({our_faces} faces)  x{peer_s / ours_s:5.1f}  "
                      f"[load {os.getloadavg()[0]:.2f}]", flush=True)


if __name__ == "__main__":
    main()
