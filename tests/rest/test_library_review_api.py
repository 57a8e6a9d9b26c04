"""The review loop over HTTP against a real library (four LFW people, YuNet + dlib-onnx) and
the real app: paged lists, a person's faces, several faces at once, undo, merge suggestions,
not-this-person on a named face (once a 500), and face crops on their own rate budget."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from countenance.rest import create_app
from countenance.service.library import IndexLibraryOptions, LibraryOptions, index_library
from countenance.service.options import PipelineOptions

from .conftest import auth, settings_for

PEOPLE = ["Adrien_Brody", "Ann_Veneman", "Anna_Kournikova", "Ari_Fleischer"]


@pytest.fixture(scope="module")
def library(tmp_path_factory, lfw, models):
    root = tmp_path_factory.mktemp("review-api")
    for name in PEOPLE:
        shutil.copytree(lfw / "images" / name, root / "photos" / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_MODEL_DIR", str(models / "yunet"))
        done = index_library(IndexLibraryOptions((root / "photos",), LibraryOptions(root / "library"),
                                                 PipelineOptions(embedder="dlib-onnx"), workers=2))
    # Anna_Kournikova's varied photos stay unclustered under the people-discovery rule (docs/LIBRARY.md).
    assert done.clustering.persons >= 3
    return root / "library"


@pytest.fixture(scope="module")
def api(gallery, fixtures, library, keys):
    with TestClient(create_app(settings_for(gallery, fixtures, library=library))) as client:
        client.headers.update(auth(keys["library"]))
        yield client


def test_lists_are_paged(api, keys):
    everyone = api.get("/v1/library/people", params={"limit": 1000}).json()
    assert everyone["total"] == len(everyone["people"]) >= 3 and everyone["next_offset"] is None
    first = api.get("/v1/library/people", params={"limit": 2}).json()
    assert [p["id"] for p in first["people"]] == [p["id"] for p in everyone["people"][:2]] and first["next_offset"] == 2
    rest = api.get("/v1/library/people", params={"limit": 1000, "offset": 2}).json()
    assert [p["id"] for p in first["people"] + rest["people"]] == [p["id"] for p in everyone["people"]]
    assert api.get("/v1/library/people", params={"limit": 0}).status_code == 422
    assert api.get("/v1/library/people", params={"offset": -1}).status_code == 422
    for route in ("/v1/library/suggestions", "/v1/library/merge-suggestions", "/v1/library/operations"):
        page = api.get(route, params={"limit": 1}).json()
        assert page["limit"] == 1 and "total" in page and "next_offset" in page, route
    subjects = api.get("/v1/subjects", params={"limit": 2, "offset": 1}, headers=auth(keys["read"])).json()
    assert subjects["total"] == 9 and len(subjects["subjects"]) == 2 and subjects["next_offset"] == 3
    optouts = api.get("/v1/optouts", params={"limit": 5}, headers=auth(keys["admin"])).json()
    assert optouts["total"] == len(optouts["optouts"]) and optouts["next_offset"] is None


def test_person_faces_a_page_at_a_time(api):
    person = api.get("/v1/library/people").json()["people"][0]
    whole = api.get(f"/v1/library/people/{person['id']}/faces").json()
    assert whole["total"] == person["faces"] == len(whole["faces"]) and whole["person"]["id"] == person["id"]
    pages, offset = [], 0
    while offset is not None:
        page = api.get(f"/v1/library/people/{person['id']}/faces", params={"limit": 3, "offset": offset}).json()
        pages += page["faces"]
        offset = page["next_offset"]
    assert [f["face_id"] for f in pages] == [f["face_id"] for f in whole["faces"]]
    assert set(whole["faces"][0]) >= {"face_id", "photo_id", "box", "confirmed", "distance", "source"}
    assert "path" not in whole["faces"][0]  # the server's folders are not the caller's business
    assert api.get("/v1/library/people/99999/faces").status_code == 400


def test_select_two_faces_not_this_person_then_undo(api):
    person = api.get("/v1/library/people").json()["people"][0]
    faces = api.get(f"/v1/library/people/{person['id']}/faces").json()["faces"]
    picked = [faces[0]["face_id"], faces[1]["face_id"]]
    done = api.post("/v1/library/faces/not-this-person", json={"face_ids": picked}).json()
    assert done["person_id"] == person["id"] and f"person {person['id']}" in done["message"]
    after = api.get(f"/v1/library/people/{person['id']}/faces").json()
    assert after["total"] == person["faces"] - 2
    (latest,) = api.get("/v1/library/operations", params={"limit": 1}).json()["operations"]
    assert latest["kind"] == "not-this-person"
    undone = api.post("/v1/library/undo", json={"count": 1}).json()["undone"]
    assert [op["id"] for op in undone] == [latest["id"]]
    restored = api.get(f"/v1/library/people/{person['id']}/faces").json()
    assert restored["faces"] == faces


def test_corrections_over_http(api):
    people = api.get("/v1/library/people").json()["people"]
    a, b = people[0]["id"], people[1]["id"]
    refused = api.post(f"/v1/library/people/{a}/merge", json={"sources": [a]})
    assert refused.status_code == 422 and "itself" in refused.json()["detail"]
    named = api.post(f"/v1/library/people/{a}/name", json={"name": "first person", "enrol": False})
    assert named.status_code == 200
    face = api.get(f"/v1/library/people/{a}/faces").json()["faces"][0]["face_id"]
    out = api.post(f"/v1/library/faces/{face}/not-this-person")
    assert out.status_code == 200 and out.json()["name"] == "first person" and "'first person'" in out.json()["message"]
    split = api.post(f"/v1/library/people/{b}/split", json={}).json()
    assert len(split["new_people"]) <= 1
    after = {p["id"]: p for p in api.get("/v1/library/people", params={"limit": 1000}).json()["people"]}
    assert after[b]["confirmed"] == 0 and all(after[p]["confirmed"] == 0 for p in split["new_people"])
    api.post("/v1/library/undo", json={"count": 3})


def test_merge_suggestions_accept_and_reject(api):
    person = api.get("/v1/library/people").json()["people"][0]
    faces = [f["face_id"] for f in api.get(f"/v1/library/people/{person['id']}/faces").json()["faces"]]
    (twin,) = api.post(f"/v1/library/people/{person['id']}/split", json={"face_ids": faces[::2]}).json()["new_people"]
    pairs = api.get("/v1/library/merge-suggestions").json()["merge_suggestions"]
    assert {pairs[0]["person_a"], pairs[0]["person_b"]} == {person["id"], twin}
    pair = {"person_a": person["id"], "person_b": twin}
    rejected = api.post("/v1/library/merge-suggestions/reject", json=pair)
    assert rejected.status_code == 200 and "kept apart" in rejected.json()["message"]
    pairs = api.get("/v1/library/merge-suggestions").json()["merge_suggestions"]
    assert all({p["person_a"], p["person_b"]} != {person["id"], twin} for p in pairs)
    api.post("/v1/library/undo", json={})
    accepted = api.post("/v1/library/merge-suggestions/accept", json=pair).json()
    assert accepted["person_id"] in (person["id"], twin) and "merged" in accepted["message"]
    assert api.post("/v1/library/merge-suggestions/accept", json={"person_a": 1, "person_b": 1}).status_code == 422


def test_crops_spend_their_own_budget(api, gallery, fixtures, library, keys):
    """Burst 5 at 0.01 request/s: a page of crops is still served, and the key's own budget
    is untouched by them."""
    faces = [f["face_id"] for p in api.get("/v1/library/people", params={"limit": 1000}).json()["people"]
             for f in api.get(f"/v1/library/people/{p['id']}/faces").json()["faces"]][:60]
    assert len(faces) >= 30
    settings = settings_for(gallery, fixtures, library=library, rate_per_s=0.01, burst=5, threads=1)
    with TestClient(create_app(settings)) as small:
        small.headers.update(auth(keys["library"]))
        statuses = [small.get(f"/v1/library/faces/{f}/crop").status_code for f in faces]
        assert statuses == [200] * len(faces)
        again = small.get(f"/v1/library/faces/{faces[0]}/crop")
        assert again.status_code == 200 and again.headers["content-type"] == "image/jpeg"
        assert [small.get("/v1/library/status").status_code for _ in range(6)] == [200] * 5 + [429]


def test_add_a_missed_face_over_http(api):
    person = api.get("/v1/library/people").json()["people"][0]
    face = api.get(f"/v1/library/people/{person['id']}/faces").json()["faces"][0]
    photo = api.get(f"/v1/library/photos/{face['photo_id']}").json()
    assert photo["width_px"] == 250 and face["face_id"] in [f["face_id"] for f in photo["faces"]]
    image = api.get(f"/v1/library/photos/{face['photo_id']}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    taken = api.post("/v1/library/faces", json={"photo_id": face["photo_id"], "box": face["box"]})
    assert taken.status_code == 422 and f"face {face['face_id']}" in taken.json()["detail"]
    outside = api.post("/v1/library/faces", json={"photo_id": face["photo_id"], "box": [0, 0, 400, 60]})
    assert outside.status_code == 422 and "inside" in outside.json()["detail"]
    assert api.post("/v1/library/faces", json={"photo_id": 99999, "box": [0, 0, 40, 40]}).status_code == 400
    added = api.post("/v1/library/faces", json={"photo_id": face["photo_id"], "box": [0, 150, 60, 240], "name": "corner"})
    assert added.status_code == 201 and "path" not in added.json()
    assert api.get("/v1/library/status").json()["faces_added"] == 1
    assert "added face" in api.post("/v1/library/undo", json={}).json()["undone"][0]["summary"]
    assert api.get("/v1/library/status").json()["faces_added"] == 0
