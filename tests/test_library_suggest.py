"""Suggestions from an enrolled gallery: the fixture README's identities, one subject at most
once per photo, opted-out people never suggested, accept / reject surviving re-runs, and naming
a person enrolling them with a consent record."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from countenance.errors import ConsentRequired, InvalidArgument
from countenance.gallery import Consent, Gallery, Policy
from countenance.library import Library, SuggestOptions

# From data/fixtures/README.md: who is in each photo of probes/ and groups/ (enrolled people only).
EXPECTED = {
    "obama1.jpg": {"obama"}, "obama-240p.jpg": {"obama"}, "obama-720p.jpg": {"obama"},
    "obama_partial_face.jpg": {"obama"}, "obama_partial_face2.jpg": {"obama"},
    "obama_and_biden.jpg": {"obama", "biden"}, "johnsnow_test1.jpg": {"kit_harington"},
    "kit_with_rose.jpg": {"kit_harington", "rose_leslie"}, "alex_lacamoire1.jpg": {"alex_lacamoire"},
    "alex-lacamoire.png": {"alex_lacamoire"}, "lin-manuel-miranda.png": set(),
}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, fixtures, yunet_models):
    from countenance import Pipeline

    pipeline = Pipeline()
    folder = tmp_path_factory.mktemp("gallery")
    gallery = Gallery.create(folder / "g", model=pipeline.spec, pipeline=pipeline, actor="tester",
                             policy=Policy(consent_required=False))
    for person in sorted((fixtures / "people").iterdir()):
        gallery.enroll(person.name, sorted(person.iterdir()))
    gallery.close()
    return folder / "g", pipeline


@pytest.fixture
def gallery(enrolled, tmp_path):
    import shutil

    path, pipeline = enrolled
    shutil.copytree(path, tmp_path / "g")
    with Gallery(tmp_path / "g", pipeline=pipeline, actor="tester") as gallery:
        yield gallery


def _by_photo(library: Library) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for suggestion in library.suggestions():
        photo = library.store.photo(library.store.face(suggestion.face_id).photo_id)
        out.setdefault(Path(photo.path).name, []).append(suggestion.subject)
    return out


def test_suggestions_name_the_readme_identities_once_per_photo(gallery, fixtures, tmp_path):
    with Library.open(tmp_path / "lib") as library:
        library.index([fixtures / "probes", fixtures / "groups"], workers=2)
        summary = library.suggest(gallery)
        assert summary.threshold == pytest.approx(gallery.threshold(fpir=0.05))
        found = _by_photo(library)
        for name, people in EXPECTED.items():
            assert set(found.get(name, [])) == people, name
        for name, subjects in found.items():
            assert max(Counter(subjects).values()) == 1, f"{name}: one subject suggested twice"
        for suggestion in library.suggestions():
            assert 0 < suggestion.distance <= summary.threshold and 0 < suggestion.false_match_rate < 0.01
        # Every search went through the gallery and is in its audit log.
        assert len(gallery.audit(action="identify")) == summary.photos


def test_one_subject_once_per_photo_even_when_two_faces_match(gallery, fixtures, tmp_path):
    # At a loose threshold both faces of two_people.jpg are within reach of both subjects; the
    # per-photo assignment still names each subject once.
    with Library.open(tmp_path / "lib") as library:
        library.index([fixtures / "groups" / "two_people.jpg", fixtures / "groups" / "t1.jpg"], workers=1)
        library.suggest(gallery, SuggestOptions(max_distance=1.5))
        for name, subjects in _by_photo(library).items():
            assert len(subjects) == len(set(subjects)), name
        assert sorted(_by_photo(library)["two_people.jpg"]) == ["biden", "obama"]


def test_opted_out_people_are_never_suggested(gallery, fixtures, tmp_path):
    gallery.optout(fixtures / "people" / "biden" / sorted(os.listdir(fixtures / "people" / "biden"))[0], note="asked")
    with Library.open(tmp_path / "lib") as library:
        library.index([fixtures / "groups" / "obama_and_biden.jpg", fixtures / "probes" / "obama1.jpg"], workers=1)
        library.suggest(gallery)
        found = _by_photo(library)
        assert found["obama_and_biden.jpg"] == ["obama"] and found["obama1.jpg"] == ["obama"]


def test_accept_and_reject_survive_reindex_and_new_suggestions(gallery, fixtures, tmp_path):
    with Library.open(tmp_path / "lib") as library:
        roots = [fixtures / "probes" / "kit_with_rose.jpg", fixtures / "probes" / "johnsnow_test1.jpg",
                 fixtures / "groups" / "obama_and_biden.jpg"]
        library.index(roots, workers=1)
        library.suggest(gallery)
        open_ = {s.subject: s.face_id for s in library.suggestions()}
        kit = library.accept(open_["kit_harington"], "kit_harington")
        library.reject(open_["biden"])
        with pytest.raises(InvalidArgument):
            library.reject(open_["biden"])
        library.index(roots, workers=1, full=True)
        library.recluster()
        library.suggest(gallery)
        subjects = {(s.face_id, s.subject) for s in library.suggestions()}
        assert (open_["biden"], "biden") not in subjects and (open_["kit_harington"], "kit_harington") not in subjects
        assert library.store.assignments()[open_["kit_harington"]] == (kit, True)
        assert [p.path for p in library.find("kit_harington")] == [str(roots[0])]
        assert {s.subject for s in library.suggestions(state="rejected")} == {"biden"}


def test_naming_a_person_enrols_them_with_consent(enrolled, fixtures, tmp_path):
    _, pipeline = enrolled
    strict = Gallery.create(tmp_path / "strict", model=pipeline.spec, pipeline=pipeline, actor="tester")
    with Library.open(tmp_path / "lib") as library:
        library.index([fixtures / "probes"], workers=1)
        obama_faces = [f.id for f in library.store.faces()
                       if Path(library.store.photo(f.photo_id).path).name.startswith("obama") and "and" not in
                       library.store.photo(f.photo_id).path]
        with library.store.transaction():
            person = library.store.new_person()
            for face_id in obama_faces:
                library.store.assign(face_id, person, confirmed=False)
        with pytest.raises(ConsentRequired):
            library.name(person, "barack", gallery=strict)
        assert library.store.person(person)[1] is None
        consent = Consent("Tag me in the family photo library", consenter="barack", purpose="photo tagging")
        result = library.name(person, "barack", gallery=strict, consent=consent, confirm_all=True)
        assert result.enrolled_templates >= 3 and set(result.confirmed_faces) == set(obama_faces)
        details = strict.subject("barack")
        assert len(details.consents) == 1 and details.consents[0].purpose == "photo tagging"
        assert strict.identify(fixtures / "probes" / "obama1.jpg").faces[0].decision == "barack"
    strict.close()


def test_naming_without_confirm_all_enrols_only_the_face_shown(enrolled, fixtures, tmp_path):
    _, pipeline = enrolled
    strict = Gallery.create(tmp_path / "strict", model=pipeline.spec, pipeline=pipeline, actor="tester")
    with Library.open(tmp_path / "lib") as library:
        library.index([fixtures / "probes"], workers=1)
        obama_faces = [f.id for f in library.store.faces() if Path(library.store.photo(f.photo_id).path).name.startswith("obama")
                       and "and" not in library.store.photo(f.photo_id).path]
        with library.store.transaction():
            person = library.store.new_person()
            for face_id in obama_faces:
                library.store.assign(face_id, person, confirmed=False)
        shown = library.people()[0].representative_face
        consent = Consent("Tag me in the family photo library", consenter="barack", purpose="photo tagging")
        result = library.name(person, "barack", gallery=strict, consent=consent)
        assert result.confirmed_faces == () and result.enrolled_templates == 1 and shown in obama_faces
        assert all(not confirmed for _, confirmed in library.store.person_faces(person))
    strict.close()
