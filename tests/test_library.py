"""The photo library's indexer: every face stored once, incremental runs, moves, deletions,
unreadable files, the quality gate, progress, and a SIGKILLed run resumed."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from countenance.errors import InvalidArgument
from countenance.library import Library, LibraryStore, QualityGate, face_sharpness, index_folders

REPO = Path(__file__).resolve().parents[1]
GROUP_COUNTS = {"t1.jpg": 6, "multiface.jpg": 6, "two_people.jpg": 2, "couple.jpg": 2, "obama_and_biden.jpg": 3}


@pytest.fixture(scope="module")
def fast_env(yunet_models):
    """The fast pipeline: YuNet from ../shared/models."""
    yield yunet_models


def _faces_per_photo(store: LibraryStore) -> dict[str, int]:
    counts = {Path(p.path).name: 0 for p in store.photos()}
    names = {p.id: Path(p.path).name for p in store.photos()}
    for face in store.faces():
        counts[names[face.photo_id]] += 1
    return counts


def test_groups_indexed_with_every_face_then_nothing_redone(tmp_path, fixtures, fast_env):
    library = tmp_path / "photos"
    shutil.copytree(fixtures / "groups", library)
    store = LibraryStore.open(tmp_path / "lib" / "library.sqlite3")
    seen = []
    first = index_folders(store, [library], workers=2, on_progress=seen.append)
    assert first.detected == first.files == 5 and first.unchanged == 0 and not first.skipped
    assert _faces_per_photo(store) == GROUP_COUNTS
    assert first.faces_added == first.faces_total == sum(GROUP_COUNTS.values())
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and seen[-1].total == 5 and seen[-1].eta_s == 0.0
    assert seen[-1].rate_per_s > 0
    face = store.faces()[0]
    assert face.template.shape == (128,) and face.template.dtype == np.float32
    assert face.landmarks_5x2.shape == (5, 2) and 0.0 < face.detection_score <= 1.0 and face.sharpness > 0
    photo = store.photos()[0]
    assert len(photo.sha256) == 64 and photo.width_px > 0 and photo.height_px > 0 and photo.orientation >= 1

    ids_before = [f.id for f in store.faces()]
    second = index_folders(store, [library], workers=2)
    assert second.detected == 0 and second.unchanged == 5 and second.faces_added == 0
    assert [f.id for f in store.faces()] == ids_before

    # A touched file (new mtime, same bytes) is hashed, not detected again.
    os.utime(library / "couple.jpg", ns=(time.time_ns(), time.time_ns()))
    assert index_folders(store, [library]).detected == 0

    # A move keeps the photo's row and faces; a deletion drops them; new content is detected.
    (library / "sub").mkdir()
    (library / "t1.jpg").rename(library / "sub" / "renamed.jpg")
    (library / "couple.jpg").unlink()
    shutil.copy(fixtures / "probes" / "obama1.jpg", library / "two_people.jpg")
    third = index_folders(store, [library], workers=1)
    assert (third.moved, third.deleted, third.detected) == (1, 1, 1)
    counts = _faces_per_photo(store)
    assert counts["renamed.jpg"] == 6 and "couple.jpg" not in counts and "t1.jpg" not in counts
    assert counts["two_people.jpg"] == 1
    assert third.faces_total == sum(counts.values()) == len(store.faces())
    store.close()


def test_full_reindex_keeps_face_ids(tmp_path, fixtures, fast_env):
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    index_folders(store, [fixtures / "groups" / "t1.jpg", fixtures / "groups" / "couple.jpg"], workers=1)
    before = {f.id: f.box_ltrb_px for f in store.faces()}
    again = index_folders(store, [fixtures / "groups" / "t1.jpg", fixtures / "groups" / "couple.jpg"], workers=1, full=True)
    assert again.detected == 2 and again.faces_added == 0
    after = {f.id: f.box_ltrb_px for f in store.faces()}
    assert after.keys() == before.keys()
    assert all(np.allclose(after[i], before[i], atol=0.5) for i in before)
    store.close()


def test_unreadable_and_duplicate_files_are_reported_not_retried(tmp_path, fixtures, fast_env):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    shutil.copy(fixtures / "probes" / "obama1.jpg", folder / "a.jpg")
    shutil.copy(fixtures / "probes" / "obama1.jpg", folder / "b.jpg")
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    summary = index_folders(store, [folder], workers=1)
    reasons = {Path(s.path).name: s.reason for s in summary.skipped}
    assert reasons["broken.jpg"].startswith("unreadable:") and "b.jpg" in reasons
    assert reasons["b.jpg"] == f"duplicate of {folder.resolve() / 'a.jpg'}"
    assert summary.to_dict()["skipped"][0]["reason"]
    again = index_folders(store, [folder], workers=1)
    assert again.detected == 0 and [Path(s.path).name for s in again.skipped] == ["b.jpg"]
    assert Library(store).status().unreadable == 1
    with pytest.raises(InvalidArgument):
        index_folders(store, [tmp_path / "missing"])
    with pytest.raises(InvalidArgument):
        index_folders(store, [folder], workers=0)
    store.close()


def test_quality_gate_keeps_small_faces_out_of_clustering(tmp_path, fixtures, fast_env):
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    photo = [fixtures / "groups" / "multiface.jpg"]
    assert index_folders(store, photo, workers=1, gate=QualityGate(min_face_px=0, min_sharpness=0)).gated == 0
    sides = sorted(min(f.box_ltrb_px[2] - f.box_ltrb_px[0], f.box_ltrb_px[3] - f.box_ltrb_px[1]) for f in store.faces())
    limit = (sides[1] + sides[2]) / 2  # the two smallest faces fall below it
    summary = index_folders(store, photo, workers=1, full=True, gate=QualityGate(min_face_px=limit, min_sharpness=0))
    assert summary.gated == 2 and [f.gate for f in store.faces()].count("small") == 2
    ids, _, templates = store.face_arrays()
    assert len(ids) == len(sides) - 2 and templates.shape == (len(sides) - 2, 128)
    sharpest = max(f.sharpness for f in store.faces())
    index_folders(store, photo, workers=1, full=True, gate=QualityGate(min_face_px=0, min_sharpness=sharpest + 1))
    assert {f.gate for f in store.faces()} == {"blurred"} and len(store.face_arrays()[0]) == 0
    with pytest.raises(InvalidArgument):
        QualityGate(min_face_px=-1)
    store.close()


def test_sharpness_drops_with_blur(fixtures, pipeline):
    from PIL import Image, ImageFilter

    from countenance.image import load_image

    sharp = load_image(fixtures / "probes" / "obama1.jpg")
    box = tuple(pipeline.detect(sharp)[0].box.to_list())
    # A blur of a twentieth of the face's width: clearly soft, as a shaken or misfocused shot.
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur((box[2] - box[0]) / 20)))
    assert face_sharpness(blurred, box) < 0.2 * face_sharpness(sharp, box)
    assert face_sharpness(sharp, (10.0, 10.0, 10.5, 10.5)) == 0.0


_KILL_SCRIPT = """
import sys
from countenance.library import LibraryStore, index_folders
if __name__ == "__main__":
    store = LibraryStore.open(sys.argv[1])
    index_folders(store, sys.argv[2:], workers=1, batch_size=2)
