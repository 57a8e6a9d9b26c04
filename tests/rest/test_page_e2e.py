"""The review page in headless Chromium (Debian's, installed by scripts/install-browser.sh;
driven by Playwright's Python package by executable path): log in with a key, search a photo,
accept a suggestion, name a cluster, forget a subject; each result checked through the API.
Screenshots of each step are kept in build/e2e/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from countenance.service.keys import create_key
from countenance.service.library import IndexLibraryOptions, LibraryOptions, index_library
from countenance.service.options import GalleryOptions

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
