"""What only the embedded FAISS index does: its file (removed vectors leave it; a missing,
foreign or truncated file reads as "rebuild"), range search, and huge pages for HNSW.

The protocol checks every backend shares are in conformance/test_vector_indexes.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from countenance.errors import Unsupported
from countenance.gallery import FaissIndex, IndexState


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


CONFIGS = [
    pytest.param({"metric": "euclidean"}, id="flat-euclidean"),
    pytest.param({"metric": "cosine"}, id="flat-cosine"),
    pytest.param({"metric": "euclidean", "hnsw_above": 50}, id="hnsw-euclidean"),
    pytest.param({"metric": "cosine", "hnsw_above": 50}, id="hnsw-cosine"),
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


def test_optional_feature_raises_unsupported(tmp_path):
    flat = FaissIndex(None, dimension=16, metric="euclidean")
    vectors = _vectors(60, seed=3)
    flat.add(np.arange(60), vectors)
    (distances, found), = flat.range_search(vectors[:1], 1e-3)
    assert found.tolist() == [0]
    hnsw = FaissIndex(None, dimension=16, metric="euclidean", hnsw_above=10)
    hnsw.add(np.arange(60), vectors)
    with pytest.raises(Unsupported):
        hnsw.range_search(vectors[:1], 1.0)


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
# 70,000 x 128 float32 = 34 MB: above glibc's largest mmap threshold, so the vectors get a
# mapping of their own. Low intrinsic dimension (16-d seen in 128-d): a small graph finds each.
vectors = (rng.standard_normal((70_000, 16)) @ rng.standard_normal((16, 128))).astype(np.float32)
ids = np.arange(70_000)
index = FaissIndex(folder + "/i.faiss", dimension=128, metric="euclidean", hnsw_above=1000,
                   hnsw_m=16, ef_construction=40, huge_pages=huge)
index.add(ids, vectors)
codes, graph = index.search_buffers()
out = {"codes": huge_page_bytes(*codes), "graph": huge_page_bytes(*graph),
       "top1": index.search(vectors[:50] + 0.01, 5)[1][:, 0].tolist()}
index.save(IndexState(69_999, 70_000, 0, 1))
reloaded = FaissIndex(folder + "/i.faiss", dimension=128, metric="euclidean", huge_pages=huge)
reloaded.load()
out["reloaded"] = huge_page_bytes(*reloaded.search_buffers()[0])
print(json.dumps(out))
"""


@pytest.mark.skipif(_thp_mode() not in ("madvise", "always"), reason="no transparent huge pages here")
def test_hnsw_vectors_and_graph_are_backed_by_huge_pages(tmp_path):
    import json
    import subprocess
    import sys

    result = {}
    for huge in (True, False):
        folder = tmp_path / str(huge)
        folder.mkdir()
        run = subprocess.run([sys.executable, "-c", _HUGE_PAGE_CASE, "1" if huge else "0", str(folder)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        result[huge] = json.loads(run.stdout.strip().splitlines()[-1])
    advised = result[True]
    assert advised["codes"] >= 8 * (2 << 20), "HNSW vectors not on huge pages"
    assert advised["graph"] > 0, "HNSW graph not on huge pages"
    assert advised["reloaded"] >= 8 * (2 << 20), "a loaded index is not on huge pages"
    if _thp_mode() == "madvise":  # nothing else asks for them: the index's advice is what counts
        assert result[False]["codes"] == 0 and result[False]["reloaded"] == 0
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
    index = FaissIndex(path, dimension=16, metric="euclidean", hnsw_above=50)
    index.add(np.arange(100), _vectors(100))
    index.save(IndexState(100, 100, 0, 1))
    whole = path.read_bytes()
    mapped = FaissIndex(path, dimension=16, metric="euclidean", hnsw_above=50, mmap=True)
    for cut in (40, len(whole) // 2, len(whole) - 3):
        path.write_bytes(whole[:cut])
        assert mapped.load() is None and mapped.count() == 0 and not mapped.mapped