"""


def test_sigkill_midway_then_rerun_leaves_every_face_once(tmp_path, lfw, fast_env):
    people = ["Adrien_Brody", "Ann_Veneman", "Anna_Kournikova", "Ari_Fleischer"]
    folders = [str(lfw / "images" / name) for name in people]
    n_files = sum(len(list(Path(f).glob("*.jpg"))) for f in folders)
    db = tmp_path / "library.sqlite3"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.Popen([sys.executable, str(script), str(db), *folders], env=env)

    def committed() -> int:
        try:
            with sqlite3.connect(db) as connection:
                return int(connection.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
        except sqlite3.Error:
            return 0

    deadline = time.time() + 120
    while committed() < 12 and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    at_kill = committed()
    assert 12 <= at_kill < n_files, f"the run was not killed midway ({at_kill} of {n_files})"

    store = LibraryStore.open(db)
    resumed = index_folders(store, folders, workers=2)
    assert resumed.unchanged == at_kill and resumed.detected == n_files - at_kill
    rows = store.connection.execute(
        "SELECT photo_id, ROUND(left_px), ROUND(top_px), COUNT(*) FROM faces GROUP BY 1, 2, 3 HAVING COUNT(*) > 1").fetchall()
    assert rows == []
    assert len(store.photos()) == n_files
    # The same files indexed in one clean run hold exactly the same faces.
    clean = LibraryStore.open(tmp_path / "clean.sqlite3")
    index_folders(clean, folders, workers=2)
    def boxes(s):
        paths = {p.id: p.path for p in s.photos()}
        return sorted((paths[f.photo_id], tuple(round(v, 1) for v in f.box_ltrb_px)) for f in s.faces())
    assert boxes(store) == boxes(clean)
    store.close()
    clean.close()


def test_every_photo_format_is_indexed(tmp_path, fixtures, fast_env):
    from PIL import Image
    from pillow_heif import register_heif_opener

    register_heif_opener()
    folder = tmp_path / "formats"
    folder.mkdir()
    source = Image.open(fixtures / "probes" / "obama1.jpg").convert("RGB")
    source = source.resize((source.width // 2, source.height // 2))
    for suffix in ("jpg", "png", "webp", "heic", "tif"):
        source.save(folder / f"obama.{suffix}")
    (folder / "notes.txt").write_text("not a photo")
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    summary = index_folders(store, [folder], workers=1)
    assert summary.files == 5 and not summary.skipped
    assert sorted(Path(p).suffix for p in _faces_per_photo(store)) == [".heic", ".jpg", ".png", ".tif", ".webp"]
    assert set(_faces_per_photo(store).values()) == {1}
    store.close()
