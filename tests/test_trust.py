"""Issue 20, trust at the seams (erasure, files, names, enrolment): a forgotten person leaves no
name under any name they had, nor in an audit entry a search wrote while they were forgotten;
exports never share a folder; what holds people's data is private to its owner whatever the
umask; names are one canonical form without invisible characters; bad input is a typed error;
an enrolment takes all its photos or none, of one person. Real photos, real SQLite + FAISS,
the real CLI in-process."""

from __future__ import annotations

import json
import os
import stat
import threading
import unicodedata
from pathlib import Path

import pytest

from countenance.pipeline import PipelineConfig
from countenance.errors import (
    AlreadyExists,
    InvalidArgument,
    MixedIdentities,
    MultipleFaces,
    NoFaceFound,
    NoTemplates,
)
from countenance.gallery import Consent, Gallery, Policy
from countenance.gallery import privacy, search
from countenance.gallery.gallery import DB_NAME
from countenance.gallery.store import Store


OLD_NAME = "Ada Lovelace-Byron"
NEW_NAME = "Beatrix Quillfeather"


def consent_for(name: str) -> Consent:
    return Consent("I agree to be recognised at the office door", consenter=name, evidence=f"form-{name}")


def new_gallery(path: Path, pipeline, **options) -> Gallery:
    return Gallery.create(path, model=pipeline.spec, pipeline=pipeline, actor="tester", **options)


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return [p.name for p in sorted(folder.rglob("*")) if p.is_file() and needle in p.read_bytes()]


# ---------------------------------------------------------------- 1. every name a subject had


def test_forget_after_a_rename_leaves_no_former_name(tmp_path, real_pipeline, fixtures, faces):
    people, probes = fixtures / "people", fixtures / "probes"
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll(OLD_NAME, [faces[people / "obama" / "obama.jpg"]], consent=consent_for(OLD_NAME))
        g.identify(faces[probes / "obama1.jpg"])
        g.verify(faces[probes / "obama1.jpg"], OLD_NAME)
        g.export(OLD_NAME, tmp_path / "out")
        g.rename(OLD_NAME, NEW_NAME)
        # Someone else takes the old name afterwards: their entries are theirs, and stay.
        g.enroll(OLD_NAME, [faces[people / "biden" / "biden.jpg"]], consent=consent_for(OLD_NAME))
        g.identify(faces[probes / "obama_and_biden.jpg"])
        g.forget(NEW_NAME)
        entries = g.audit()
        text = json.dumps([e.to_dict() for e in entries])
        assert NEW_NAME not in text
        # The old name is left only in the entries of the other person who holds it now.
        holding_old = [e for e in entries if OLD_NAME in json.dumps(e.to_dict())]
        assert {e.action for e in holding_old} == {"enrol", "identify"}
        assert all(e.id > next(r.id for r in entries if r.action == "rename") for e in holding_old)
        # An auditor told the old name finds the forgotten person's entries by it.
        assert {"enrol", "identify", "verify", "export", "rename"} <= {e.action for e in g.audit(subject=OLD_NAME)}
        g.forget(OLD_NAME)
        assert g.store.erase_freed()
    for name in (OLD_NAME, NEW_NAME):
        assert files_holding(tmp_path / "g", name.encode()) == []


