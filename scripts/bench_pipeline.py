"""Speed of the pipeline against face_recognition on the same images, in one process and run.

Prints medians and ratios (peer time / our time; > 1 means we are faster):
1. per-face embedding: face_recognition.face_encodings vs our embedders on the same faces;
2. per-image detection: face_recognition.face_locations (HOG, upsample 1, its default) vs ours;
3. end to end on a 640 px one-face photo, one thread: load + detect + landmarks + embed;
4. folder throughput on 2 cores over ../shared/data/fixtures/crowd + 500 LFW images.

Run with `make bench`. Single-thread figures set every library to one thread.
"""

from __future__ import annotations

import argparse
import os

# One thread for every numeric library, before they are imported (a benchmark's own setting).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from countenance import Pipeline
from countenance.datasets import fixtures_dir, lfw_dir
from countenance.embed import embed_faces
from countenance.image import iter_image_files, load_image
from countenance.ingest import embed_paths


def median_ms(function: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def row(label: str, peer_ms: float, ours: dict[str, float]) -> None:
    parts = "  ".join(f"{name} {ms:8.2f} ms (x{peer_ms / ms:5.1f})" for name, ms in ours.items())
    print(f"{label:<34} face_recognition {peer_ms:8.2f} ms  {parts}")


def try_pipeline(**kwargs) -> Pipeline | None:
    try:
        return Pipeline(**kwargs)
    except Exception as error:  # a backend that is not installed here: say so and go on
        print(f"  (skipped {kwargs}: {error})")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--lfw-images", type=int, default=500)
    parser.add_argument("--yunet", type=Path, default=None, help="YuNet .onnx (default: ../shared/models/yunet)")
    args = parser.parse_args()

    import face_recognition

    cv2.setNumThreads(1)
    yunet = args.yunet or fixtures_dir().parents[1] / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    os.environ.setdefault("COUNTENANCE_MODEL_DIR", tempfile.mkdtemp(prefix="countenance-bench-models-"))
    from countenance.model_registry import pull

    pull("yunet", yunet)  # verified by sha256, as a user's `countenance models pull yunet --from FILE`

    dlib_hog = Pipeline(detector="hog", embedder="dlib", upsample=1)
    fast = {
        "hog+dlib-onnx": try_pipeline(detector="hog", embedder="dlib-onnx", upsample=1, threads=1),
        "yunet+dlib-onnx": try_pipeline(detector="yunet", embedder="dlib-onnx", threads=1),
    }
    fast = {k: v for k, v in fast.items() if v is not None}

    # A 640 px wide photo with one face, as in the brief.
    original = load_image(fixtures_dir() / "probes" / "obama1.jpg")
    scale = 640 / original.shape[1]
    photo = cv2.resize(original, (640, round(original.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    photo_path = Path(tempfile.mkdtemp()) / "one_face_640.jpg"
    cv2.imwrite(str(photo_path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))

    print(f"# one thread; {args.repeat} repetitions; medians; (xN) = face_recognition time / ours")
    # 1. Embedding, per face, on the same landmarks.
    people = sorted(iter_image_files(fixtures_dir() / "people"))
    image = load_image(people[0])
    faces = dlib_hog.face_detector.detect(image)
    css = [(int(f.box.top), int(f.box.right), int(f.box.bottom), int(f.box.left)) for f in faces[:1]]
    peer = median_ms(lambda: face_recognition.face_encodings(image, css, num_jitters=1, model="small"), args.repeat)
    ours = {"dlib": median_ms(lambda: embed_faces(dlib_hog.embedder, image, faces[:1]), args.repeat)}
    for name, pipeline in fast.items():
        if name.startswith("hog"):
            ours["dlib-onnx"] = median_ms(lambda: embed_faces(pipeline.embedder, image, faces[:1]), args.repeat)
    row("embedding, per face", peer, ours)
    group = load_image(fixtures_dir() / "groups" / "t1.jpg")
    group_faces = dlib_hog.face_detector.detect(group)
    if "hog+dlib-onnx" in fast:
        batch = median_ms(lambda: embed_faces(fast["hog+dlib-onnx"].embedder, group, group_faces), max(5, args.repeat // 4))
        print(f"{'  dlib-onnx batch of ' + str(len(group_faces)) + ', per face':<34} {batch / len(group_faces):8.2f} ms")

    # 2. Detection, per 640 px image.
    peer = median_ms(lambda: face_recognition.face_locations(photo), args.repeat)
    ours = {"hog(up1)": median_ms(lambda: dlib_hog.face_detector.detect(photo), args.repeat)}
    if "yunet+dlib-onnx" in fast:
        ours["yunet"] = median_ms(lambda: fast["yunet+dlib-onnx"].face_detector.detect(photo), args.repeat)
    row("detection + landmarks, 640 px", peer, ours)

    # 3. End to end from the file.
    def peer_end_to_end() -> None:
        pixels = face_recognition.load_image_file(str(photo_path))
        face_recognition.face_encodings(pixels, face_recognition.face_locations(pixels), model="small")

    peer = median_ms(peer_end_to_end, args.repeat)
    ours = {"hog+dlib": median_ms(lambda: dlib_hog.embed(photo_path), args.repeat)}
    for name, pipeline in fast.items():
        ours[name] = median_ms(lambda: pipeline.embed(photo_path), args.repeat)
    row("end to end, 640 px one face", peer, ours)

    # 4. Folder throughput on 2 cores.
    paths = [str(p) for p in iter_image_files(fixtures_dir() / "crowd")]
    lfw_images = sorted(str(p) for p in (lfw_dir() / "images").glob("*/*.jpg"))
    random.Random(0).shuffle(lfw_images)
    paths += lfw_images[: args.lfw_images]

    def peer_folder() -> None:
        # face_recognition's own CLI runs one process per core the same way; both sides embed
        # every face found (HOG at upsample 1, face_recognition's default).
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(2) as pool:
            pool.map(_peer_one, paths, chunksize=16)

    def timed(function: Callable[[], object]) -> float:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    peer_s = timed(peer_folder)
    print(f"{'folder, 2 processes, ' + str(len(paths)) + ' images':<34} face_recognition {len(paths) / peer_s:6.1f} img/s", end="")
    for detector, embedder in [("hog", "dlib"), ("hog", "dlib-onnx"), ("yunet", "dlib-onnx")]:
        if detector == "yunet" and "yunet+dlib-onnx" not in fast:
            continue
        options = {"detector": detector, "embedder": embedder, "upsample": 1}
        seconds = timed(lambda: list(embed_paths(paths, workers=2, pipeline_options=options)))
        print(f"  {detector}+{embedder} {len(paths) / seconds:6.1f} img/s (x{peer_s / seconds:4.1f})", end="")
    print()


def _peer_one(path: str) -> int:
    import face_recognition

    pixels = face_recognition.load_image_file(path)
    return len(face_recognition.face_encodings(pixels, face_recognition.face_locations(pixels), model="small"))


if __name__ == "__main__":
    main()
