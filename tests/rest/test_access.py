"""Keys and limits: 401 without a valid key, 403 without the scope, 429 over the rate, 413 over
the size or pixel limits, 415 for what is not an image; keys stored hashed and revocable."""

from __future__ import annotations

import io
import sqlite3

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from countenance.errors import InvalidArgument, UnknownKey
from countenance.rest import create_app
from countenance.service.keys import KEYS_FILE, KeyStore, create_key, parse_scopes, revoke_key
from countenance.service.options import GalleryOptions

from .conftest import auth, settings_for

# (method, path, scope) of every route that needs a key; test_schema checks none is missing.
SCOPED = [
    ("get", "/v1/gallery", "read"),
    ("post", "/v1/detect", "identify"),
    ("post", "/v1/verify", "identify"),
    ("post", "/v1/identify", "identify"),
    ("get", "/v1/subjects", "read"),
    ("post", "/v1/subjects", "enroll"),
    ("get", "/v1/subjects/obama", "read"),
    ("patch", "/v1/subjects/obama", "enroll"),
    ("delete", "/v1/subjects/obama", "admin"),
    ("post", "/v1/subjects/obama/faces", "enroll"),
    ("get", "/v1/subjects/obama/export", "admin"),
    ("post", "/v1/optouts", "admin"),
    ("get", "/v1/optouts", "admin"),
    ("delete", "/v1/optouts/1", "admin"),
    ("get", "/v1/audit", "admin"),
]


def test_any_valid_key_can_ask_who_it_is(client, keys):
    """The page asks /v1/me which sections to show: an identify-only key must get an answer."""
    assert client.get("/v1/me").status_code == 401
    for scope in ("identify", "enroll", "library", "read"):
        assert client.get("/v1/me", headers=auth(keys[scope])).json()["scopes"] == [scope]


def test_every_scoped_route_refuses_a_missing_invalid_or_wrong_key(client, keys):
    for method, path, scope in SCOPED:
        assert client.request(method, path).status_code == 401, path
        assert client.request(method, path, headers=auth("cntn_0000_not-a-real-token")).status_code == 401, path
        assert client.request(method, path, headers={"X-API-Key": keys["library"]}).status_code == 403, path
        others = [s for s in ("identify", "enroll", "read") if s != scope]
        for other in others:
            response = client.request(method, path, headers=auth(keys[other]))
            assert response.status_code == 403 and scope in response.json()["detail"], (path, other)


def test_the_right_scope_gets_past_the_check(client, keys):
    assert client.get("/v1/me", headers=auth(keys["read"])).json()["scopes"] == ["read"]
    assert client.get("/v1/gallery", headers={"X-API-Key": keys["read"]}).json()["templates"] == 14
    assert client.get("/v1/subjects", headers=auth(keys["admin"])).status_code == 200  # admin has every scope


def test_keys_are_stored_hashed_shown_once_and_revocable(client, gallery):
    new = create_key(GalleryOptions(gallery), "read,identify", "revoke me")
    assert new.key.scopes == ("identify", "read") and new.token.startswith(f"cntn_{new.key.id}_")
    stored = sqlite3.connect(gallery / KEYS_FILE).execute("SELECT * FROM keys WHERE id = ?", (new.key.id,)).fetchone()
    assert new.token not in [str(v) for v in stored] and new.token.split("_", 2)[2] not in repr(stored)
    assert client.get("/v1/me", headers=auth(new.token)).status_code == 200
    assert client.get("/v1/me", headers=auth(new.token + "x")).status_code == 401
    assert revoke_key(GalleryOptions(gallery), new.key.id).revoked_at
    assert client.get("/v1/me", headers=auth(new.token)).status_code == 401
    with pytest.raises(UnknownKey):
        revoke_key(GalleryOptions(gallery), "nope")
    for bad in ("", "everything", "read,sudo"):
        with pytest.raises(InvalidArgument):
            parse_scopes(bad)


def test_uploads_that_are_not_images_get_415(client, keys, tmp_path):
    for name, data in [("notes.txt", b"hello, not an image"), ("half.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40)]:
        response = client.post("/v1/identify", files={"image": (name, data)}, headers=auth(keys["identify"]))
        assert response.status_code == 415 and response.json()["title"] == "not a usable image", name
    empty = client.post("/v1/identify", files={"image": ("empty.jpg", b"")}, headers=auth(keys["identify"]))
    assert empty.status_code == 422


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_size_pixel_and_rate_limits(gallery, fixtures, keys):
    settings = settings_for(gallery, fixtures, max_upload_bytes=100_000, max_pixels=1_000_000, rate_per_s=0.01, burst=3, threads=1)
    with TestClient(create_app(settings)) as small:
        big = (fixtures / "groups" / "t1.jpg").read_bytes()
        assert len(big) > 100_000
        too_big = small.post("/v1/detect", files={"image": ("t1.jpg", big)}, headers=auth(keys["admin"]))
        assert too_big.status_code == 413
        many_pixels = _png(1500, 1000)  # 1.5 MP of flat colour: a few kB
        assert len(many_pixels) < 100_000
        too_many = small.post("/v1/detect", files={"image": ("flat.png", many_pixels)}, headers=auth(keys["admin"]))
        assert too_many.status_code == 413 and too_many.json()["title"] == "image too large"
        huge_declared = small.post("/v1/detect", content=b"x" * 10, headers={**auth(keys["admin"]), "Content-Length": "999999999"})
        assert huge_declared.status_code == 413
        # The bucket holds 3: the two refused uploads spent two (the declared length was
        # refused before the key was looked at), this spends the last.
        assert small.get("/v1/me", headers=auth(keys["admin"])).status_code == 200
        limited = small.get("/v1/me", headers=auth(keys["admin"]))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert small.get("/v1/me", headers=auth(keys["read"])).status_code == 200  # per key
        assert small.get("/v1/health").status_code == 200


def test_the_rate_limiter_refills(tmp_path):
    from countenance.service.server_state import SharedRateLimiter

    now = [0.0]
    limiter = SharedRateLimiter(tmp_path, 2.0, 2, clock=lambda: now[0])
    assert limiter.take("a") is None and limiter.take("a") is None
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a") is None and limiter.take("a") is not None
    # Another process opening the same folder spends from the same buckets.
    other = SharedRateLimiter(tmp_path, 2.0, 2, clock=lambda: now[0])
    assert other.take("a") is not None and other.take("b") is None


def test_key_store_refuses_a_missing_gallery(tmp_path):
    from countenance.errors import GalleryError

    with pytest.raises(GalleryError):
        KeyStore(tmp_path / "nothing")
