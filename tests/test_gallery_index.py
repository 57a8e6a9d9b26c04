"""Vector index backends (the protocol's conformance checks) and the calibration arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from countenance.errors import TemplateMismatch, UnknownBackend, Unsupported
from countenance.gallery import (
    Calibration,
    FaissIndex,
    IndexState,
    build_calibration,
    fmr_for_fpir,
    fpir_for_fmr,
    load_calibration,
    make_index,
)


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _exact(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    from countenance.decide import pairwise_distances

    return pairwise_distances(queries, vectors, metric)


# One conformance suite for every index configuration (exact and HNSW, both metrics).
CONFIGS = [
    pytest.param({"metric": "euclidean"}, id="flat-euclidean"),
    pytest.param({"metric": "cosine"}, id="flat-cosine"),
    pytest.param({"metric": "euclidean", "hnsw_above": 50}, id="hnsw-euclidean"),
    pytest.param({"metric": "cosine", "hnsw_above": 50}, id="hnsw-cosine"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_search_matches_exact_distances(tmp_path, config):
    vectors, ids = _vectors(200), np.arange(100, 300)
    index = FaissIndex(tmp_path / "i.faiss", dimension=16, **config)
    index.add(ids, vectors)
    assert index.count() == 200
    assert index.kind == ("hnsw" if "hnsw_above" in config else "flat")
    distances, found = index.search(vectors[:5], 3)
    assert distances.shape == found.shape == (5, 3)
    truth = _exact(vectors[:5], vectors, config["metric"])
    assert list(found[:, 0]) == list(ids[:5])  # each vector is its own nearest neighbour
    np.testing.assert_allclose(distances, np.sort(truth, axis=1)[:, :3], atol=1e-4)
    assert np.all(np.diff(distances, axis=1) >= 0)


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


def test_short_results_are_padded_and_empty_index_answers(tmp_path):
    index = FaissIndex(None, dimension=16, metric="euclidean")
    distances, found = index.search(_vectors(2), 3)
    assert np.all(np.isinf(distances)) and np.all(found == -1)
    index.add(np.array([7]), _vectors(1))
    distances, found = index.search(_vectors(1), 3)
    assert found[0].tolist() == [7, -1, -1] and np.isfinite(distances[0, 0]) and np.isinf(distances[0, 1:]).all()
    with pytest.raises(ValueError):
        index.search(_vectors(1), 0)
    with pytest.raises(TemplateMismatch):
        index.add(np.array([8]), _vectors(1, d=8))


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


def test_index_registry():
    assert isinstance(make_index("faiss", None, dimension=4, metric="cosine"), FaissIndex)
    with pytest.raises(UnknownBackend):
        make_index("nope", None, dimension=4, metric="cosine")


# ---------------------------------------------------------------- calibration


def test_fpir_formula_round_trips():
    assert fmr_for_fpir(0.01, 1) == pytest.approx(0.01)
    fmr = fmr_for_fpir(0.01, 1000)
    assert fmr == pytest.approx(1 - 0.99 ** (1 / 1000))
    assert fpir_for_fmr(fmr, 1000) == pytest.approx(0.01)
    assert fpir_for_fmr(0.5, 0) == 0.0
    with pytest.raises(ValueError):
        fmr_for_fpir(0.0, 10)


def test_build_calibration_measures_the_empirical_fmr():
    distances = np.random.default_rng(0).normal(0.9, 0.1, 200_000)
    cal = build_calibration(distances, model="m", metric="euclidean")
    assert cal.impostor_pairs == 200_000 and cal.floor == pytest.approx(1 / 200_000)
    for d in (0.5, 0.6, 0.7, 0.9):
        assert cal.false_match_rate(d) == pytest.approx(np.mean(distances <= d), rel=0.15)
    assert cal.false_match_rate(-5.0) == cal.floor  # clamped below the smallest impostor
    assert cal.false_match_rate(math.inf) == 1.0
    assert cal.distance_at_fmr(1e-9) == cal.distances[0]
    assert np.mean(distances <= cal.distance_at_fmr(1e-3)) <= 1.1e-3
    # A bigger gallery needs a stricter threshold for the same FPIR.
    thresholds = [cal.threshold_for_fpir(0.01, n) for n in (1, 10, 100, 1000)]
    assert thresholds == sorted(thresholds, reverse=True)
    again = Calibration.from_dict(cal.to_dict())
    assert again.false_match_rate(0.6) == pytest.approx(cal.false_match_rate(0.6), rel=1e-4)


def test_shipped_dlib_calibration():
    cal = load_calibration("dlib-resnet-v1")
    assert cal is not None and cal.metric == "euclidean"
    assert cal.impostor_pairs > 4_000_000 and cal.floor < 1e-6
    # dlib's 0.6 is known to accept roughly 1 in 1000 LFW impostors or fewer.
    assert 1e-5 < cal.false_match_rate(0.6) < 1e-2
    assert load_calibration("no-such-model") is None
