"""The review page in headless Chromium (Debian's, installed by scripts/install-browser.sh;
driven by Playwright's Python package by executable path): log in with a key, search a photo,
accept a suggestion, name a cluster, forget a subject; an identify-only key searching a group
photo with numbered boxes; a person's page (select two faces, not this person, undo), a merge
suggestion accepted, the keyboard review; every crop of a 200-person library loaded with no
429. Each result checked through the API. Screenshots of each step are kept in build/e2e/."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from countenance.service.keys import create_key
from countenance.service.library import IndexLibraryOptions, LibraryOptions, index_library
from countenance.service.options import GalleryOptions, PipelineOptions

from .conftest import PIPELINE, auth, running_server, settings_for

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "build" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    """Debian's Chromium, installed by the project's script when missing (never by hand, never
    `playwright install`). A failed install fails the tests: they are never skipped silently."""
    if not CHROMIUM.exists():
        run = subprocess.run(["sh", str(REPO / "scripts" / "install-browser.sh")], capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, f"scripts/install-browser.sh failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    assert CHROMIUM.exists()
    return CHROMIUM


@pytest.fixture(scope="module")
def library(gallery, fixtures, tmp_path_factory) -> Path:
    """A photo library of the probe and group photos: indexed, clustered, with suggestions
    from the module's gallery."""
    folder = tmp_path_factory.mktemp("library")
    done = index_library(IndexLibraryOptions((fixtures / "probes", fixtures / "groups"), LibraryOptions(folder), PIPELINE,
                                             GalleryOptions(gallery, actor="setup"), workers=1))
    assert done.index.faces_total > 20 and done.suggestions.suggestions > 5 and done.clustering.persons >= 1
    return folder


@pytest.fixture(scope="module")
def server(gallery, fixtures, library):
    with running_server(settings_for(gallery, fixtures, library=library)) as url:
        yield url


