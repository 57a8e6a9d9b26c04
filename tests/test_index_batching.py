"""The indexer's fast paths give what the plain paths give: faces of many photos embedded in
one batch, EXIF orientation read from the bytes already read, the folder walk without a
resolve per file, and two worker processes started once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from countenance.embedding import embed_faces, embed_faces_many
from countenance.image import iter_image_files, load_image
from countenance.library import LibraryStore, index_folders


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def yunet_env(fixtures):
    """The library's fast pipeline: YuNet from ../shared/models."""
    models = fixtures.parent.parent / "models" / "yunet"
    saved = os.environ.get("COUNTENANCE_MODEL_DIR")
    os.environ["COUNTENANCE_MODEL_DIR"] = str(models)
    yield
    if saved is None:
        os.environ.pop("COUNTENANCE_MODEL_DIR", None)
    else:
        os.environ["COUNTENANCE_MODEL_DIR"] = saved


def test_batched_embedding_equals_one_image_at_a_time(pipeline, fixtures):
    paths = [fixtures / "groups" / name for name in ("t1.jpg", "couple.jpg", "multiface.jpg")]
    paths += sorted(iter_image_files(fixtures / "people"))[:6]
    paths.append(fixtures / "noface" / sorted(os.listdir(fixtures / "noface"))[0])
    items = []
    for path in paths:
        image = load_image(path)
        items.append((image, pipeline.face_detector.detect(image)))
    batched = embed_faces_many(pipeline.embedder, items)
    assert len(batched) == len(items)
    compared = 0
    for (image, faces), many in zip(items, batched):
        one = embed_faces(pipeline.embedder, image, faces)
        assert [f.box for f in many] == [f.box for f in one]
        for a, b in zip(many, one):
            assert a.template.model == b.template.model
            assert _cosine(a.template.vector, b.template.vector) >= 0.9999
            compared += 1
    assert compared >= 20  # the faces of ten photos in one call
    assert batched[-1] == []  # the photo without a face


def test_orientation_comes_from_the_bytes_read(tmp_path, fixtures, yunet_env):
    from PIL import Image

    source = Image.open(fixtures / "probes" / "obama1.jpg").convert("RGB")
    turned = source.transpose(Image.Transpose.ROTATE_90)  # stored sideways, EXIF says turn it back
    exif = Image.Exif()
    exif[0x0112] = 6
    folder = tmp_path / "photos"
    folder.mkdir()
    turned.save(folder / "sideways.jpg", exif=exif)
    source.save(folder / "upright.jpg")
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    summary = index_folders(store, [folder], workers=1)
    photos = {Path(p.path).name: p for p in store.photos()}
    assert summary.detected == 2 and not summary.skipped
    assert photos["sideways.jpg"].orientation == 6 and photos["upright.jpg"].orientation == 1
    # Upright pixels either way: same size, one face each, found without turning.
    assert (photos["sideways.jpg"].width_px, photos["sideways.jpg"].height_px) == source.size
    faces = {Path(photos_by_id.path).name: 0 for photos_by_id in store.photos()}
    names = {p.id: Path(p.path).name for p in store.photos()}
    for face in store.faces(eligible_only=False):
        faces[names[face.photo_id]] += 1
        assert face.rotation == 0
    assert faces == {"sideways.jpg": 1, "upright.jpg": 1}
    store.close()


def test_walk_finds_what_the_image_file_walk_finds(tmp_path, fixtures, yunet_env):
    root = tmp_path / "album"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden-folder").mkdir()
    shutil.copy(fixtures / "probes" / "obama1.jpg", root / "a" / "b" / "one.JPG")
    shutil.copy(fixtures / "groups" / "couple.jpg", root / "two.jpg")
    shutil.copy(fixtures / "groups" / "two_people.jpg", root / ".hidden-folder" / "three.jpg")
    shutil.copy(fixtures / "probes" / "obama1.jpg", root / ".hidden.jpg")
    (root / "notes.txt").write_text("not a photo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(fixtures / "groups" / "obama_and_biden.jpg", elsewhere / "linked.jpg")
    os.symlink(elsewhere / "linked.jpg", root / "link.jpg")
    os.symlink(elsewhere, root / "linked-folder")  # not entered, as before
    # Paths as the user gave them: a symlinked file keeps the link's path (not its target's).
    expected = sorted({os.path.abspath(p) for p in iter_image_files(root)})
    assert str(root / "link.jpg") in expected
    store = LibraryStore.open(tmp_path / "library.sqlite3")
    summary = index_folders(store, [root], workers=1)
    assert sorted(p.path for p in store.photos()) == expected
    assert summary.files == 4 and summary.detected == 4
    again = index_folders(store, [root], workers=1)
    assert (again.files, again.detected, again.unchanged) == (4, 0, 4)
    store.close()


def test_two_workers_store_what_one_stores(tmp_path, fixtures, yunet_env):
    stores = {}
    for workers in (1, 2):
        store = LibraryStore.open(tmp_path / f"library-{workers}.sqlite3")
        summary = index_folders(store, [fixtures / "groups"], workers=workers)
        assert summary.detected == 5 and not summary.skipped
        names = {p.id: Path(p.path).name for p in store.photos()}
        stores[workers] = sorted(((names[f.photo_id], f.box_ltrb_px, f.template) for f in store.faces(eligible_only=False)),
                                 key=lambda row: (row[0], row[1]))
        store.close()
    assert len(stores[1]) == len(stores[2]) == 19
    for (name1, box1, t1), (name2, box2, t2) in zip(stores[1], stores[2]):
        assert name1 == name2 and np.allclose(box1, box2)
        assert _cosine(np.asarray(t1), np.asarray(t2)) >= 0.9999


@pytest.mark.parametrize("workers, local", [(1, False), (2, False), (2, True), (3, True)])
def test_worker_pool_runs_every_item_once_and_is_reused(workers, local):
    import time

    from countenance.ingest import WorkerPool

    with WorkerPool(workers=workers, initializer=time.sleep, initargs=(0,), local=local) as pool:
        for _ in range(2):  # the same processes serve both maps
            assert sorted(pool.map(abs, list(range(-40, 0)))) == list(range(1, 41))
        assert sorted(pool.map(abs, [])) == []
