"""Turn LFW into ArcFace-aligned 112x112 crops, as the large face data sets are distributed.

Each photo of the deep-funneled LFW copy (countenance.datasets.lfw_dir()) is detected by YuNet
(the model in ../shared/models/yunet, or the installed one), its central face (LFW's rule) is
warped by the project's own alignment (:func:`countenance.align.arcface_crop`: the similarity
transform of its 5 keypoints onto the ArcFace template) to a 112x112 crop, and written as a
JPEG (quality 95) under the same ``Person/Person_0001.jpg`` path in OUT. Photos where no face is
found are listed, not written. Already written crops are kept (re-runs are incremental).

OUT gets a copy of LFW's pairs.txt and people.txt, so the crops are measured with the product's
own commands (docs/MEASURE.md, "Aligned 112 px crops")::

    COUNTENANCE_LFW_DIR=OUT countenance eval lfw                  # aligned input is auto-detected
    COUNTENANCE_LFW_DIR=OUT python scripts/eval_clean.py --aligned  # clean's mislabel precision/recall

Usage: python scripts/lfw_aligned_crops.py OUT [--workers 2] [--limit N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from countenance.datasets import lfw_dir, shared_dir
from countenance.ingest import process_map

_state: dict = {}


def _yunet_path() -> Path | None:
    shipped = shared_dir() / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
    return shipped if shipped.is_file() else None


def _init(model_path: str | None) -> None:
    from countenance.backends.yunet import YuNetDetector
    from countenance.detection import FaceDetector

    _state["detector"] = FaceDetector(YuNetDetector(model_path=model_path))


def _crop(task: tuple[str, str]) -> str | None:
    """Write the crop of one photo; returns the photo's path when no face was found."""
    import cv2

    from countenance.align import arcface_crop
    from countenance.detection import central_face
    from countenance.image import load_image

    source, target = task
    pixels = load_image(source)
    faces = [f for f in _state["detector"].detect(pixels) if f.keypoints is not None]
    face = central_face(faces, pixels.shape[1], pixels.shape[0])
    if face is None:
        return source
    crop = arcface_crop(pixels, face.keypoints, 112)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(target, cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos (a quick look)")
    args = parser.parse_args(argv)
    source_root = lfw_dir()
    photos = sorted(p for p in source_root.rglob("*.jpg") if p.is_file())[: args.limit]
    tasks = [(str(p), str(args.out / p.relative_to(source_root))) for p in photos]
    todo = [t for t in tasks if not Path(t[1]).is_file()]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("pairs.txt", "people.txt"):
        if (source_root / name).is_file():
            shutil.copyfile(source_root / name, args.out / name)
    model = _yunet_path()
    started = time.perf_counter()
    results = process_map(_crop, todo, workers=args.workers, initializer=_init,
                          initargs=(None if model is None else str(model),))
    missed = sorted(r for r in results if r is not None)
    seconds = time.perf_counter() - started
    print(f"{len(photos)} photos, {len(todo)} cropped now in {seconds:.0f} s, no face in {len(missed)}")
    for path in missed:
        print(f"  no face: {Path(path).relative_to(source_root)}")
    (args.out / "no_face.txt").write_text("".join(f"{Path(p).relative_to(source_root)}\n" for p in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
