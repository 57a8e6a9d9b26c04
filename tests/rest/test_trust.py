"""Issue 20 over HTTP: the server's log never holds a name, names are addressable or refused,
non-Latin-1 names export, bad input is a typed answer (never a 500), an enrolment takes all
its photos or none (with ``face``/``largest``), and no response shows where the server keeps
its files. The real app, a real gallery of the fixture people, real keys; the log test runs
``countenance serve`` itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from .conftest import _free_port, auth, upload

CONSENT = {"consent_text": "I agree to be recognised in tests", "evidence": "test sheet"}


def _files(*paths: Path) -> list:
    return [("images", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def _names(client, keys) -> set[str]:
    return {s["name"] for s in client.get("/v1/subjects", headers=auth(keys["read"])).json()["subjects"]}


# ---------------------------------------------------------------- 3. no name in the server log


def test_the_server_log_holds_route_templates_never_names(gallery, keys, tmp_path):
    """``countenance serve`` as a user starts it: the access lines name the route's template."""
    port = _free_port()
    env = {**os.environ, "COUNTENANCE_GALLERY": str(gallery)}
    log = tmp_path / "server.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-c", "from countenance.cli import app; app()", "serve", "--port", str(port),
             "--detector", "hog", "--embedder", "dlib-onnx", "--threads", "1"],
            env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            admin = auth(keys["admin"])
            assert httpx.delete(f"{base}/v1/subjects/kate_siegel", headers=admin, timeout=60).status_code == 200
            assert httpx.get(f"{base}/v1/subjects/kate_siegel", headers=admin, timeout=60).status_code == 404
            assert httpx.get(f"{base}/v1/audit", params={"subject": "kate_siegel"}, headers=admin, timeout=60).status_code == 200
            assert httpx.get(f"{base}/v1/subjects/kate_siegel/nothing-here", headers=admin, timeout=60).status_code == 404
        finally:
            server.terminate()
            server.wait(timeout=60)
    text = log.read_text()
    assert '"DELETE /v1/subjects/{name}" 200' in text and '"GET /v1/subjects/{name}" 404' in text, text
    assert "kate" not in text, text


# ---------------------------------------------------------------- 10. names


def test_names_with_a_slash_or_invisible_characters_are_refused_with_422(client, keys):
    for name in ("a/b", "obama\u200b", "\u202eamabo"):
        response = client.post("/v1/subjects", json={"name": name, "consent": {"text": "yes"}}, headers=auth(keys["enroll"]))
        assert response.status_code == 422, (name, response.text)
        assert name not in _names(client, keys)


def test_a_non_latin1_name_is_exported_with_an_rfc5987_filename(client, keys):
    name = "Zo\u00eb \u674e"
    created = client.post("/v1/subjects", json={"name": name, "consent": {"text": "yes"}}, headers=auth(keys["enroll"]))
    assert created.status_code == 201, created.text
    exported = client.get(f"/v1/subjects/{quote(name)}/export", headers=auth(keys["admin"]))
    assert exported.status_code == 200, exported.text
    disposition = exported.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote(name + '.zip', safe='')}" in disposition
    assert 'filename="' in disposition and disposition.isascii()


# ---------------------------------------------------------------- 11. no 500s


def test_verify_against_a_subject_without_faces_is_409(client, keys, fixtures):
    created = client.post("/v1/subjects", json={"name": "no-face-yet", "consent": {"text": "yes"}}, headers=auth(keys["enroll"]))
    assert created.status_code == 201
    response = client.post("/v1/verify", files=upload(fixtures / "probes" / "obama1.jpg"), data={"subject": "no-face-yet"},
                           headers=auth(keys["identify"]))
    assert response.status_code == 409 and "no enrolled face" in response.json()["detail"], response.text


