"""The REST app against a real gallery: the fixture people enrolled once per session with the
pinned test pipeline (HOG + dlib-onnx), copied for each module that changes it; real keys."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from countenance.service.enrolment import EnrolFolderOptions, enrol_folder
from countenance.service.gallery import InitOptions, init_gallery
from countenance.service.keys import create_key
from countenance.service.options import GalleryOptions, PipelineOptions
from countenance.service.server import ServerSettings

PIPELINE = PipelineOptions(detector="hog", embedder="dlib-onnx")


@pytest.fixture(scope="session")
def enrolled_gallery(tmp_path_factory, fixtures) -> Path:
    """A gallery of fixtures/people (9 people, 14 photos), everyone with a consent record."""
    folder = tmp_path_factory.mktemp("rest") / "gallery"
    init_gallery(InitOptions(GalleryOptions(folder), embedder="dlib-onnx"))
    consent = folder.parent / "consent.json"
    consent.write_text(json.dumps({"*": {"text": "I agree to be recognised in tests", "evidence": "fixture licence"}}))
    result = enrol_folder(EnrolFolderOptions(fixtures / "people", consent, GalleryOptions(folder, actor="setup"), PIPELINE))
    assert result.enrolled == 14 and not result.failed
    return folder


@pytest.fixture(scope="module")
def gallery(enrolled_gallery, tmp_path_factory) -> Path:
    """This module's own copy of the enrolled gallery."""
    folder = tmp_path_factory.mktemp("module") / "gallery"
    shutil.copytree(enrolled_gallery, folder)
    return folder


def settings_for(gallery: Path, fixtures: Path, **overrides) -> ServerSettings:
    values = dict(gallery=gallery, image_root=fixtures, threads=2, detector=PIPELINE.detector, embedder=PIPELINE.embedder,
                  rate_per_s=1000.0, burst=1000)
    values.update(overrides)
    return ServerSettings(**values)


def keys_for(gallery: Path) -> dict[str, str]:
    """A token per scope, and "all" (admin)."""
    options = GalleryOptions(gallery)
    tokens = {scope: create_key(options, scope, f"test {scope}").token for scope in ("identify", "enroll", "library", "read")}
    tokens["admin"] = create_key(options, "admin", "test admin").token
    return tokens


@pytest.fixture(scope="module")
def keys(gallery) -> dict[str, str]:
    return keys_for(gallery)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(gallery, fixtures, keys):
    """The real app (lifespan run: models loaded on its worker threads) through httpx."""
    from fastapi.testclient import TestClient

    from countenance.rest import create_app

    with TestClient(create_app(settings_for(gallery, fixtures))) as test_client:
        yield test_client


@dataclass(frozen=True)
class OwnGallery:
    gallery: Path
    keys: dict[str, str]
    client: object  # fastapi.testclient.TestClient


@pytest.fixture
def own(enrolled_gallery, fixtures, tmp_path):
    """A test's own copy of the enrolled gallery, keys and app: for tests that change who is
    enrolled (a rename, a forget, an opt-out), so no other test depends on running before them."""
    from fastapi.testclient import TestClient

    from countenance.rest import create_app

    folder = tmp_path / "gallery"
    shutil.copytree(enrolled_gallery, folder)
    keys = keys_for(folder)
    with TestClient(create_app(settings_for(folder, fixtures))) as test_client:
        yield OwnGallery(folder, keys, test_client)


def upload(path: Path, field: str = "image") -> dict:
    return {field: (path.name, path.read_bytes(), "application/octet-stream")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(settings: ServerSettings):
    """The real app under uvicorn on a loopback port, in a thread of this process; its URL."""
    import uvicorn

    from countenance.rest import create_app

    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=30)
