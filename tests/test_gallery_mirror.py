"""Two gallery objects on one gallery folder (as two REST worker threads, or the service and a
CLI process, have): a deletion made through one is caught up by the other from the store's
deletion log, without rebuilding its index; a mirror older than the log is rebuilt. Real
fixture photos (embedded once per session), real SQLite + FAISS, exact and HNSW indexes.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

import countenance.gallery.index
from countenance.gallery import Consent, EmbeddedImage, Gallery, Policy
from countenance.gallery.gallery import DB_NAME
from support import Clock, T0

PROBES = ("obama1.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg", "johnsnow_test1.jpg", "alex_lacamoire1.jpg",
          "lin-manuel-miranda.png")


def consent_for(name: str) -> Consent:
    return Consent("I agree to be recognised at the office door", consenter=name, evidence=f"form-{name}")


def enrol_people(g: Gallery, people: Path, faces: dict[Path, EmbeddedImage]) -> None:
    for folder in sorted(p for p in people.iterdir() if p.is_dir()):
        g.enroll(folder.name, [faces[p] for p in sorted(folder.iterdir())], consent=consent_for(folder.name))


def answers(g: Gallery, probes: Path, faces) -> dict[str, list]:
    """Per probe: each face's name and candidates (subject, distance to 1e-4), in face order."""
    return {probe: [(f.name, [(c.subject, round(c.distance, 4)) for c in f.candidates])
                    for f in g.identify(faces[probes / probe]).faces] for probe in PROBES}


def subjects_in(result: list) -> set[str]:
    return {name for _, candidates in result for name, _ in candidates}


@pytest.fixture(params=["flat", "hnsw"])
def kind(request, monkeypatch):
    """The exact index, and HNSW (forced from 4 vectors up)."""
    if request.param == "hnsw":
        from countenance.gallery import FaissIndex

        monkeypatch.setitem(countenance.gallery.index.INDEX_BACKENDS, "faiss",
                            lambda path, **kw: FaissIndex(path, hnsw_above=4, **kw))
    return request.param


@pytest.fixture
def two(tmp_path, real_pipeline, fixtures, faces, kind):
    """``(a, b)``: the enrolled fixture gallery, opened twice."""
    a = Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, actor="a")
    enrol_people(a, fixtures / "people", faces)
    b = Gallery(tmp_path / "g", pipeline=real_pipeline, actor="b")
    assert b.info()["index"]["kind"] == kind and b.mirrors["templates"].rebuilds == 0  # opened from a's file
    yield a, b
    b.close()
    a.close()


def test_a_forget_through_one_gallery_object_is_caught_up_by_another_without_a_rebuild(two, fixtures, faces):
    a, b = two
    probes = fixtures / "probes"
    mirror, index = b.mirrors["templates"], b.index("templates")
    before = answers(b, probes, faces)
    assert "obama" in subjects_in(before["obama1.jpg"]) and b.template_count == 14
    assert a.forget("obama").templates_removed == 3

    after = answers(b, probes, faces)
    assert mirror.rebuilds == 0 and b.index("templates") is index  # caught up, not rebuilt
    assert index.count() == 11 and mirror.state.deletions == b.store.counters("templates")[1]
    assert all("obama" not in subjects_in(result) for result in after.values())
    assert after["obama1.jpg"][0][0] == "unknown"
    for probe, result in before.items():  # every other answer is as it was
        if "obama" not in subjects_in(result):
            assert after[probe] == result, probe
    # ...and as an index rebuilt from the store answers.
    mirror.rebuild()
    assert mirror.rebuilds == 1 and answers(b, probes, faces) == after


