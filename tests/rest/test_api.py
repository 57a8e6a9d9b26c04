"""The REST API against the real app, a real gallery of the fixture people and real keys:
results, errors, audit entries with the key's id, and a forget that leaves nothing to find."""

from __future__ import annotations

import io
import json
import zipfile

from countenance.service.keys import list_keys
from countenance.service.options import GalleryOptions

from .conftest import auth, upload


def _key_id(gallery, name: str) -> str:
    return next(k.id for k in list_keys(GalleryOptions(gallery)) if k.name == name)


def test_health_and_version_need_no_key(client):
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/v1/version").json()["version"]
    assert "/v1/identify" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_identify_an_upload_names_every_face_with_rates_and_is_audited(client, keys, gallery, fixtures):
    response = client.post("/v1/identify", files=upload(fixtures / "probes" / "obama_and_biden.jpg"),
                           data={"top_k": "3"}, headers=auth(keys["identify"]))
    assert response.status_code == 200, response.text
    document = response.json()
    decisions = [face["decision"] for face in document["faces"]]
    assert "obama" in decisions and "biden" in decisions
    for face in document["faces"]:
        assert len(face["box"]) == 4 and 1 <= len(face["candidates"]) <= 3
        best = face["candidates"][0]
        assert best["distance"] >= 0 and 0 < best["expected_false_match_rate"] <= 1
        if face["decision"] != "unknown":
            assert best["subject"] == face["decision"] and best["distance"] <= document["threshold"]
    assert "unknown" in document["unknown_means"]
    entries = client.get("/v1/audit", params={"action": "identify"}, headers=auth(keys["admin"])).json()["entries"]
    assert entries[-1]["actor"] == f"key:{_key_id(gallery, 'test identify')}"
    assert entries[-1]["query"]["sha256"] == document["images"][0]["sha256"]


def test_a_stranger_is_unknown_and_a_path_under_the_root_works(client, keys):
    stranger = client.post("/v1/identify", data={"image_path": "probes/lin-manuel-miranda.png"}, headers=auth(keys["identify"]))
    assert stranger.status_code == 200 and [f["decision"] for f in stranger.json()["faces"]] == ["unknown"]
    nobody = client.post("/v1/identify", data={"image_path": "noface/no_face.png"}, headers=auth(keys["identify"]))
    assert nobody.status_code == 200 and nobody.json()["faces"] == []


def test_paths_outside_the_image_root_are_refused(client, keys, fixtures):
    for bad in ("../shared/data/fixtures/probes/obama1.jpg", str(fixtures / "probes" / "obama1.jpg"), "probes/../../README.md"):
        response = client.post("/v1/identify", data={"image_path": bad}, headers=auth(keys["identify"]))
        assert response.status_code == 422 and "image root" in response.json()["detail"], bad
    missing = client.post("/v1/identify", data={"image_path": "probes/nobody.jpg"}, headers=auth(keys["identify"]))
    assert missing.status_code == 404
    for unusable in ("x" * 300 + ".jpg", "/".join(["a" * 250] * 20)):  # longer than a name / a path may be
        response = client.post("/v1/subjects/obama/faces", data={"image_paths": [unusable]}, headers=auth(keys["enroll"]))
        assert response.status_code == 422 and "cannot be looked up" in response.json()["detail"], response.text
    both = client.post("/v1/identify", files=upload(fixtures / "probes" / "obama1.jpg"), data={"image_path": "probes/obama1.jpg"},
                       headers=auth(keys["identify"]))
    assert both.status_code == 422


def test_detect_counts_the_faces_of_a_group(client, keys, fixtures):
    response = client.post("/v1/detect", files=upload(fixtures / "groups" / "t1.jpg"), headers=auth(keys["identify"]))
    assert response.status_code == 200 and len(response.json()["faces"]) == 6


def test_verify_two_images_and_an_image_against_a_subject(client, keys, gallery, fixtures):
    same = client.post("/v1/verify", files={**upload(fixtures / "probes" / "obama1.jpg"),
                                             **upload(fixtures / "probes" / "obama-720p.jpg", "other")}, headers=auth(keys["identify"]))
    assert same.status_code == 200 and same.json()["same"] is True
    claim = client.post("/v1/verify", data={"image_path": "probes/johnsnow_test1.jpg", "subject": "kit_harington"},
                        headers=auth(keys["identify"]))
    assert claim.status_code == 200 and claim.json()["same"] is True
    wrong = client.post("/v1/verify", data={"image_path": "probes/johnsnow_test1.jpg", "subject": "biden"}, headers=auth(keys["identify"]))
    assert wrong.json()["same"] is False
    nobody = client.post("/v1/verify", data={"image_path": "probes/obama1.jpg", "subject": "no such person"}, headers=auth(keys["identify"]))
    assert nobody.status_code == 404
    actions = [(e["action"], e["actor"]) for e in client.get("/v1/audit", params={"limit": 4}, headers=auth(keys["admin"])).json()["entries"]]
    actor = f"key:{_key_id(gallery, 'test identify')}"
    assert ("verify-pair", actor) in actions and ("verify", actor) in actions


