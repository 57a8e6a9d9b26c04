"""The ONNX port of dlib's face-recognition ResNet gives dlib's descriptors, and its cache works."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

# Hard dependencies: imported plainly, so a broken install fails here instead of skipping.
import dlib
import onnx  # noqa: F401 - the converter needs it
import onnxruntime as ort
from PIL import Image

from countenance.backends.dlib_backend import dlib_model_path
from countenance.backends.dlib_dat import DAT_FILENAME, read_dlib_resnet
from countenance.backends.dlib_resnet_onnx import (
    INPUT_NAME,
    OUTPUT_NAME,
    CONVERTER_VERSION,
    convert_dlib_resnet,
    ensure_dlib_resnet_onnx,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COUNTENANCE_SHARED", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "data" / "fixtures"

MIN_COSINE = 0.9999
MAX_ABS_DIFF = 1e-4  # observed ~3e-7


@pytest.fixture(scope="module")
def dat_path() -> Path:
    return dlib_model_path(DAT_FILENAME)


@pytest.fixture(scope="module")
def session(dat_path: Path, tmp_path_factory: pytest.TempPathFactory):
    onnx_path = tmp_path_factory.mktemp("onnx") / "dlib_resnet.onnx"
    digest = convert_dlib_resnet(dat_path, onnx_path)
    assert digest == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def fixture_faces(dat_path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, chips (N,150,150,3) uint8, dlib descriptors (N,128)) for every HOG face of the photos below."""
    # The gallery photos and one group photo: enough faces; every fixture face is too slow with
    # dlib's own BLAS-less ResNet (the embedder conformance suite compares the two embedders too).
    images = sorted(FIXTURES.glob("people/*/*")) + [FIXTURES / "groups" / "two_people.jpg"]
    if not images:
        pytest.fail(f"no fixture images under {FIXTURES} (set COUNTENANCE_SHARED)")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    recogniser = dlib.face_recognition_model_v1(str(dat_path))
    labels, chips, descriptors = [], [], []
    for path in images:
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        for i, rect in enumerate(detector(image, 1)):
            shape = predictor(image, rect)
            labels.append(f"{path.relative_to(FIXTURES)}#{i}")
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
            # The reference is dlib's own pipeline (image + landmarks), not just the chip.
            descriptors.append(np.asarray(recogniser.compute_face_descriptor(image, shape)))
    return labels, np.stack(chips), np.stack(descriptors)


def _check_agreement(labels: list[str], got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    cosine = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    diff = np.abs(got - want).max(1)
    bad = [
        (label, float(c), float(d))
        for label, c, d in zip(labels, cosine, diff)
        if c < MIN_COSINE or d > MAX_ABS_DIFF
    ]
    assert not bad, f"faces where ONNX and dlib disagree: {bad}"


def test_onnx_matches_dlib_on_fixture_faces(session, fixture_faces) -> None:
    labels, chips, want = fixture_faces
    assert len(labels) >= 10, labels
    assert session.get_inputs()[0].name == INPUT_NAME
    assert session.get_outputs()[0].name == OUTPUT_NAME
    # All faces in one batch (dynamic batch dimension) ...
    got = session.run([OUTPUT_NAME], {INPUT_NAME: chips.astype(np.float32)})[0]
    assert got.dtype == np.float32
    _check_agreement(labels, got, want)
    # ... and one at a time gives the same.
    single = session.run([OUTPUT_NAME], {INPUT_NAME: chips[:1].astype(np.float32)})[0]
    np.testing.assert_allclose(single[0], got[0], atol=1e-5)
    # Raw descriptors, not L2-normalised, like dlib's.
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)


def test_parsed_weights_are_the_known_network(dat_path: Path) -> None:
    weights = read_dlib_resnet(dat_path)
    assert len(weights.blocks) == 14
    assert sum(b.downsample for b in weights.blocks) == 4
    assert weights.fc.shape == (256, 128)
    assert weights.input_size == 150
    np.testing.assert_allclose(weights.input_mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert weights.distance_threshold == pytest.approx(0.6)


def _corruptions(data: bytes) -> dict[str, tuple[bytes, str]]:
    magic = data.index(b"loss_metric_2")
    return {
        "truncated_in_weights": (data[: len(data) // 2], "truncated"),
        "truncated_in_header": (data[:100], "truncated"),
        "trailing_bytes": (data + b"\x00\x01", "trailing bytes"),
        "wrong_magic": (data[:magic] + b"loss_metric_X" + data[magic + 13 :], "loss_metric_2"),
        "other_file": (b"\xff\xd8\xff\xe0" + bytes(1000), "not a valid dlib face recognition ResNet"),
    }


@pytest.mark.parametrize(
    "case", ["truncated_in_weights", "truncated_in_header", "trailing_bytes", "wrong_magic", "other_file"]
)
def test_broken_dat_raises_value_error(case: str, dat_path: Path, tmp_path: Path) -> None:
    broken, message = _corruptions(dat_path.read_bytes())[case]
    bad = tmp_path / "broken.dat"
    bad.write_bytes(broken)
    out = tmp_path / "out.onnx"
    with pytest.raises(ValueError, match=message) as info:
        convert_dlib_resnet(bad, out)
    assert str(bad) in str(info.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]  # no temp file left behind


def test_ensure_converts_once_and_repairs_a_corrupted_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ensure_dlib_resnet_onnx(cache)
    dat_sha = hashlib.sha256(dlib_model_path(DAT_FILENAME).read_bytes()).hexdigest()
    assert first.name == f"dlib_resnet_v1-c{CONVERTER_VERSION}-{dat_sha[:16]}.onnx"
    sidecar = first.with_name(first.name + ".sha256")
    good = first.read_bytes()
    assert sidecar.read_text().strip() == hashlib.sha256(good).hexdigest()
    mtime = first.stat().st_mtime_ns

    # Second call: cache hit, nothing rewritten.
    assert ensure_dlib_resnet_onnx(cache) == first
    assert first.stat().st_mtime_ns == mtime

    # Flip one byte: the hash no longer matches the sidecar, so it is converted again.
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    first.write_bytes(bytes(corrupted))
    assert ensure_dlib_resnet_onnx(cache) == first
    assert first.read_bytes() == good

    # A missing sidecar also triggers a conversion.
    sidecar.unlink()
    assert ensure_dlib_resnet_onnx(cache) == first
    assert sidecar.read_text().strip() == hashlib.sha256(good).hexdigest()
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, sidecar.name])