def test_a_mirror_older_than_the_deletion_log_is_rebuilt_and_correct(two, fixtures, faces):
    a, b = two
    probes = fixtures / "probes"
    a.store.deletion_log_events = 1  # keep only the last deletion
    a.forget("obama")
    a.forget("biden")
    rows = a.store._db.execute("SELECT DISTINCT deletion FROM deleted_ids WHERE vector_table = 'templates'").fetchall()
    assert rows == [(2,)] and a.store.meta("templates.deletions_logged_after") == "1"

    after = answers(b, probes, faces)
    assert b.mirrors["templates"].rebuilds == 1 and b.template_count == 14 - 3 - 2
    assert all(not {"obama", "biden"} & subjects_in(result) for result in after.values())
    assert [name for name, _ in after["kit_with_rose.jpg"]] == ["kit_harington", "rose_leslie"]
    # One deletion behind, within the log: no further rebuild.
    a.forget("rose_leslie")
    assert all("rose_leslie" not in subjects_in(r) for r in answers(b, probes, faces).values())
    assert b.mirrors["templates"].rebuilds == 1


def test_the_deletion_log_holds_integer_ids_only(two):
    a, _ = two
    ids = [t.id for t in a.subject("obama").templates]
    a.forget("obama")
    rows = a.store._db.execute("SELECT typeof(vector_table), typeof(deletion), typeof(id), id FROM deleted_ids").fetchall()
    assert sorted(r[3] for r in rows) == [-1, *sorted(ids)]  # -1: the deletion's marker
    assert {r[:3] for r in rows} == {("text", "integer", "integer")}


def test_prune_and_optout_removal_are_caught_up_without_a_rebuild(tmp_path, real_pipeline, fixtures, faces, kind):
    people, probes = fixtures / "people", fixtures / "probes"
    clock = Clock(T0)
    a = Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline, policy=Policy(retention_days=30),
                       clock=clock, actor="a")
    b = Gallery(tmp_path / "g", pipeline=real_pipeline, actor="b")
    try:
        a.enroll("biden", [faces[people / "biden" / "biden.jpg"]], consent=consent_for("biden"))
        clock.now = T0 + timedelta(days=20)
        a.enroll("obama", [faces[people / "obama" / "obama.jpg"]], consent=consent_for("obama"))
        assert b.template_count == 2
        clock.now = T0 + timedelta(days=40)
        assert a.prune().subjects_removed == ("biden",)
        group = b.identify(faces[probes / "obama_and_biden.jpg"])
        assert "biden" not in {c.subject for f in group.faces for c in f.candidates} and "obama" in {f.name for f in group.faces}
        assert b.template_count == 1 and b.mirrors["templates"].rebuilds == 0

        optout_id = a.optout(faces[people / "kit_harington" / "john1.jpeg"]).record.id
        assert b.identify(faces[probes / "johnsnow_test1.jpg"]).faces[0].candidates == ()  # b adds the opt-out
        assert a.remove_optout(optout_id)
        assert b.identify(faces[probes / "johnsnow_test1.jpg"]).faces[0].candidates  # ...and removes it
        assert b.index("optouts").count() == 0 and b.mirrors["optouts"].rebuilds == 0
    finally:
        b.close()
        a.close()


def test_a_gallery_of_schema_2_gets_the_deletion_log(tmp_path, real_pipeline, fixtures, faces):
    a = Gallery.create(tmp_path / "g", model=real_pipeline.spec, pipeline=real_pipeline)
    enrol_people(a, fixtures / "people", faces)
    a.forget("biden")
    a.close()
    with sqlite3.connect(tmp_path / "g" / DB_NAME) as db:  # as a version-2 gallery was
        db.execute("DROP TABLE deleted_ids")
        db.execute("DELETE FROM meta WHERE key LIKE '%.deletions_logged_after'")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    a = Gallery(tmp_path / "g", pipeline=real_pipeline)
    b = Gallery(tmp_path / "g", pipeline=real_pipeline)
    try:
        assert a.store.meta("schema_version") == "3"
        assert a.store.meta("templates.deletions_logged_after") == "1" and a.store.meta("optouts.deletions_logged_after") == "0"
        assert b.template_count == 12
        a.forget("obama")
        assert b.template_count == 9 and b.mirrors["templates"].rebuilds == 0
        # A state from before the upgrade is older than the log: rebuilt.
        assert b.store.deleted_ids("templates", after=0, upto=2) is None
        assert b.store.deleted_ids("templates", after=1, upto=2).size == 3
    finally:
        b.close()
        a.close()


