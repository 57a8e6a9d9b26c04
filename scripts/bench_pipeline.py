"""Speed of the pipeline against face_recognition on the same images, in one process and run.

Prints medians and ratios (peer time / our time; > 1 means we are faster):
1. per-face embedding: face_recognition.face_encodings vs our embedders on the same faces;
2. per-image detection: face_recognition.face_locations (HOG, upsample 1, its default) vs ours;
3. end to end on a 640 px one-face photo, one thread: load + detect + landmarks + embed;
4. folder throughput on 2 cores over ../shared/data/fixtures/crowd + 500 LFW images;
5. the detectors side by side: per-image detection time (backend only, 640 px), face counts on
   the fixture group photos against their README, faces found on the 24 crowd photos (no
   ground truth), and the share of the first 1,000 LFW images (sorted paths) where a face is
   found near the centre.

Run with `make bench` (`--detectors-only`: sections 2 and 5). Single-thread figures set every
library to one thread.
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

from countenance import Face, Pipeline
from countenance.datasets import fixtures_dir, lfw_dir, shared_dir
from countenance.detection import BoxDetector, Detection, FaceDetector, make_box_detector
from countenance.embedding import embed_faces
from countenance.image import iter_image_files, load_image
from countenance.ingest import BatchEmbedder, ImageJob
from countenance.pipeline import PipelineConfig

# The opt-in ONNX detectors benchmarked beside YuNet: registry name and file under ../shared/models.
OPTIONAL_DETECTORS = {
    "ultraface": ("ultraface-rfb-320", "ultraface/version-RFB-320.onnx"),
    "blazeface": ("blazeface", "blazeface/blazeface.onnx"),
}
# Faces per fixture group photo (../shared/data/fixtures/README.md).
GROUP_COUNTS = {"t1.jpg": 6, "multiface.jpg": 6, "two_people.jpg": 2, "couple.jpg": 2, "obama_and_biden.jpg": 3}
# LFW crops are centred on the labelled face: it counts as found when a box centre lies within
# this fraction of the image's shorter side from the image centre.
CENTRE_TOLERANCE = 0.15


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
    parser.add_argument("--lfw-centre", type=int, default=1000, help="LFW images for the detectors' centre-face recall")
    parser.add_argument("--detectors-only", action="store_true", help="only sections 2 and 5 (detection)")
    args = parser.parse_args()

    import face_recognition

    cv2.setNumThreads(1)
    yunet = args.yunet or shared_dir() / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    os.environ.setdefault("COUNTENANCE_MODEL_DIR", tempfile.mkdtemp(prefix="countenance-bench-models-"))
    from countenance.model_registry import pull

    pull("yunet", yunet)  # verified by sha256, as a user's `countenance models pull yunet --from FILE`
    detectors = ["hog", "yunet"]
    for detector, (model, filename) in OPTIONAL_DETECTORS.items():
        try:
            pull(model, shared_dir() / "models" / filename)
            detectors.append(detector)
        except Exception as error:  # not in ../shared here: say so and go on
            print(f"  (skipped {detector}: {error})")

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
    if args.detectors_only:
        detection_row(photo, dlib_hog, detectors, args.repeat)
        compare_detectors(photo, detectors, args.repeat, args.lfw_centre)
        return
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
    detection_row(photo, dlib_hog, detectors, args.repeat)

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
        config = PipelineConfig(detector=detector, embedder=embedder, upsample=1)

        def ours_folder() -> None:  # the batch-embedding layer, as the library indexer runs it
            with BatchEmbedder(config, workers=2) as embedder_pool:
                list(embedder_pool.embed([ImageJob(p) for p in paths]))

        seconds = timed(ours_folder)
        print(f"  {detector}+{embedder} {len(paths) / seconds:6.1f} img/s (x{peer_s / seconds:4.1f})", end="")
    print()

    # 5. The detectors side by side.
    compare_detectors(photo, detectors, args.repeat, args.lfw_centre)


def detection_row(photo: np.ndarray, dlib_hog: Pipeline, detectors: list[str], repeat: int) -> None:
    """Section 2: detection + dlib landmarks on the 640 px photo, each detector at its defaults."""
    import face_recognition

    peer = median_ms(lambda: face_recognition.face_locations(photo), repeat)
    ours = {"hog(up1)": median_ms(lambda: dlib_hog.face_detector.detect(photo), repeat)}
    for name in detectors[1:]:
        face_detector = FaceDetector(name, threads=1)
        ours[name] = median_ms(lambda: face_detector.detect(photo), repeat)
    row("detection + landmarks, 640 px", peer, ours)


def compare_detectors(photo: np.ndarray, detectors: list[str], repeat: int, lfw_images: int) -> None:
    """Section 5: backend-only detection time at 640 px, fixture group and crowd counts, LFW centre-face recall.

    The detectors are timed in turn, one call each per round, so that load from other jobs on
    the machine falls on all of them alike.
    """
    group = load_image(fixtures_dir() / "groups" / "t1.jpg")
    group_640 = cv2.resize(group, (640, round(group.shape[0] * 640 / group.shape[1])), interpolation=cv2.INTER_AREA)
    backends = {name: make_box_detector(name, threads=1) for name in detectors}
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(repeat + 2):
        for name, backend in backends.items():
            for label, image in (("one face", photo), ("t1 group", group_640)):
                start = time.perf_counter()
                _detect_only(backend, image)
                if round_ >= 2:  # the first two rounds warm up
                    times.setdefault((name, label), []).append((time.perf_counter() - start) * 1000.0)

    lfw_paths = sorted((lfw_dir() / "images").glob("*/*.jpg"))[:lfw_images]
    crowd_paths = list(iter_image_files(fixtures_dir() / "crowd"))
    print(f"# detectors at their defaults (upsample 'auto'); LFW: first {len(lfw_paths)} images, sorted paths")
    for name, backend in backends.items():
        face_detector = FaceDetector(backend)
        counts = {file: len(face_detector.detect(load_image(fixtures_dir() / "groups" / file))) for file in GROUP_COUNTS}
        exact = sum(counts[file] == count for file, count in GROUP_COUNTS.items())
        crowd = sum(len(face_detector.detect(load_image(path))) for path in crowd_paths)
        start, found = time.perf_counter(), 0
        for path in lfw_paths:
            image = load_image(path)
            found += _centre_found(face_detector.detect(image), image.shape)
        lfw_ms = (time.perf_counter() - start) * 1000.0 / max(len(lfw_paths), 1)
        listed = " ".join(f"{file.split('.')[0]} {counts[file]}/{count}" for file, count in GROUP_COUNTS.items())
        one_ms, group_ms = (statistics.median(times[name, label]) for label in ("one face", "t1 group"))
        print(
            f"{name:<10} detect 640 px: one face {one_ms:6.2f} ms, t1 group {group_ms:6.2f} ms | "
            f"groups exact {exact}/{len(GROUP_COUNTS)} ({listed}) | crowd faces {crowd} | "
            f"LFW centre {found / max(len(lfw_paths), 1):.3f} ({lfw_ms:.1f} ms/img with landmarks)"
        )


def _detect_only(backend: BoxDetector, image: np.ndarray) -> list[Detection]:
    """The backend's faces at the first of its "auto" upsample levels that finds any (HOG: 1)."""
    levels = backend.auto_upsample_levels(*image.shape[:2]) if hasattr(backend, "auto_upsample_levels") else [1]
    for level in levels:
        found = backend.detect(image, level)
        if found:
            return found
    return []


def _centre_found(faces: list[Face], shape: tuple[int, ...]) -> bool:
    height, width = shape[:2]
    limit = CENTRE_TOLERANCE * min(height, width)
    return any(np.hypot(f.box.center[0] - width / 2, f.box.center[1] - height / 2) <= limit for f in faces)


def _peer_one(path: str) -> int:
    import face_recognition

    pixels = face_recognition.load_image_file(path)
    return len(face_recognition.face_encodings(pixels, face_recognition.face_locations(pixels), model="small"))


if __name__ == "__main__":
    main()
