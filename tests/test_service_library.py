"""The library's service layer without images: where the library lives, the list of libraries
attached to a gallery, and options checked at the boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from countenance import paths
from countenance.errors import GalleryError, InvalidArgument
from countenance.library import Library
from countenance.service.library import IndexLibraryOptions, LibraryOptions, library_status, to_document
from countenance.service.library_links import attach_library, attached_libraries, forget_in_libraries


def test_library_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("COUNTENANCE_LIBRARY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert paths.library_dir() == tmp_path / "data" / "countenance" / "library"
    assert LibraryOptions().resolved_path == paths.library_dir()
    monkeypatch.setenv("COUNTENANCE_LIBRARY", str(tmp_path / "mine"))
    assert LibraryOptions().resolved_path == tmp_path / "mine"
    assert LibraryOptions(tmp_path / "other").resolved_path == tmp_path / "other"


def test_a_missing_library_is_an_error_not_a_new_folder(tmp_path):
    from countenance.library import LibraryError

    with pytest.raises(LibraryError, match="no library here"):
        library_status(LibraryOptions(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


def test_attach_is_idempotent_and_forget_skips_vanished_libraries(tmp_path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    assert attached_libraries(gallery) == ()
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    with Library.open(kept) as library:
        with library.store.transaction():
            library.store.new_person(name="ada_lovelace_1815", kept=True)
    attach_library(gallery, kept)
    attach_library(gallery, kept)
    attach_library(gallery, gone)  # never created
    assert attached_libraries(gallery) == (kept.resolve(), gone.resolve())
    assert not list(gallery.glob("*.tmp"))
    done = forget_in_libraries(gallery, "ada_lovelace_1815")
    assert [d.library for d in done] == [kept.resolve()] and done[0].faces == 0
    with Library.open(kept) as library:
        assert library.store.person_by_name("ada_lovelace_1815") is None
    assert b"ada_lovelace_1815" not in (kept / "library.sqlite3").read_bytes()


def test_a_damaged_list_is_a_gallery_error(tmp_path):
    (tmp_path / "libraries.json").write_text(json.dumps({"libraries": "not a list"}))
    with pytest.raises(GalleryError, match="libraries.json"):
        attached_libraries(tmp_path)
    (tmp_path / "libraries.json").write_text("{")
    with pytest.raises(GalleryError):
        attached_libraries(tmp_path)


def test_index_options_are_checked():
    with pytest.raises(InvalidArgument):
        IndexLibraryOptions(())
    with pytest.raises(InvalidArgument):
        IndexLibraryOptions((Path("."),), workers=0)


def test_to_document_is_json():
    from countenance.faces import Box
    from countenance.library import FoundPhoto

    document = to_document((FoundPhoto("/p.jpg", (3,), (Box(1.0, 2.0, 3.0, 4.0),), (False,)),))
    assert json.loads(json.dumps(document)) == [
        {"path": "/p.jpg", "face_ids": [3], "boxes": [[1.0, 2.0, 3.0, 4.0]], "confirmed": [False]}]  # the one face shape: [l, t, r, b] px