def test_forget_after_a_rename_reaches_the_former_name_in_attached_libraries(tmp_path, real_pipeline, fixtures, faces):
    """A library that named the person under their old name forgets that name too."""
    from countenance.library.store import LibraryStore
    from countenance.service.library_links import attach_library
    from countenance.service.options import GalleryOptions
    from countenance.service.privacy import forget_subject

    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll(OLD_NAME, [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for(OLD_NAME))
        g.rename(OLD_NAME, NEW_NAME)
        assert g.former_names(NEW_NAME) == (OLD_NAME,)
    store = LibraryStore.open(tmp_path / "lib" / "library.sqlite3")
    with store.transaction():
        store.new_person(name=OLD_NAME, kept=True)
    store.close()
    attach_library(tmp_path / "g", tmp_path / "lib")
    assert forget_subject(GalleryOptions(tmp_path / "g"), NEW_NAME).templates_removed == 1
    store = LibraryStore.open(tmp_path / "lib" / "library.sqlite3", create=False)
    try:
        assert store.person_by_name(OLD_NAME) is None
    finally:
        store.close()
    assert files_holding(tmp_path / "lib", OLD_NAME.encode()) == []


# ---------------------------------------------------------------- 2 and 11. a search during a forget


def _forget_meanwhile(monkeypatch, gallery_dir: Path, name: str, target: object, attribute: str, *,
                      after: bool = False) -> dict:
    """Patch ``target.attribute`` (a function on the identify path) so that, the first time it
    runs (``after``: returns), a forget of ``name`` starts in another thread (its own Gallery);
    the search goes on once the forget has finished or 2 s have passed (it waits on the
    search's transaction)."""
    original = getattr(target, attribute)
    state: dict = {"forgotten": None}

    def forget() -> None:
        with Gallery(gallery_dir, actor="admin") as other:
            state["forgotten"] = other.forget(name)

    def start() -> None:
        if "thread" not in state:
            state["thread"] = threading.Thread(target=forget)
            state["thread"].start()
            state["thread"].join(timeout=2.0)

    def hooked(*args, **kwargs):
        if not after:
            start()
        answer = original(*args, **kwargs)
        if after:
            start()
        return answer

    monkeypatch.setattr(target, attribute, hooked)
    return state


def test_an_identify_during_a_forget_never_writes_the_name_after_it(monkeypatch, tmp_path, real_pipeline, fixtures, faces):
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll("obama", [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        state = _forget_meanwhile(monkeypatch, tmp_path / "g", "obama", search, "open_set_decision")
        g.identify(faces[fixtures / "probes" / "obama1.jpg"])
        state["thread"].join(timeout=60)
        assert state["forgotten"] is not None and state["forgotten"].templates_removed == 1
        assert "obama" not in json.dumps([e.to_dict() for e in g.audit()])


def test_an_identify_during_a_forget_is_no_internal_error(monkeypatch, tmp_path, real_pipeline, fixtures, faces):
    """The search's templates are read in the state it searched (a KeyError before)."""
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll("obama", [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        state = _forget_meanwhile(monkeypatch, tmp_path / "g", "obama", Store, "vectors")
        answer = g.identify(faces[fixtures / "probes" / "obama1.jpg"])
        state["thread"].join(timeout=60)
        assert answer.faces[0].name == "obama"  # the search ran before the forget committed
        assert state["forgotten"].templates_removed == 1
        assert g.identify(faces[fixtures / "probes" / "obama1.jpg"]).faces[0].name == "unknown"


def test_an_optout_during_a_forget_never_writes_the_name_after_it(monkeypatch, tmp_path, real_pipeline, fixtures, faces):
    """The opt-out's search for enrolled matches and its audit entry are one transaction too."""
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll("obama", [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        state = _forget_meanwhile(monkeypatch, tmp_path / "g", "obama", privacy, "candidates", after=True)
        g.optout(faces[fixtures / "probes" / "obama1.jpg"], note="request 7")
        state["thread"].join(timeout=60)
        assert state["forgotten"].templates_removed == 1
        assert "obama" not in json.dumps([e.to_dict() for e in g.audit()])


def test_an_export_during_a_forget_is_whole_or_refused(monkeypatch, tmp_path, real_pipeline, fixtures, faces):
    """What an export reads and its audit entry are one transaction: a forget waits for it."""
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll("obama", [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        state = _forget_meanwhile(monkeypatch, tmp_path / "g", "obama", Store, "vectors")
        folder = g.export("obama", tmp_path / "out")
        state["thread"].join(timeout=60)
        assert len(json.loads((folder / "subject.json").read_text())["templates"]) == 1
        assert state["forgotten"].templates_removed == 1
        assert "obama" not in json.dumps([e.to_dict() for e in g.audit()])


# ---------------------------------------------------------------- 4. export folders


def test_two_names_that_make_one_folder_name_never_share_an_export(cli, tmp_path, fixtures):
    people = fixtures / "people"
    out = tmp_path / "D"
    out.mkdir()
    assert cli("gallery", "init").exit_code == 0
    assert cli("enroll", "a:b", people / "obama" / "obama.jpg", "--consent", "yes").exit_code == 0
    assert cli("enroll", "a_b", people / "biden" / "biden.jpg", "--consent", "yes").exit_code == 0
    first = cli("subjects", "export", "a:b", "--out", out, "--json")
    assert first.exit_code == 0, first.output
    folder = Path(json.loads(first.stdout)["folder"])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    second = cli("subjects", "export", "a_b", "--out", out)
    assert second.exit_code == 2 and "already exists" in second.output
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # a:b's export untouched


# ---------------------------------------------------------------- 8. private files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)  # the loosest umask: every file would be world-writable without the fix
    yield
    os.umask(old)


def test_gallery_keys_library_and_exports_are_private_whatever_the_umask(open_umask, cli, tmp_path, fixtures):
    from countenance.library.store import LibraryStore
    from countenance.service.library import LibraryOptions, write_person_crops
    from countenance.service.library_links import attach_library

    assert cli("gallery", "init").exit_code == 0
    assert cli("enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--consent", "yes").exit_code == 0
    assert cli("keys", "create", "--scope", "read").exit_code == 0
    assert cli("subjects", "export", "obama", "--out", tmp_path / "out").exit_code == 0
    gallery = tmp_path / "G"
    attach_library(gallery, tmp_path / "lib")
    with Gallery(gallery) as g:  # open: the WAL and shared-memory files exist now
        g.subjects()
        files = [p for p in gallery.iterdir() if p.is_file()]
        assert {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", "keys.sqlite3", "libraries.json"} <= {p.name for p in files}
        assert any(p.suffix == ".faiss" or "index" in p.name for p in files)
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert _mode(gallery) == 0o700
    export = tmp_path / "out" / "obama"
    assert _mode(export) == 0o700 and _mode(export / "crops") == 0o700
    assert {_mode(p) for p in export.rglob("*") if p.is_file()} == {0o600}
    store = LibraryStore.open(tmp_path / "lib" / "library.sqlite3")
    try:
        assert _mode(tmp_path / "lib") == 0o700
        assert {_mode(p) for p in (tmp_path / "lib").iterdir()} == {0o600}
    finally:
        store.close()
    write_person_crops(LibraryOptions(tmp_path / "lib"), tmp_path / "crops")
    assert _mode(tmp_path / "crops") == 0o700


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="switching user needs root")
def test_another_local_user_cannot_read_the_gallery(open_umask, cli, tmp_path, fixtures):
    """As a second user (``nobody``), in a folder every user may enter: the gallery's files
    cannot be listed or read (the mode checks above are the same promise without root)."""
    import shutil
    import subprocess
    import tempfile

    public = Path(tempfile.mkdtemp(prefix="countenance-public-", dir="/tmp"))
    try:
        public.chmod(0o755)
        gallery = public / "G"
        assert cli("gallery", "init", "--gallery", gallery).exit_code == 0
        assert cli("enroll", "obama", fixtures / "people" / "obama" / "obama.jpg", "--consent", "yes", "--gallery", gallery).exit_code == 0
        assert cli("keys", "create", "--scope", "read", "--gallery", gallery).exit_code == 0
        for target in (gallery, gallery / DB_NAME, gallery / "keys.sqlite3"):
            denied = subprocess.run(["cat" if target.is_file() else "ls", str(target)], user="nobody", capture_output=True, text=True)
            assert denied.returncode != 0 and "Permission denied" in denied.stderr, (target, denied)
        allowed = subprocess.run(["ls", str(public)], user="nobody", capture_output=True, text=True)
        assert allowed.returncode == 0 and "G" in allowed.stdout  # the check itself can succeed
    finally:
        shutil.rmtree(public)


# ---------------------------------------------------------------- 10. names


@pytest.mark.parametrize("name", ["obama\u200b", "\u202eamabo", "oba\u2066ma", "ob\u00adama", "a/b", "..", "tab\there"])
def test_names_with_invisible_characters_or_a_slash_are_refused(tmp_path, real_pipeline, fixtures, faces, name):
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        with pytest.raises(InvalidArgument):
            g.enroll(name, [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("x"))
        with pytest.raises(InvalidArgument):
            g.add_subject(name, consent=consent_for("x"))
        assert g.subjects() == []


def test_names_are_stored_and_found_in_nfc(tmp_path, real_pipeline, fixtures, faces):
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll(decomposed, [faces[fixtures / "people" / "obama" / "obama.jpg"]], consent=consent_for("x"))
        assert [s.name for s in g.subjects()] == [composed]
        assert g.subject(decomposed).subject.name == composed
        with pytest.raises(AlreadyExists):
            g.add_subject(composed, consent=consent_for("x"))
        assert g.verify(faces[fixtures / "probes" / "obama1.jpg"], decomposed).same
        g.forget(decomposed)
        assert g.subjects() == []
    assert files_holding(tmp_path / "g", composed.encode()) == []
    assert unicodedata.is_normalized("NFC", composed)


def test_a_person_folder_with_an_invisible_character_is_reported_not_fatal(cli, tmp_path, fixtures):
    people = tmp_path / "people"
    for folder, photo in (("ok", fixtures / "people" / "obama" / "obama.jpg"), ("bad\u200bname", fixtures / "people" / "biden" / "biden.jpg")):
        (people / folder).mkdir(parents=True)
        (people / folder / photo.name).write_bytes(photo.read_bytes())
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps({"*": {"text": "yes"}}))
    assert cli("gallery", "init").exit_code == 0
    result = cli("enroll-folder", people, "--consent-file", consent, "--json")
    assert result.exit_code == 1, result.output
    (failure,) = json.loads(result.stdout)["failed"]
    assert "zero-width" in failure["error"] and "U+200B" in failure["error"]
    assert [s["name"] for s in json.loads(cli("subjects", "list", "--json").stdout)["subjects"]] == ["ok"]


# ---------------------------------------------------------------- 11. typed errors


def test_verify_against_a_subject_without_faces_is_a_typed_error(cli, tmp_path, fixtures):
    assert cli("gallery", "init").exit_code == 0
    with Gallery(tmp_path / "G") as g:
        g.add_subject("nobody-yet", consent=consent_for("nobody-yet"))
    result = cli("subjects", "verify", "nobody-yet", fixtures / "probes" / "obama1.jpg")
    assert result.exit_code == 2 and "no enrolled face" in result.output, result.output


def test_verify_without_templates_raises_no_templates(tmp_path, real_pipeline, fixtures, faces):
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.add_subject("empty", consent=consent_for("empty"))
        with pytest.raises(NoTemplates):
            g.verify(faces[fixtures / "probes" / "obama1.jpg"], "empty")


def test_huge_spans_are_typed_errors_not_overflows(cli, tmp_path):
    result = cli("gallery", "init", "--retention-days", "99999999999")
    assert result.exit_code == 2 and "retention_days" in result.output, result.output
    assert cli("gallery", "init").exit_code == 0
    result = cli("audit", "--since", "99999999d")
    assert result.exit_code == 2 and "--since" in result.output, result.output
    result = cli("gallery", "prune", "--older-than-days", "99999999999", "-y")
    assert result.exit_code == 2 and "--older-than-days" in result.output, result.output
    with Gallery(tmp_path / "G") as g:
        with pytest.raises(InvalidArgument):
            g.prune(older_than_days=99999999999)


# ---------------------------------------------------------------- 12. enrolment: all or nothing, one person


def test_photos_of_different_people_are_not_one_subject(cli, tmp_path, fixtures):
    people = fixtures / "people"
    photos = [people / "obama" / "obama.jpg", people / "biden" / "biden.jpg", people / "kit_harington" / "john1.jpeg"]
    assert cli("gallery", "init").exit_code == 0
    refused = cli("enroll", "mixed", *photos, "--largest", "--consent", "yes")
    assert refused.exit_code == 2 and "do not show one person" in refused.output, refused.output
    assert json.loads(cli("subjects", "list", "--json").stdout)["subjects"] == []
    allowed = cli("enroll", "mixed", *photos, "--largest", "--consent", "yes", "--allow-mixed", "--json")
    assert allowed.exit_code == 0 and len(json.loads(allowed.stdout)["templates"]) == 3, allowed.output
    entries = json.loads(cli("audit", "--action", "enrol", "--json").stdout)["entries"]
    assert len(entries) == 3 and all("mixed_override" in e["result"] for e in entries)


def test_a_later_photo_of_someone_else_is_refused_against_the_enrolled_ones(tmp_path, real_pipeline, fixtures, faces):
    people = fixtures / "people"
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        g.enroll("obama", [faces[people / "obama" / "obama.jpg"], faces[people / "obama" / "obama2.jpg"]],
                 consent=consent_for("obama"))
        with pytest.raises(MixedIdentities):
            g.enroll("obama", [faces[people / "paul_rudd" / "1.jpg"]])
        assert g.subject("obama").subject.templates == 2


def test_an_enrolment_that_fails_on_one_photo_enrols_none(tmp_path, real_pipeline, fixtures, faces):
    people = fixtures / "people"
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        photos = [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg", fixtures / "noface" / "no_face.png"]
        with pytest.raises(NoFaceFound, match="nothing was enrolled"):
            g.enroll("obama", photos, consent=consent_for("obama"))
        with pytest.raises(MultipleFaces):
            g.enroll("obama", photos[:2] + [fixtures / "groups" / "two_people.jpg"], consent=consent_for("obama"))
        with pytest.raises(NoFaceFound):
            g.enroll("nobody", [fixtures / "noface" / "no_face.png"], consent=consent_for("nobody"))
        assert g.subjects() == []  # no empty subject either
        assert [e.action for e in g.audit()] == []
        assert len(g.enroll("obama", photos[:2], consent=consent_for("obama")).templates) == 2


# ---------------------------------------------------------------- 13. consent files


@pytest.mark.parametrize("content, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"*": {"text": "yes", "given_at": "2999-01-01"}}', "in the future"),
    ('{"obama": {"text": "yes"}, "obama": {"text": "no"}}', "appears twice"),
    ('{"*": {"text": "yes", "text": "no"}}', "appears twice"),
])
def test_consent_files_that_cannot_be_trusted_are_refused(cli, tmp_path, fixtures, content, message):
    consent = tmp_path / "consent.json"
    consent.write_text(content)
    assert cli("gallery", "init").exit_code == 0
    result = cli("enroll-folder", fixtures / "people", "--consent-file", consent)
    assert result.exit_code == 2 and message in result.output, result.output
    assert json.loads(cli("subjects", "list", "--json").stdout)["subjects"] == []


def test_a_consent_csv_with_two_rows_for_one_person_is_refused(cli, tmp_path, fixtures):
    consent = tmp_path / "consent.csv"
    consent.write_text("subject,text\nobama,I agree\nbiden,I agree\nobama,I do not agree\n")
    assert cli("gallery", "init").exit_code == 0
    result = cli("enroll-folder", fixtures / "people", "--consent-file", consent)
    assert result.exit_code == 2 and "consent.csv:4: a second consent row for 'obama'" in result.output, result.output


def test_a_consent_given_in_the_future_is_refused(tmp_path, real_pipeline, fixtures, faces):
    with new_gallery(tmp_path / "g", real_pipeline, policy=Policy()) as g:
        with pytest.raises(InvalidArgument, match="in the future"):
            g.enroll("obama", [faces[fixtures / "people" / "obama" / "obama.jpg"]],
                     consent=Consent("I agree", given_at="2999-01-01"))
        assert g.subjects() == []


# ---------------------------------------------------------------- 14. paths as the user typed them


def test_stored_paths_are_the_paths_given_not_their_symlink_targets(tmp_path, real_pipeline, fixtures):
    link = tmp_path / "my-photos"
    link.symlink_to(fixtures / "people" / "obama", target_is_directory=True)
    with new_gallery(tmp_path / "g", real_pipeline) as g:
        (template,) = g.enroll("obama", [link / "obama.jpg"], consent=consent_for("obama")).templates
    assert template.source_path == str(link / "obama.jpg")


def test_the_library_keeps_the_paths_given_not_their_symlink_targets(tmp_path, fixtures):
    from countenance.library.indexer import index_folders
    from countenance.library.store import LibraryStore

    link = tmp_path / "album"
    link.symlink_to(fixtures / "people" / "biden", target_is_directory=True)
    store = LibraryStore.open(tmp_path / "lib" / "library.sqlite3")
    try:
        index_folders(store, [link], workers=1, pipeline=PipelineConfig(detector="hog", embedder="dlib-onnx"))
        paths = sorted(p.path for p in store.photos())
    finally:
        store.close()
    assert paths == [str(link / "biden.jpg"), str(link / "biden2.jpg")]