def test_an_audit_span_before_the_year_one_is_422(client, keys):
    response = client.get("/v1/audit", params={"since": "99999999d"}, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text


# ---------------------------------------------------------------- 12. enrolment


def test_an_enrolment_that_fails_on_its_third_photo_enrols_none(client, keys, fixtures):
    people = fixtures / "people"
    photos = _files(people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", fixtures / "noface" / "no_face.png")
    # allow_duplicate: obama is enrolled already; photos 1-2 alone would be enrolled as obama-again.
    response = client.post("/v1/subjects/obama-again/faces", files=photos, data={**CONSENT, "allow_duplicate": "true"},
                           headers=auth(keys["enroll"]))
    assert response.status_code == 422 and "nothing was enrolled" in response.json()["detail"], response.text
    assert "obama-again" not in _names(client, keys)
    alone = client.post("/v1/subjects/no-face/faces", files=_files(fixtures / "noface" / "no_face.png"), data=CONSENT,
                        headers=auth(keys["enroll"]))
    assert alone.status_code == 422 and "no-face" not in _names(client, keys)


def test_photos_of_different_people_are_refused_with_409(client, keys, fixtures):
    people = fixtures / "people"
    photos = _files(people / "paul_rudd" / "1.jpg", people / "shea_whigham" / "1.jpg")
    response = client.post("/v1/subjects/two-people/faces", files=photos, data={**CONSENT, "allow_duplicate": "true"},
                           headers=auth(keys["enroll"]))
    assert response.status_code == 409 and "do not show one person" in response.json()["detail"], response.text
    assert "two-people" not in _names(client, keys)


def test_rest_enrolment_chooses_a_face_with_largest_or_face(client, keys, fixtures):
    group = fixtures / "groups" / "two_people.jpg"
    unchosen = client.post("/v1/subjects/couple-a/faces", files=_files(group), data=CONSENT, headers=auth(keys["enroll"]))
    assert unchosen.status_code == 422 and "largest" in unchosen.json()["detail"]
    largest = client.post("/v1/subjects/couple-a/faces", files=_files(group), data={**CONSENT, "largest": "true", "allow_duplicate": "true"},
                          headers=auth(keys["enroll"]))
    assert largest.status_code == 201 and len(largest.json()["templates"]) == 1, largest.text
    second = client.post("/v1/subjects/couple-b/faces", files=_files(group), data={**CONSENT, "face": "2", "allow_duplicate": "true"},
                         headers=auth(keys["enroll"]))
    assert second.status_code == 201 and len(second.json()["templates"]) == 1, second.text
    assert largest.json()["templates"][0]["box"] != second.json()["templates"][0]["box"]


# ---------------------------------------------------------------- 14. no server paths


def test_responses_show_paths_as_the_client_gave_them(client, keys, fixtures):
    root = str(fixtures)
    shown = client.get("/v1/subjects/obama", headers=auth(keys["read"])).json()
    assert shown["templates"] and all(t["source_path"].startswith("people/obama/") for t in shown["templates"]), shown
    found = client.post("/v1/identify", data={"image_path": "probes/obama1.jpg"}, headers=auth(keys["identify"]))
    assert found.status_code == 200, found.text
    assert [i["path"] for i in found.json()["images"]] == ["probes/obama1.jpg"]
    assert {f["path"] for f in found.json()["faces"]} == {"probes/obama1.jpg"}
    pair = client.post("/v1/verify", data={"image_path": "probes/obama1.jpg", "other_path": "people/obama/obama.jpg"},
                       headers=auth(keys["identify"]))
    assert pair.status_code == 200, pair.text
    assert (pair.json()["a"]["path"], pair.json()["b"]["path"]) == ("probes/obama1.jpg", "people/obama/obama.jpg")
    failed = client.post("/v1/subjects/nobody/faces", data={**CONSENT, "image_paths": "noface/no_face.png"},
                         headers=auth(keys["enroll"]))
    assert failed.status_code == 422 and "noface/no_face.png" in failed.json()["detail"], failed.text
    audit = client.get("/v1/audit", headers=auth(keys["admin"])).json()
    for document in (shown, found.json(), pair.json(), failed.json(), audit):
        assert root not in json.dumps(document) and str(Path(root).resolve()) not in json.dumps(document)
