"""Shared test fixtures: paths into ../shared (override with COUNTENANCE_SHARED), a temporary
model and cache folder for the whole session (never the user's), and one pinned pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COUNTENANCE_SHARED") or REPO.parent / "shared")
FIXTURES = SHARED / "data" / "fixtures"
LFW = Path(os.environ.get("COUNTENANCE_LFW_DIR") or SHARED / "data" / "lfw")
MODELS = SHARED / "models"

if not FIXTURES.is_dir():  # pragma: no cover - a broken checkout, not a test outcome
    raise RuntimeError(f"test fixtures not found at {FIXTURES}; set COUNTENANCE_SHARED")

# The CLI resolves ../shared from the environment; point it at the same place for every test.
os.environ.setdefault("COUNTENANCE_SHARED", str(SHARED))


@pytest.fixture(scope="session", autouse=True)
def private_model_and_cache_dirs(tmp_path_factory):
    """Every test runs with an empty model folder, its own cache folder and no installed
    calibration table, not the user's: "auto" backends then choose the same way on every
    machine of a kind (the embedder's precision by the CPU), and galleries read the shipped tables. The dlib ONNX conversion is
    made once per session in that cache (about a second)."""
    root = tmp_path_factory.mktemp("countenance-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_MODEL_DIR", str(root / "models"))
        patch.setenv("COUNTENANCE_CACHE_DIR", str(root / "cache"))
        patch.setenv("COUNTENANCE_CALIBRATION_DIR", str(root / "calibration"))
        patch.delenv("COUNTENANCE_PRECISION", raising=False)  # "auto" decides by the CPU, as for a user
        yield root


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def lfw() -> Path:
    return LFW


@pytest.fixture(scope="session")
def models() -> Path:
    """../shared/models: the ONNX detector files and the test-only recogniser."""
    return MODELS


@pytest.fixture(scope="module")
def yunet_models():
    """For one module, ``COUNTENANCE_MODEL_DIR`` is ../shared/models/yunet, so "auto" picks YuNet.

    Overrides the session's empty model folder and restores it afterwards (``setdefault`` would
    do nothing: the session fixture has already set the variable)."""
    folder = MODELS / "yunet"
    if not folder.is_dir():  # pragma: no cover - a broken checkout, not a test outcome
        raise RuntimeError(f"YuNet not found at {folder}; set COUNTENANCE_SHARED")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_MODEL_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def pipeline():
    """The default dlib model (ONNX Runtime) behind dlib's HOG detector: pinned, not "auto"."""
    from countenance import Pipeline

    return Pipeline(detector="hog", embedder="dlib-onnx")


@pytest.fixture(scope="session")
def real_pipeline():
    """The real pipeline with its detector pinned (hog: no model file, the same on every machine)."""
    from countenance import Pipeline

    return Pipeline(detector="hog")


@pytest.fixture(scope="session")
def faces(real_pipeline, fixtures):
    """Every fixture photo (people and probes), read and embedded once per session, by absolute path
    (``dict[Path, EmbeddedImage]``)."""
    from countenance.gallery import EmbeddedImage

    photos = sorted(p for folder in ("people", "probes") for p in (fixtures / folder).rglob("*") if p.is_file())
    return {p: EmbeddedImage.from_pipeline(real_pipeline, p) for p in photos}


def _png16_rgba(width: int, height: int) -> bytes:
    """A 16-bit RGBA PNG of one colour: a few hundred kB for tens of megapixels."""
    import struct
    import zlib

    first = b"\x00" + b"\x40\x00\x80\x00\xc0\x00\xff\xff" * width
    same = b"\x02" + bytes(8 * width)  # filter "Up": the row above again
    compressor = zlib.compressobj(9)
    data = compressor.compress(first) + b"".join(compressor.compress(same) for _ in range(height - 1)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def png16_rgba():
    """``png16_rgba(width, height)``: PNG bytes that cost far more memory decoded than their size
    (the decode memory budget's test image)."""
    return _png16_rgba


@pytest.fixture(scope="module")
def obama_biden_gallery(tmp_path_factory, fixtures) -> Path:
    """A module's own gallery made through the CLI: obama (3 photos) and biden (2) enrolled
    with consent from a file."""
    import json
    import shutil

    from typer.testing import CliRunner

    from countenance.cli import app

    root = tmp_path_factory.mktemp("obama-biden")
    people = root / "people"
    for name in ("obama", "biden"):
        shutil.copytree(fixtures / "people" / name, people / name)
    consent = root / "consent.json"
    consent.write_text(json.dumps({"*": {"text": "I agree", "evidence": "form 1"}}))
    folder = root / "g"
    runner = CliRunner()
    assert runner.invoke(app, ["gallery", "init", "--gallery", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["enroll-folder", str(people), "--consent-file", str(consent), "--gallery", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def cli(monkeypatch, real_pipeline, tmp_path):
    """Run the CLI in-process against a gallery in ``tmp_path/"G"``, with the session's real (hog)
    pipeline: ``cli("enroll", ...)`` gives Typer's result."""
    from typer.testing import CliRunner

    from countenance.cli import app

    monkeypatch.setattr("countenance.cli.gallery._pipeline", lambda *args, **kwargs: real_pipeline)
    monkeypatch.setenv("COUNTENANCE_GALLERY", str(tmp_path / "G"))
    runner = CliRunner()

    def run(*args, **options):
        return runner.invoke(app, [str(a) for a in args], **options)

    return run