@pytest.fixture(scope="module")
def admin(gallery):
    created = create_key(GalleryOptions(gallery), "admin", "browser test")
    return created.key.id, created.token


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def _wait_until(page, expression: str, timeout_ms: int = 30_000) -> None:
    """Poll ``expression`` in the page until it is truthy. (Playwright's wait_for_function
    evaluates a string with eval inside the page, which the page's CSP refuses, as it should.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 1000


def test_review_page_end_to_end(server, browser, admin, fixtures):
    key_id, token = admin
    api = httpx.Client(base_url=server, headers=auth(token), timeout=60)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed_requests = []
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("dialog", lambda dialog: dialog.accept())

    # Log in: a wrong key is refused, the right one shows the key and its scopes.
    page.goto(server + "/")
    _shot(page, "01-login")
    page.fill("#key", "cntn_nothing_wrong")
    page.click("#login-form button")
    page.wait_for_selector("#status.error")
    page.fill("#key", token)
    page.click("#login-form button")
    page.wait_for_selector(f"#whoami:has-text('{key_id}')")
    assert page.evaluate("sessionStorage.getItem('countenance.key')") == token

    # Search: candidates with false-match rates, and "unknown" explained.
    page.set_input_files("#search-file", str(fixtures / "probes" / "obama_and_biden.jpg"))
    page.click("#search-form button")
    page.wait_for_selector("[data-testid=decision]")
    decisions = page.locator("[data-testid=decision]").all_text_contents()
    assert "obama" in decisions and "biden" in decisions
    assert page.locator("[data-testid=candidate]").count() >= 2 and "e-" in page.inner_text("#search-results")
    assert "answer" in page.inner_text("#search-section .explain")
    _shot(page, "02-search")
    page.set_input_files("#search-file", str(fixtures / "probes" / "lin-manuel-miranda.png"))
    page.click("#search-form button")
    page.wait_for_selector(".face.unknown")
    assert page.locator("[data-testid=decision]").all_text_contents() == ["unknown"]
    _shot(page, "03-search-unknown")

    # Accept a suggestion; the API shows it accepted and the face confirmed.
    page.wait_for_selector("[data-testid=suggestion]")
    card = page.locator("[data-testid=suggestion][data-subject=kit_harington]").first
    face_id = int(card.get_attribute("data-face"))
    _shot(page, "04-suggestions")
    card.locator("[data-action=accept]").click()
    page.wait_for_selector(f"#status:has-text('Accepted kit_harington for face {face_id}')")
    accepted = api.get("/v1/library/suggestions", params={"state": "accepted"}).json()["suggestions"]
    assert (face_id, "kit_harington") in [(s["face_id"], s["subject"]) for s in accepted]
    named = {p["name"]: p for p in api.get("/v1/library/people").json()["people"]}
    assert named["kit_harington"]["confirmed"] >= 1

    # Name a cluster (without enrolling); the API shows the name.
    person = page.locator("[data-testid=person]", has=page.locator("[data-testid=person-name]", has_text="unnamed person")).first
    person_id = int(person.get_attribute("data-person"))
    person.locator("[data-field=name]").fill("cluster one")
    person.locator("[data-action=name]").click()
    try:
        page.wait_for_selector(f"#status:has-text('Named person {person_id} cluster one')")
    except Exception:
        _shot(page, "05-people-failed")
        raise AssertionError(f"naming person {person_id}: status {page.inner_text('#status')!r}") from None
    people = {p["id"]: p for p in api.get("/v1/library/people").json()["people"]}
    # The page shows one face of the person: naming there confirms none (a name reaches only confirmed faces).
    assert people[person_id]["name"] == "cluster one" and people[person_id]["confirmed"] == 0
    _shot(page, "05-people")

    # Forget a subject from their page: gone from the API, the page, searches and suggestions.
    assert any(s["subject"] == "biden" for s in api.get("/v1/library/suggestions").json()["suggestions"])
    page.click("#subject-list li[data-subject=biden]")
    page.wait_for_selector("[data-testid=consent]")
    assert "I agree to be recognised in tests" in page.inner_text("#consents")
    _shot(page, "06-subject")
    page.click("#forget")
    page.wait_for_selector("#status:has-text('Forgot biden')")
    assert page.locator("#subject-list li[data-subject=biden]").count() == 0
    _shot(page, "07-forgotten")
    assert api.get("/v1/subjects/biden").status_code == 404
    found = api.post("/v1/identify", data={"image_path": "probes/obama_and_biden.jpg", "top_k": "100"}).json()
    assert all(c["subject"] != "biden" for f in found["faces"] for c in f["candidates"])
    assert all(s["subject"] != "biden" for state in ("open", "accepted", "rejected")
               for s in api.get("/v1/library/suggestions", params={"state": state}).json()["suggestions"])
    forgets = api.get("/v1/audit", params={"action": "forget", "subject": "biden"}).json()["entries"]
    assert [e["actor"] for e in forgets] == [f"key:{key_id}"]
    page.set_input_files("#search-file", str(fixtures / "probes" / "obama_and_biden.jpg"))
    page.click("#search-form button")
    page.wait_for_selector("[data-testid=decision]")
    assert "biden" not in page.inner_text("#search-results")
    assert not failed_requests, failed_requests  # everything the page loads comes from the server
    page.close()


def _login(page, server: str, token: str) -> None:
    page.goto(server + "/")
    page.fill("#key", token)
    page.click("#login-form button")
    page.wait_for_selector("#nav:not([hidden])")


def test_identify_only_key_logs_in_and_sees_numbered_boxes(server, browser, gallery, fixtures):
    """The README's own example key (identify only) logs in and searches; a group photo shows
    numbered boxes, one per face, numbered as the per-face answers below it."""
    token = create_key(GalleryOptions(gallery), "identify", "search only").token
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, server, token)
    assert page.is_visible("#search-section") and not page.is_visible("#subjects-section")
    assert not page.is_visible("#people-section") and not page.is_visible("#undo")
    page.set_input_files("#search-file", str(fixtures / "groups" / "t1.jpg"))
    page.click("#search-form button")
    page.wait_for_selector("[data-testid=face-box]")
    boxes = page.locator("[data-testid=face-box]")
    answers = page.locator("[data-testid=face]")
    assert boxes.count() == answers.count() == 6
    assert [boxes.nth(i).inner_text() for i in range(6)] == [str(i) for i in range(1, 7)]
    assert [answers.nth(i).get_attribute("data-face-number") for i in range(6)] == [str(i) for i in range(1, 7)]
    frame = page.locator("[data-testid=search-photo]").bounding_box()
    for i in range(6):  # every box lies on the photo
        box = boxes.nth(i).bounding_box()
        assert box["width"] > 5 and frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    _shot(page, "08-search-numbered-boxes")
    page.close()


def test_a_small_face_is_named_and_flagged_low_confidence_on_the_page(server, browser, gallery, fixtures, tmp_path):
    """A face under the model's measured minimum (20 px between the eyes) is searched and named,
    and the page says it is low confidence (dashed box, the reason under the answer)."""
    from PIL import Image

    token = create_key(GalleryOptions(gallery), "identify", "small faces").token
    image = Image.open(fixtures / "probes" / "obama1.jpg").convert("RGB")
    small = tmp_path / "small.png"
    image.resize((image.width // 9, image.height // 9), Image.LANCZOS).save(small)  # ~17 px between the eyes
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, server, token)
    page.set_input_files("#search-file", str(small))
    page.click("#search-form button")
    page.wait_for_selector("[data-testid=face]")
    answers = page.locator("[data-testid=face]")
    assert answers.count() == 1
    assert "obama" in answers.first.locator("[data-testid=decision]").inner_text()
    flag = answers.first.locator("[data-testid=low-confidence]")
    assert flag.count() == 1 and "minimum of 20 px" in flag.inner_text()
    assert "low-confidence" in page.locator("[data-testid=face-box]").first.get_attribute("class")
    _shot(page, "14-small-face-low-confidence")
    page.close()


def test_review_loop_person_page_undo_and_merge_suggestion(server, browser, admin):
    """Open a person, select two faces, not-this-person, undo; accept a merge suggestion; each
    checked through the API."""
    _, token = admin
    api = httpx.Client(base_url=server, headers=auth(token), timeout=60)
    people = api.get("/v1/library/people", params={"limit": 1000}).json()["people"]
    person = max(people, key=lambda p: p["faces"])
    assert person["faces"] >= 3, people
    faces = api.get(f"/v1/library/people/{person['id']}/faces").json()["faces"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, token)

    page.locator(f"[data-testid=person][data-person='{person['id']}'] [data-action=open]").click()
    page.wait_for_selector("[data-testid=face-tile]")
    assert page.locator("[data-testid=face-tile]").count() == person["faces"]
    picked = [faces[0]["face_id"], faces[1]["face_id"]]
    for face_id in picked:
        page.click(f"[data-testid=face-tile][data-face='{face_id}'] img")
    assert page.inner_text("#selected-count") == "2 selected"
    _shot(page, "09-person-selected")
    page.click("#person-page [data-action=not-this-person]")
    page.wait_for_selector(f"#status:has-text('2 face(s) taken out of'):has-text('person {person['id']})')")
    after = api.get(f"/v1/library/people/{person['id']}/faces").json()
    assert after["total"] == person["faces"] - 2 and not {f["face_id"] for f in after["faces"]} & set(picked)
    assert page.locator("[data-testid=face-tile]").count() == person["faces"] - 2
    page.click("#undo")
    page.wait_for_selector("#status:has-text('Undone: faces')")
    assert api.get(f"/v1/library/people/{person['id']}/faces").json()["faces"] == faces
    assert page.locator("[data-testid=face-tile]").count() == person["faces"]
    _shot(page, "10-undone")

    # A merge suggestion: half of the person split off (through the API), then merged back
    # from the review queue with the keyboard.
    half = [f["face_id"] for f in faces][::2]
    (twin,) = api.post(f"/v1/library/people/{person['id']}/split", json={"face_ids": half}).json()["new_people"]
    page.reload()
    page.wait_for_selector("[data-testid=merge-suggestion]")
    card = page.locator(f"[data-testid=merge-suggestion][data-a='{min(person['id'], twin)}'][data-b='{max(person['id'], twin)}']")
    assert card.count() == 1
    _shot(page, "11-merge-suggestions")
    card.locator("[data-action=accept]").click()
    page.wait_for_selector("#status:has-text('merged')")
    merged = {p["id"]: p for p in api.get("/v1/library/people", params={"limit": 1000}).json()["people"]}
    assert (person["id"] in merged) != (twin in merged)
    survivor = merged.get(person["id"]) or merged[twin]
    assert survivor["faces"] == person["faces"] and survivor["confirmed"] == person["faces"]
    assert api.get("/v1/library/operations", params={"limit": 1}).json()["operations"][0]["kind"] == "accept-merge"
    assert page.locator("[data-testid=merge-suggestion]").count() == 0 or card.count() == 0

    # A face the detector missed: drawn on the photo, added with a name, then undone.
    page.locator(f"[data-testid=person][data-person='{survivor['id']}'] [data-action=open]").click()
    page.wait_for_selector("[data-testid=face-tile]")
    page.locator("[data-testid=face-tile] [data-action=show-photo]").first.click()
    page.wait_for_selector("#photo-canvas img")
    _wait_until(page, "document.querySelector('#photo-canvas img').complete")
    frame = page.locator("#photo-canvas").bounding_box()
    page.mouse.move(frame["x"] + frame["width"] * 0.02, frame["y"] + frame["height"] * 0.70)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.15, frame["y"] + frame["height"] * 0.85, steps=5)
    page.mouse.move(frame["x"] + frame["width"] * 0.20, frame["y"] + frame["height"] * 0.97, steps=5)
    page.mouse.up()
    page.fill("#new-face-name", "drawn on the page")
    _shot(page, "12-draw-a-face")
    page.click("#add-face")
    page.wait_for_selector("#status:has-text('Added face')")
    assert api.get("/v1/library/status").json()["faces_added"] == 1
    named = {p["name"]: p for p in api.get("/v1/library/people", params={"limit": 1000}).json()["people"]}
    assert named["drawn on the page"]["faces"] == named["drawn on the page"]["confirmed"] == 1
    page.click("#undo")
    page.wait_for_selector("#status:has-text('Undone: added face')")
    assert api.get("/v1/library/status").json()["faces_added"] == 0

    # The keyboard: j moves, r rejects the current suggestion.
    before = api.get("/v1/library/suggestions").json()["total"]
    if before:
        page.click("#suggestions-section h2")
        page.keyboard.press("r")
        page.wait_for_selector("#status:has-text('Rejected')")
        assert api.get("/v1/library/suggestions").json()["total"] == before - 1
        page.click("#undo")
        page.wait_for_selector("#status:has-text('Undone')")
        assert api.get("/v1/library/suggestions").json()["total"] == before
    page.close()


@pytest.fixture(scope="module")
def big_library(tmp_path_factory, lfw, models):
    """200 people from 200 LFW photos of different people (YuNet + dlib-onnx): the clustering's
    people, then each face left over a person of its own."""
    from countenance.library import Library

    root = tmp_path_factory.mktemp("big-library")
    names = sorted(p.name for p in (lfw / "images").iterdir())[:200]
    for name in names:
        (root / "photos").mkdir(exist_ok=True)
        shutil.copy(next((lfw / "images" / name).glob("*.jpg")), root / "photos")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNTENANCE_MODEL_DIR", str(models / "yunet"))
        index_library(IndexLibraryOptions((root / "photos",), LibraryOptions(root / "library"),
                                          PipelineOptions(embedder="dlib-onnx"), workers=2))
    with Library.open(root / "library") as library:
        taken = set(library.store.assignments())
        with library.store.transaction():
            for face in library.store.faces():
                if face.id not in taken and len(library.store.persons()) < 200:
                    library.store.assign(face.id, library.store.new_person(), confirmed=False)
        assert len(library.people()) == 200
    return root / "library"


def test_no_crop_refused_on_a_200_person_library(browser, gallery, fixtures, big_library):
    """At the server's default rate limit (10 requests/s, burst 20), every crop of every
    person loads and none is refused with 429."""
    token = create_key(GalleryOptions(gallery), "library", "crops").token
    settings = settings_for(gallery, fixtures, library=big_library, rate_per_s=10.0, burst=20)
    with running_server(settings) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        crops = []
        page.on("response", lambda r: crops.append(r.status) if "/crop" in r.url else None)
        _login(page, url, token)
        page.wait_for_selector("[data-testid=person]")
        while page.is_visible("#more-people"):
            count = page.locator("[data-testid=person]").count()
            page.click("#more-people")
            _wait_until(page, f"document.querySelectorAll('[data-testid=person]').length > {count}")
        assert page.locator("[data-testid=person]").count() == 200
        page.evaluate("window.scrollTo(0, 0)")  # clicking "More people" scrolled to the end
        for _ in range(200):  # scroll through: crops load as they come into view
            page.mouse.wheel(0, 600)
            page.wait_for_timeout(100)
            if page.evaluate("window.scrollY + window.innerHeight >= document.body.scrollHeight - 2"):
                break
        try:
            _wait_until(page, "[...document.querySelectorAll('#people-list img')].every(i => i.dataset.loaded)", timeout_ms=60_000)
        except Exception:
            state = page.evaluate("({y: window.scrollY, h: document.body.scrollHeight, imgs: document.querySelectorAll('#people-list img').length, "
                                  "loaded: [...document.querySelectorAll('#people-list img')].filter(i => i.dataset.loaded).length, "
                                  "stats: window.CountenanceLibrary.stats})")
            _shot(page, "13-200-people-failed")
            raise AssertionError(f"crops not all loaded: {state}; responses {sorted(set(crops))} ({len(crops)})") from None
        loaded = page.evaluate("[...document.querySelectorAll('#people-list img')].map(i => i.dataset.loaded)")
        assert loaded == ["1"] * 200
        _wait_until(page, "[...document.querySelectorAll('img[data-crop]')].every(i => i.dataset.loaded)")
        assert len(crops) >= 200 and 429 not in crops, sorted(set(crops))
        assert page.evaluate("window.CountenanceLibrary.stats.retried") == 0
        _shot(page, "13-200-people")
        page.close()