def test_subjects_create_enrol_rename_with_consent(own, fixtures):
    client, keys = own.client, own.keys
    enroll = auth(keys["enroll"])
    no_consent = client.post("/v1/subjects", json={"name": "lin"}, headers=enroll)
    assert no_consent.status_code == 409 and no_consent.json()["title"] == "consent required"
    created = client.post("/v1/subjects", json={"name": "lin", "consent": {"text": "Yes, for the door", "evidence": "form 3"}}, headers=enroll)
    assert created.status_code == 201 and created.json()["templates"] == 0
    assert client.post("/v1/subjects", json={"name": "lin", "consent": {"text": "again"}}, headers=enroll).status_code == 409
    enrolled = client.post("/v1/subjects/lin/faces", files=[("images", ("lmm.png", (fixtures / "probes" / "lin-manuel-miranda.png").read_bytes()))],
                           headers=enroll)
    assert enrolled.status_code == 201 and len(enrolled.json()["templates"]) == 1, enrolled.text
    renamed = client.patch("/v1/subjects/lin", json={"new_name": "lin-manuel"}, headers=enroll)
    assert renamed.status_code == 200
    details = client.get("/v1/subjects/lin-manuel", headers=auth(keys["read"])).json()
    assert details["consents"][0]["evidence"] == "form 3" and len(details["templates"]) == 1
    assert client.get("/v1/subjects/lin", headers=auth(keys["read"])).status_code == 404
    found = client.post("/v1/identify", data={"image_path": "probes/lin-manuel-miranda.png"}, headers=auth(keys["identify"])).json()
    assert found["faces"][0]["decision"] == "lin-manuel"
    taken = client.patch("/v1/subjects/lin-manuel", json={"new_name": "biden"}, headers=enroll)
    assert taken.status_code == 409
    bad = client.post("/v1/subjects", json={"name": "", "consent": {"text": "x"}}, headers=enroll)
    assert bad.status_code == 422


def test_forget_through_the_api_leaves_nothing_to_find_and_the_audit_names_the_key(own, fixtures):
    client, keys, gallery = own.client, own.keys, own.gallery
    admin = auth(keys["admin"])
    exported = client.get("/v1/subjects/rose_leslie/export", headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        document = json.loads(archive.read("rose_leslie/subject.json"))
        assert len(document["templates"]) == 2 and document["consents"]
        assert any(name.startswith("rose_leslie/crops/") for name in archive.namelist())
    before = client.post("/v1/identify", data={"image_path": "probes/kit_with_rose.jpg"}, headers=auth(keys["identify"])).json()
    assert "rose_leslie" in [f["decision"] for f in before["faces"]]

    forgotten = client.delete("/v1/subjects/rose_leslie", headers=admin)
    assert forgotten.status_code == 200 and forgotten.json()["templates_removed"] == 2

    assert client.get("/v1/subjects/rose_leslie", headers=admin).status_code == 404
    assert "rose_leslie" not in [s["name"] for s in client.get("/v1/subjects", headers=admin).json()["subjects"]]
    assert client.get("/v1/subjects/rose_leslie/export", headers=admin).status_code == 404
    assert client.delete("/v1/subjects/rose_leslie", headers=admin).status_code == 404
    for probe in ("probes/kit_with_rose.jpg", "people/rose_leslie/" + sorted(p.name for p in (fixtures / "people" / "rose_leslie").iterdir())[0]):
        after = client.post("/v1/identify", data={"image_path": probe, "top_k": "100"}, headers=auth(keys["identify"])).json()
        assert all(c["subject"] != "rose_leslie" for f in after["faces"] for c in f["candidates"]), probe
    claim = client.post("/v1/verify", data={"image_path": "probes/kit_with_rose.jpg", "subject": "rose_leslie"}, headers=auth(keys["identify"]))
    assert claim.status_code == 404
    entries = client.get("/v1/audit", params={"subject": "rose_leslie"}, headers=admin).json()["entries"]
    actor = f"key:{_key_id(gallery, 'test admin')}"
    assert [(e["action"], e["actor"]) for e in entries if e["action"] in ("export", "forget")] == [("export", actor), ("forget", actor)]


def test_an_opt_out_makes_the_person_unknown(own):
    client, keys = own.client, own.keys
    admin = auth(keys["admin"])
    folder = client.post("/v1/optouts", data={"image_path": "people/paul_rudd", "note": "request 12"}, headers=admin)
    assert folder.status_code == 404  # a folder is not an image file
    root = client.app.state.settings.image_root
    photo = sorted((root / "people" / "paul_rudd").iterdir())[0].relative_to(root).as_posix()
    added = client.post("/v1/optouts", data={"image_path": photo, "note": "request 12"}, headers=admin)
    assert added.status_code == 201, added.text
    result = client.post("/v1/identify", data={"image_path": photo}, headers=auth(keys["identify"])).json()
    assert result["faces"][0]["decision"] == "unknown" and result["faces"][0]["candidates"] == []
    listed = client.get("/v1/optouts", headers=admin).json()["optouts"]
    assert [o["note"] for o in listed] == ["request 12"]
    assert client.delete(f"/v1/optouts/{listed[0]['id']}", headers=admin).status_code == 200
    assert client.delete(f"/v1/optouts/{listed[0]['id']}", headers=admin).status_code == 400


def test_every_worker_thread_opened_the_gallery_at_start(gallery, fixtures):
    import threading

    from fastapi.testclient import TestClient

    from countenance.rest import create_app

    from .conftest import settings_for

    with TestClient(create_app(settings_for(gallery, fixtures))) as fresh:  # no request made
        runtime = fresh.app.state.runtime
        threads = runtime.settings.threads
        barrier = threading.Barrier(threads)

        def opened():
            barrier.wait(timeout=60)  # one job per thread
            return threading.get_ident(), runtime.sessions.opened()

        answers = [f.result() for f in [runtime.executor.submit(opened) for _ in range(threads)]]
    assert len({ident for ident, _ in answers}) == threads == 2
    assert all(paths == [gallery.resolve()] for _, paths in answers)