def test_a_gallery_behind_never_writes_a_forgotten_persons_templates_back(two, fixtures, faces):
    """b has caught up on something (its index is unsaved), a forgets obama, b's request ends
    with a flush: b's file must not bring obama's template bytes back."""
    a, b = two
    probes = fixtures / "probes"
    a.enroll("alex_lacamoire", [faces[probes / "alex_lacamoire1.jpg"]], consent=consent_for("alex_lacamoire"))
    b.identify(faces[probes / "obama1.jpg"])  # catches up alex: b's index differs from its file
    assert b.mirrors["templates"].dirty
    ids = [t.id for t in a.subject("obama").templates]
    needles = [v.astype("<f4").tobytes() for v in a.store.vectors("templates", ids).values()]
    a.forget("obama")
    b.flush()
    files = [p for p in a.path.rglob("*") if p.is_file()]
    assert files and not [p.name for p in files for n in needles if n in p.read_bytes()]
    assert "obama" not in {c.subject for f in b.identify(faces[probes / "obama1.jpg"]).faces for c in f.candidates}


def test_two_openers_upgrading_one_gallery_at_once_both_open_it(tmp_path, real_pipeline):
    """The second opener read the old version, then the first upgraded and committed before the
    second got the write lock: the second sees the new version and opens the gallery instead
    of refusing it."""
    import threading
    from contextlib import contextmanager

    from countenance.gallery import schema
    from countenance.gallery.store import Store

    Gallery.create(tmp_path / "g", model=real_pipeline.spec).close()
    path = tmp_path / "g" / DB_NAME
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE deleted_ids")
        db.execute("DELETE FROM meta WHERE key LIKE '%.deletions_logged_after'")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    second_waits, first_done = threading.Event(), threading.Event()

    class LateStore(Store):
        """Reaches its write lock only after the first opener has upgraded (the race's timing)."""

        @contextmanager
        def transaction(self):
            second_waits.set()  # it has read the version already
            first_done.wait(30)
            with super().transaction() as db:
                yield db

    opened: list = []

    def open_second() -> None:  # a connection belongs to its thread: read and close there
        store = LateStore.open(path)
        opened.append(store.meta("schema_version"))
        store.close()

    second = threading.Thread(target=open_second)
    second.start()
    assert second_waits.wait(30)
    Store.open(path).close()  # the first opener upgrades
    first_done.set()
    second.join(30)
    assert opened == [str(schema.SCHEMA_VERSION)]


def test_a_deletion_counted_but_not_logged_forces_a_rebuild(two, fixtures, faces):
    """An older Countenance writing to the same gallery counts deletions without logging
    them: the log cannot vouch for that deletion, so b rebuilds rather than keep a stale row."""
    a, b = two
    probes = fixtures / "probes"
    b.identify(faces[probes / "obama1.jpg"])
    ids = [t.id for t in a.subject("biden").templates]
    with a.store.transaction() as db:  # what the older code did: delete, count, log nothing
        db.execute(f"DELETE FROM templates WHERE id IN ({','.join('?' * len(ids))})", ids)
        db.execute("UPDATE meta SET value = value + 1 WHERE key IN ('templates.deletions', 'templates.generation')")
    assert b.store.deleted_ids("templates", after=0, upto=1) is None
    assert b.template_count == a.template_count and b.mirrors["templates"].rebuilds == 1
    # A logged deletion that removed nothing is told from an unlogged one: no rebuild.
    with a.store.transaction():
        assert a.store.delete_templates([10**9]) == 0
    assert b.store.deleted_ids("templates", after=1, upto=2).size == 0
    assert b.template_count == a.template_count and b.mirrors["templates"].rebuilds == 1
