"""What only the embedded FAISS index does: its file (removed vectors leave it; a missing,
foreign or truncated file reads as "rebuild"; an older HNSW file is taken over), range search,
the IVF's recall, and huge pages for the re-ranked vectors.

The protocol checks every backend shares are in conformance/test_vector_indexes.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from countenance.gallery import FaissIndex, IndexState


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """Train and search on one thread: on a machine shared with other jobs, FAISS's OpenMP
    threads spin waiting for each other and an IVF build takes eight times as long."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


CONFIGS = [
    pytest.param({"metric": "euclidean"}, id="flat-euclidean"),
    pytest.param({"metric": "cosine"}, id="flat-cosine"),
    pytest.param({"metric": "euclidean", "approximate_above": 50}, id="ivf-euclidean"),
    pytest.param({"metric": "cosine", "approximate_above": 50}, id="ivf-cosine"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_removed_ids_are_never_returned_and_their_bytes_leave_the_file(tmp_path, config):
    vectors, ids = _vectors(200, seed=1), np.arange(1, 201)
    path = tmp_path / "i.faiss"
    index = FaissIndex(path, dimension=16, **config)
    index.add(ids, vectors)
    gone = ids[:10]
    assert index.remove(gone) == 10
    assert index.remove(np.array([9999])) == 0
    assert index.count() == 190
    _, found = index.search(vectors[:10], 20)
    assert not set(found.ravel().tolist()) & set(gone.tolist())
    index.save(IndexState(last_id=200, count=190, deletions=1, generation=5))
    data = path.read_bytes()
    stored = vectors if config["metric"] == "euclidean" else vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert stored[50].astype(np.float32).tobytes() in data  # the scan finds what is there...
    for row in stored[:10]:
        assert row.astype(np.float32).tobytes() not in data  # ...and not what was removed

    reopened = FaissIndex(path, dimension=16, **config)
    assert reopened.load() == IndexState(last_id=200, count=190, deletions=1, generation=5)
    assert reopened.count() == 190
    _, found = reopened.search(vectors[:10], 20)
    assert not set(found.ravel().tolist()) & set(gone.tolist())


def test_load_of_missing_foreign_or_corrupt_file_is_none(tmp_path):
    path = tmp_path / "i.faiss"
    index = FaissIndex(path, dimension=16, metric="euclidean")
    assert index.load() is None
    index.add(np.arange(3), _vectors(3))
    index.save(IndexState(3, 3, 0, 3))
    assert FaissIndex(path, dimension=32, metric="euclidean").load() is None  # another size
    assert FaissIndex(path, dimension=16, metric="cosine").load() is None  # another metric
    whole = path.read_bytes()
    for cut in (40, len(whole) // 2, len(whole) - 3):  # header, FAISS body, last bytes
        path.write_bytes(whole[:cut])
        assert index.load() is None and index.count() == 0


def test_range_search_is_exact_at_any_size():
    flat = FaissIndex(None, dimension=16, metric="euclidean")
    vectors = _vectors(60, seed=3)
    flat.add(np.arange(60), vectors)
    (distances, found), = flat.range_search(vectors[:1], 1e-3)
    assert found.tolist() == [0]
    ivf = FaissIndex(None, dimension=16, metric="euclidean", approximate_above=10)
    ivf.add(np.arange(60), vectors)
    assert ivf.kind == "ivf"
    for (d1, i1), (d2, i2) in zip(ivf.range_search(vectors[:5], 5.0), flat.range_search(vectors[:5], 5.0)):
        assert np.array_equal(i1, i2) and np.array_equal(d1, d2) and i1.size


def _thp_mode() -> str:
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return "unavailable"
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else "unavailable"


# Run in a fresh interpreter per case: in a long pytest process, memory that earlier tests (or
# numpy, which advises its own large arrays) left on huge pages can be reused by the index's
# buffers, and the "without the advice" case would no longer say anything.
_HUGE_PAGE_CASE = """
import json, sys, numpy as np
from countenance.gallery import FaissIndex, IndexState
from countenance.gallery.hugepages import huge_page_bytes
huge, folder = sys.argv[1] == "1", sys.argv[2]
rng = np.random.default_rng(7)
# 20,000 x 512 float32 = 41 MB: above glibc's largest mmap threshold, so the vectors get a
# mapping of their own (512-d rather than 128-d: fewer vectors, a quicker IVF to train).
vectors = (rng.standard_normal((20_000, 16)) @ rng.standard_normal((16, 512))).astype(np.float32)
ids = np.arange(20_000)
index = FaissIndex(folder + "/i.faiss", dimension=512, metric="euclidean", approximate_above=1000, huge_pages=huge)
index.add(ids, vectors)
(vectors_buffer,) = index.search_buffers()
out = {"vectors": huge_page_bytes(*vectors_buffer), "top1": index.search(vectors[:50] + 0.01, 5)[1][:, 0].tolist()}
index.save(IndexState(19_999, 20_000, 0, 1))
reloaded = FaissIndex(folder + "/i.faiss", dimension=512, metric="euclidean", approximate_above=1000, huge_pages=huge)
reloaded.load()
out["reloaded"] = huge_page_bytes(*reloaded.search_buffers()[0])
print(json.dumps(out))
"""


@pytest.mark.skipif(_thp_mode() not in ("madvise", "always"), reason="no transparent huge pages here")
def test_reranked_vectors_are_backed_by_huge_pages(tmp_path):
    import json
    import os
    import subprocess
    import sys

    result = {}
    for huge in (True, False):
        folder = tmp_path / str(huge)
        folder.mkdir()
        run = subprocess.run([sys.executable, "-c", _HUGE_PAGE_CASE, "1" if huge else "0", str(folder)],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert run.returncode == 0, run.stderr
        result[huge] = json.loads(run.stdout.strip().splitlines()[-1])
    advised = result[True]
    assert advised["vectors"] >= 8 * (2 << 20), "IVF's exact vectors not on huge pages"
    assert advised["reloaded"] >= 8 * (2 << 20), "a loaded index is not on huge pages"
    if _thp_mode() == "madvise":  # nothing else asks for them: the index's advice is what counts
        assert result[False]["vectors"] == 0 and result[False]["reloaded"] == 0
    for huge in (True, False):  # huge pages change where the bytes sit, not the answers
        assert result[huge]["top1"] == list(range(50))


def test_advise_huge_pages_refuses_what_it_cannot_help():
    from countenance.gallery.hugepages import advise_huge_pages

    small = np.zeros(1000, np.float32)
    assert advise_huge_pages(small.ctypes.data, small.nbytes) is False  # under one 2 MiB page


@pytest.mark.parametrize("config", CONFIGS)
def test_mapped_index_answers_exactly_like_the_loaded_one(tmp_path, config):
    vectors, ids = _vectors(300, seed=5), np.arange(10, 310)
    path = tmp_path / "i.faiss"
    built = FaissIndex(path, dimension=16, **config)
    built.add(ids, vectors)
    built.remove(ids[:7])  # HNSW: tombstones saved in the header
    state = IndexState(last_id=309, count=293, deletions=1, generation=2)
    built.save(state)
    loaded = FaissIndex(path, dimension=16, **config)
    mapped = FaissIndex(path, dimension=16, mmap=True, **config)
    assert loaded.load() == state and mapped.load() == state
    assert mapped.mapped and not loaded.mapped and mapped.kind == loaded.kind
    queries = _vectors(40, seed=6)
    for k in (1, 10, 400):
        d_loaded, i_loaded = loaded.search(queries, k)
        d_mapped, i_mapped = mapped.search(queries, k)
        assert np.array_equal(i_mapped, i_loaded) and np.array_equal(d_mapped, d_loaded)
    if built.kind == "flat":
        for (d1, i1), (d2, i2) in zip(mapped.range_search(queries, 5.0), loaded.range_search(queries, 5.0)):
            assert np.array_equal(i1, i2) and np.array_equal(d1, d2)
    # Another process's save replaces the file: the mapping keeps reading the old one.
    built.add(np.array([999]), queries[:1])
    built.save(IndexState(last_id=999, count=294, deletions=1, generation=3))
    assert np.array_equal(mapped.search(queries, 10)[1], loaded.search(queries, 10)[1])
    # A change copies the mapped index into memory first; both then change alike.
    more = _vectors(20, seed=7)
    for index in (loaded, mapped):
        index.add(np.arange(1000, 1020), more)
        assert index.remove(np.array([1000, 20, 21])) == 3
    assert not mapped.mapped and mapped.count() == loaded.count() == 293 + 20 - 3
    d_loaded, i_loaded = loaded.search(queries, 10)
    d_mapped, i_mapped = mapped.search(queries, 10)
    assert np.array_equal(i_mapped, i_loaded) and np.allclose(d_mapped, d_loaded)
    data = path.read_bytes()
    mapped.reset()
    assert path.read_bytes() == data  # the file never changed under the mapping


def test_mapped_index_of_a_corrupt_file_is_none(tmp_path):
    path = tmp_path / "i.faiss"
    index = FaissIndex(path, dimension=16, metric="euclidean", approximate_above=50)
    index.add(np.arange(100), _vectors(100))
    index.save(IndexState(100, 100, 0, 1))
    whole = path.read_bytes()
    mapped = FaissIndex(path, dimension=16, metric="euclidean", approximate_above=50, mmap=True)
    for cut in (40, len(whole) // 2, len(whole) - 3):
        path.write_bytes(whole[:cut])
        assert mapped.load() is None and mapped.count() == 0 and not mapped.mapped


def _identities(n: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(templates, mated queries)``: 128-d, five per identity, like scripts/bench_gallery.py's
    isotropic stand-in (same person ~0.4 apart, different people ~0.9)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.049, (n // 5, 128)).astype(np.float32)
    templates = np.repeat(centres, 5, axis=0) + rng.normal(0.0, 0.025, (n, 128)).astype(np.float32)
    asked = centres[rng.integers(0, n // 5, queries)] + rng.normal(0.0, 0.025, (queries, 128)).astype(np.float32)
    return templates, asked


def test_ivf_finds_the_exact_nearest_and_removal_removes(tmp_path):
    from countenance.gallery.index_base import APPROXIMATE_ABOVE

    n = APPROXIMATE_ABOVE + 5_000  # the default size at which the IVF takes over
    templates, queries = _identities(n, 1000, seed=11)
    ids = np.arange(n, dtype=np.int64) * 7 + 3
    index = FaissIndex(tmp_path / "i.faiss", dimension=128, metric="euclidean")
    index.add(ids, templates)
    assert index.kind == "ivf"
    exact = FaissIndex(None, dimension=128, metric="euclidean", approximate_above=10 * n)
    exact.add(ids, templates)
    distances, found = index.search(queries, 10)
    true_distances, truth = exact.search(queries, 10)
    assert np.mean(found[:, 0] == truth[:, 0]) >= 0.99
    hit = found[:, 0] == truth[:, 0]
    np.testing.assert_allclose(distances[hit, 0], true_distances[hit, 0], rtol=1e-5)  # re-ranked: true distances

    gone = np.unique(truth[:, 0])[:300]  # the answers most asked for
    assert index.remove(gone) == gone.size and index.kind == "ivf"
    _, after = index.search(queries, 10)
    assert not np.isin(after, gone).any()
    index.save(IndexState(last_id=int(ids[-1]), count=n - gone.size, deletions=1, generation=2))
    data = (tmp_path / "i.faiss").read_bytes()
    rows = {int(v): templates[i] for i, v in enumerate(ids.tolist())}
    assert rows[int(ids[0])].tobytes() in data or int(ids[0]) in set(gone.tolist())
    assert not any(rows[int(v)].tobytes() in data for v in gone.tolist())
    reopened = FaissIndex(tmp_path / "i.faiss", dimension=128, metric="euclidean", mmap=True)
    assert reopened.load() is not None and reopened.kind == "ivf" and reopened.count() == n - gone.size
    assert np.array_equal(reopened.search(queries, 10)[1], after)


def test_an_older_hnsw_file_is_taken_over(tmp_path, caplog):
    import json
    import struct

    import faiss

    vectors, ids = _vectors(300, seed=12), np.arange(100, 400, dtype=np.int64)
    hnsw = faiss.IndexIDMap2(faiss.IndexHNSWFlat(16, 16))
    hnsw.add_with_ids(vectors, ids)
    removed = [100, 101, 102]  # the old format's tombstones
    header = json.dumps({"state": {"last_id": 399, "count": 297, "deletions": 1, "generation": 4},
                         "dimension": 16, "metric": "euclidean", "removed": removed}).encode()
    path = tmp_path / "i.faiss"
    path.write_bytes(b"CNTNIDX1" + struct.pack("<Q", len(header)) + header + faiss.serialize_index(hnsw).tobytes())
    for mmap in (False, True):
        index = FaissIndex(path, dimension=16, metric="euclidean", approximate_above=50, mmap=mmap)
        assert index.load() == IndexState(399, 297, 1, 4)
        assert index.kind == "ivf" and index.count() == 297 and "HNSW" in caplog.text
        distances, found = index.search(vectors[:10], 5)
        assert found[3:, 0].tolist() == ids[3:10].tolist() and not np.isin(found, removed).any()
