"""Gallery scale benchmark: the gallery's own index (``FaissIndex``) against brute-force numpy.

For each size N (default 1,000,000; ``--quick``: 100,000) it builds N synthetic 128-d dlib-like
templates and ``--queries`` mated queries (new samples of enrolled identities), then reports:

- build time of ``FaissIndex.add`` (``--build-threads``; exact below ``APPROXIMATE_ABOVE``, an
  IVF of 4-bit PQ fast-scan codes with exact re-ranking above);
- single-query p50/p99 latency on one core (``faiss.omp_set_num_threads(1)``, one query per
  ``search`` call, k = 10, as ``Gallery.identify`` does), for a few probe scales (a search scans
  scale x the lists of `countenance.gallery.ivf.probes`; the default is marked), with the load average;
- recall@1 (same top-1 id as exact search) and recall@10 (overlap of the top 10) against exact
  search (``faiss.IndexFlatL2`` on all cores, computed once, not timed);
- memory: the RSS growth while building and the size of the saved index file;
- huge pages: the share of the re-ranked exact vectors on 2 MiB pages (``FaissIndex`` asks for
  them), and the default probe scale again on the same saved index loaded on 4 KiB pages;
- the same latency for brute-force numpy (``|x|^2 - 2 X q`` with precomputed norms, then
  ``np.argpartition``; one BLAS thread) and the ratio numpy / index.

Synthetic templates ("clustered like real ones"): with ``--fit-lfw`` (LFW's dlib templates,
from the template cache that ``scripts/lfw_cache.py`` fills; computed on first use), identity
centres are drawn from a Gaussian with the mean and covariance of the real per-person means
(less the within-person part those means still carry), and each template adds Gaussian noise
with the real within-person covariance, scaled so the median same-person distance matches the
real one. Otherwise (the default) an isotropic stand-in is used (same ~0.4, different ~0.9 apart). Each
identity has ``--per-identity`` templates (default 5: 1M templates = 200k identities).

Latency is the median of ``--rounds`` (3) rounds over all queries: on a shared virtual machine
one round can be 20% off. ``--index-cache DIR`` keeps each built index (and its build time and
memory) so a later run times it again without the build (the templates are seeded).

The last lines compare the product's default with the goals (issue 23): p50 under 1 ms at
1M templates and under 5 ms at 10M, each at recall@1 >= 0.99, on one core; "p50/limit" is the
ratio against the limit (under 1 meets it).

Run: ``.venv/bin/python scripts/bench_gallery.py [--sizes 1000000 10000000] [--queries 5000]``
or ``--quick``. Prints one table at the end.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import glob
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import faiss

from countenance.gallery.hugepages import huge_page_bytes
from countenance.gallery.index_base import APPROXIMATE_ABOVE, IndexState
from countenance.gallery.index_faiss import FaissIndex
from countenance.gallery.ivf import PROBE_SCALE

DIMENSION = 128
K = 10
#: Issue 23's goals: (largest size, p50 limit in ms); recall@1 >= GOAL_RECALL against exact.
GOALS = ((1_000_000, 1.0), (10_000_000, 5.0))
GOAL_RECALL = 0.99


def load_average() -> str:
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


# ---------------------------------------------------------------- synthetic templates


@dataclass(frozen=True)
class TemplateModel:
    """A Gaussian identity model: centres ~ N(mean, between), templates = centre + N(0, within)."""

    mean: np.ndarray  # (128,) float64
    between_chol: np.ndarray  # (128, 128) lower Cholesky factor of the between-identity covariance
    within_chol: np.ndarray  # (128, 128) lower Cholesky factor of the within-identity covariance
    spread_sigma: float  # each identity's noise is scaled by exp(N(0, spread_sigma)) (some people vary more)
    source: str

    def spreads(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.exp(self.spread_sigma * rng.standard_normal(n)).astype(np.float32)

    def centres(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._draw(rng, n, self.between_chol) + self.mean.astype(np.float32)

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._draw(rng, n, self.within_chol)

    @staticmethod
    def _draw(rng: np.random.Generator, n: int, chol: np.ndarray, chunk: int = 1_000_000) -> np.ndarray:
        out = np.empty((n, DIMENSION), np.float32)
        factor = chol.T.astype(np.float32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            out[start:stop] = rng.standard_normal((stop - start, DIMENSION), dtype=np.float32) @ factor
        return out


def _psd_cholesky(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    values = np.maximum(values, 1e-8)
    return np.linalg.cholesky((vectors * values) @ vectors.T)


def _real_templates(fit_lfw: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """``(vectors (n, 128) float64, person labels (n,))`` of LFW's dlib templates (from the template
    cache: ``scripts/lfw_cache.py`` fills it, ~50 min on 2 cores the first time), or None when
    not asked for (``--fit-lfw``) or when too few people have two templates to fit the noise."""
    if not fit_lfw:
        return None
    from countenance.datasets import lfw_dir
    from countenance.evaluate import load_lfw_templates

    templates = load_lfw_templates(lfw_dir(), embedder="dlib-onnx", workers=os.cpu_count() or 1)
    vectors = templates.vectors[templates.ok].astype(np.float64)
    people = np.array([p.split("/")[0] for p, ok in zip(templates.paths, templates.ok) if ok])
    _, counts = np.unique(people, return_counts=True)
    if (counts >= 2).sum() < 2 * DIMENSION:
        print(f"only {(counts >= 2).sum()} people with 2+ LFW templates: using the isotropic stand-in")
        return None
    return vectors, people


def fit_template_model(real: tuple[np.ndarray, np.ndarray] | None) -> TemplateModel:
    if real is None:
        # Isotropic stand-in: same-person distance sqrt(2*128)*0.025 = 0.4, different ~0.9.
        within = np.eye(DIMENSION) * 0.025**2
        between = np.eye(DIMENSION) * 0.049**2
        return TemplateModel(np.zeros(DIMENSION), _psd_cholesky(between), _psd_cholesky(within), 0.0,
                             "isotropic stand-in (no cached LFW templates)")
    vectors, people = real
    names, inverse, counts = np.unique(people, return_inverse=True, return_counts=True)
    means = np.zeros((names.size, DIMENSION))
    np.add.at(means, inverse, vectors)
    means /= counts[:, None]
    multi = counts[inverse] >= 2
    residual = (vectors - means[inverse])[multi]
    dof = multi.sum() - (counts >= 2).sum()
    within = residual.T @ residual / dof
    # Per-person means of people with >= 2 photos still hold within / n of noise: remove it.
    keep = counts >= 2
    between = np.cov(means[keep].T) - within * np.mean(1.0 / counts[keep])
    # Real same-person distances spread more than one Gaussian gives (some people vary more
    # than others): give each identity a log-normal noise scale whose sigma makes up the
    # difference in log(p95 / p5), then scale the noise so the median same-person distance matches.
    rng = np.random.default_rng(1)
    real_same = _same_distances(vectors, inverse, rng)
    model = TemplateModel(means[keep].mean(0), _psd_cholesky(between), _psd_cholesky(within), 0.0, "")
    ours = np.linalg.norm(model.noise(rng, 20000) - model.noise(rng, 20000), axis=1)
    width = lambda d: np.log(np.percentile(d, 95) / np.percentile(d, 5)) / (2 * 1.645)  # noqa: E731
    sigma = float(np.sqrt(max(width(real_same) ** 2 - width(ours) ** 2, 0.0)))
    ours = ours * model.__class__(model.mean, model.between_chol, model.within_chol, sigma, "").spreads(rng, ours.size)
    scale = float(np.median(real_same) / np.median(ours))
    return TemplateModel(
        model.mean, model.between_chol, model.within_chol * scale, sigma,
        f"fitted to {vectors.shape[0]} LFW dlib templates of {names.size} people "
        f"({keep.sum()} with >= 2 photos): centres ~ N(mean, cov of per-person means - within/n), "
        f"noise ~ N(0, within-person cov) x {scale:.2f} x per-identity exp(N(0, {sigma:.2f}))",
    )


def _same_distances(vectors: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int = 20000) -> np.ndarray:
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, labels.size])
    groups = np.flatnonzero(sizes >= 2)
    pick = rng.choice(groups, n)
    a = rng.integers(0, sizes[pick])
    b = (a + rng.integers(1, sizes[pick])) % sizes[pick]
    return np.linalg.norm(vectors[order[starts[pick] + a]] - vectors[order[starts[pick] + b]], axis=1)


def _different_distances(vectors: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int = 20000) -> np.ndarray:
    a = rng.integers(0, labels.size, n)
    b = rng.integers(0, labels.size, n)
    ok = labels[a] != labels[b]
    return np.linalg.norm(vectors[a[ok]] - vectors[b[ok]], axis=1)


def make_gallery(model: TemplateModel, n: int, per_identity: int, queries: int, seed: int = 0):
    """``(templates (n, 128) float32, labels (n,), queries (q, 128) float32, query labels (q,))``."""
    rng = np.random.default_rng(seed)
    identities = -(-n // per_identity)
    centres = model.centres(rng, identities)
    spreads = model.spreads(rng, identities)
    labels = np.repeat(np.arange(identities), per_identity)[:n]
    templates = model.noise(rng, n)
    templates *= spreads[labels, None]
    templates += centres[labels]
    query_labels = rng.integers(0, identities, queries)
    query_vectors = model.noise(rng, queries) * spreads[query_labels, None] + centres[query_labels]
    return templates, labels, query_vectors, query_labels


def describe_distributions(real, templates: np.ndarray, labels: np.ndarray) -> list[str]:
    rng = np.random.default_rng(2)
    quantiles = (5, 50, 95)

    def fmt(d: np.ndarray) -> str:
        return " ".join(f"{v:.3f}" for v in np.percentile(d, quantiles))

    sample = rng.choice(labels.size, min(labels.size, 200_000), replace=False)
    lines = [f"distances (p5 p50 p95)      same-person           different people      template norm p50"]
    if real is not None:
        vectors, people = real
        inverse = np.unique(people, return_inverse=True)[1]
        lines.append(f"  real LFW dlib            {fmt(_same_distances(vectors, inverse, rng))}     "
                     f"{fmt(_different_distances(vectors, inverse, rng))}     {np.median(np.linalg.norm(vectors, axis=1)):.3f}")
    sub, sub_labels = templates[sample].astype(np.float64), labels[sample]
    lines.append(f"  synthetic                {fmt(_same_distances(templates.astype(np.float64), labels, rng))}     "
                 f"{fmt(_different_distances(sub, sub_labels, rng))}     {np.median(np.linalg.norm(sub, axis=1)):.3f}")
    return lines


# ---------------------------------------------------------------- measuring


def rss_bytes() -> int:
    """Resident memory, after handing freed heap back to the OS (so a delta counts new memory)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latencies_ms(search, queries: np.ndarray, warmup: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Per-query latency (ms) of ``search(q (1, d)) -> ids (1, k)``, one query at a time, and the ids."""
    for q in queries[:warmup]:
        search(q[None])
    times = np.empty(len(queries))
    found = np.empty((len(queries), K), np.int64)
    for i, q in enumerate(queries):
        start = time.perf_counter()
        found[i] = search(q[None])
        times[i] = (time.perf_counter() - start) * 1000.0
    return times, found


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """recall@1: the same top-1 id; recall@k (k > 1): mean overlap of the top-k id sets / k."""
    if k == 1:
        return float(np.mean(found[:, 0] == truth[:, 0]))
    return float(np.mean([len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))


@dataclass
class Row:
    size: int
    method: str
    build_s: float | None
    p50_ms: float
    p99_ms: float
    recall1: float
    recall10: float
    identity1: float
    rss_mb: float | None
    disk_mb: float | None
    ratio: float | None = None
    load: str = ""
    default: bool = False  # the product's default setting


def bench_size(n: int, args, model: TemplateModel, real, notes: list[str]) -> list[Row]:
    print(f"\n== {n:,} templates", flush=True)
    start = time.perf_counter()
    templates, labels, queries, query_labels = make_gallery(model, n, args.per_identity, args.queries)
    print(f"generated in {time.perf_counter() - start:.1f} s", flush=True)
    if not notes:
        notes.extend(describe_distributions(real, templates, labels))
        print("\n".join(notes), flush=True)

    # Ground truth: exact search on all cores (not timed as ours).
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    exact = faiss.IndexFlatL2(DIMENSION)
    exact.add(templates)
    _, truth = exact.search(queries, K)
    del exact
    print(f"ground truth in {time.perf_counter() - start:.1f} s", flush=True)
    rows: list[Row] = []

    # Brute-force numpy, one thread, one query at a time (norms precomputed, as a numpy gallery would).
    norms = np.einsum("ij,ij->i", templates, templates)

    def numpy_search(q: np.ndarray) -> np.ndarray:
        d = norms - 2.0 * (templates @ q[0])
        top = np.argpartition(d, K)[:K]
        return top[np.argsort(d[top])]

    with threadpool_limits(1):
        nq = min(args.queries, args.numpy_queries)
        times, found = latencies_ms(numpy_search, queries[:nq], warmup=3)
    numpy_p50 = float(np.median(times))
    rows.append(Row(n, "numpy brute force", None, numpy_p50, float(np.percentile(times, 99)),
                    recall_at(found, truth[:nq], 1), recall_at(found, truth[:nq], K),
                    float(np.mean(labels[found[:, 0]] == query_labels[:nq])), None, templates.nbytes / 2**20))
    print(_format(rows[-1]), flush=True)
    del norms

    # The gallery's own index: FaissIndex, ids = row numbers.
    folder = tempfile.TemporaryDirectory()
    saved = Path(folder.name) / "templates.faiss"
    cached = Path(args.index_cache) / f"bench-{n}-{args.per_identity}-ivf.faiss" if args.index_cache else None
    if cached is not None and cached.is_file() and cached.with_suffix(".json").is_file():
        # Built by an earlier run on the same templates (they are seeded): time it, don't rebuild.
        index = FaissIndex(cached, dimension=DIMENSION, metric="euclidean")
        if index.load() is None or index.count() != n:
            raise SystemExit(f"{cached} is not a {n:,}-template index: delete it")
        recorded = json.loads(cached.with_suffix(".json").read_text())
        build_s, rss_mb = recorded["build_s"], recorded["rss_mb"]
        index.path, saved = None, cached
        print(f"loaded {cached} (built in {build_s:.1f} s by an earlier run)", flush=True)
    else:
        index = FaissIndex(None, dimension=DIMENSION, metric="euclidean")
        gc.collect()
        before = rss_bytes()
        faiss.omp_set_num_threads(args.build_threads)
        start = time.perf_counter()
        index.add(np.arange(n, dtype=np.int64), templates)
        build_s = time.perf_counter() - start
        rss_mb = (rss_bytes() - before) / 2**20
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            saved = cached
        index.path = saved
        index.save(IndexState(last_id=n - 1, count=n, deletions=0, generation=n))
        index.path = None
        if cached is not None:
            cached.with_suffix(".json").write_text(json.dumps({"build_s": build_s, "rss_mb": rss_mb}))
    disk_mb = saved.stat().st_size / 2**20
    print(f"built {index.kind} ({index.lists[0]} lists) in {build_s:.1f} s on {args.build_threads} thread(s), "
          f"load {load_average()}; {_huge_page_share(index)}", flush=True)

    def timed(index: FaissIndex, scale: float | None, label: str) -> Row:
        faiss.omp_set_num_threads(1)
        if scale is not None:
            index.probe_scale = scale
        # Several rounds over all queries; the median round is reported (a shared machine's
        # neighbours come and go: one round can be 20% off).
        rounds = [latencies_ms(lambda q: index.search(q, K)[1][0], queries) for _ in range(args.rounds)]
        found = rounds[-1][1]
        p50s = sorted(float(np.median(times)) for times, _ in rounds)
        p99s = sorted(float(np.percentile(times, 99)) for times, _ in rounds)
        if args.rounds > 1:
            print(f"  p50 per round: {' '.join(f'{v:.3f}' for v in p50s)} ms", flush=True)
        row = Row(n, label, build_s, p50s[len(p50s) // 2], p99s[len(p99s) // 2],
                  recall_at(found, truth, 1), recall_at(found, truth, K),
                  float(np.mean(labels[found[:, 0]] == query_labels)), rss_mb, disk_mb, load=load_average())
        row.ratio = numpy_p50 / row.p50_ms
        rows.append(row)
        print(_format(row), flush=True)
        return row

    if index.kind == "flat":
        timed(index, None, "FaissIndex flat (exact)")
    else:
        for scale in sorted(set(args.probe_scale) | {PROBE_SCALE}):
            index.probe_scale = scale
            mark = " (default)" if scale == PROBE_SCALE else ""
            row = timed(index, scale, f"FaissIndex ivf{index.lists[0]} nprobe={index.lists[1]}{mark}")
            row.default = scale == PROBE_SCALE
    del index
    gc.collect()
    if args.page_comparison and os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"):
        # The same saved index on ordinary 4 KiB pages: what the huge-page advice is worth.
        small_pages = FaissIndex(saved, dimension=DIMENSION, metric="euclidean", huge_pages=False)
        small_pages.load()
        timed(small_pages, PROBE_SCALE, f"  same, 4 KiB pages ({_huge_page_share(small_pages)})")
        del small_pages
        gc.collect()
    folder.cleanup()
    return rows


def _huge_page_share(index: FaissIndex) -> str:
    """How much of an IVF index's re-ranked vectors sit on huge pages (e.g. "huge 98%")."""
    buffers = index.search_buffers()
    if not buffers:
        return "exact index"
    huge = sum(min(huge_page_bytes(address, nbytes), nbytes) for address, nbytes in buffers)
    return f"huge {100.0 * huge / sum(nbytes for _, nbytes in buffers):.0f}%"


HEADER = (f"{'N':>10}  {'method':<44} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} {'R@1':>7} {'R@10':>6} "
          f"{'id@1':>6} {'RSS MB':>7} {'disk MB':>8} {'numpy/x':>8} {'load':>5}")


def _format(row: Row) -> str:
    def opt(value: float | None, spec: str, width: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"

    return (f"{row.size:>10,}  {row.method:<44} {opt(row.build_s, '.1f', 8)} {row.p50_ms:8.3f} {row.p99_ms:8.3f} "
            f"{row.recall1:7.4f} {row.recall10:6.3f} {row.identity1:6.3f} {opt(row.rss_mb, '.0f', 7)} "
            f"{opt(row.disk_mb, '.0f', 8)} {opt(row.ratio, '.1f', 8)} {row.load:>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="gallery sizes (templates)")
    parser.add_argument("--queries", type=int, default=5000, help="mated queries per size (5,000: recall@1 to about +-0.003)")
    parser.add_argument("--numpy-queries", type=int, default=200, help="queries timed for brute-force numpy")
    parser.add_argument("--per-identity", type=int, default=5, help="templates per enrolled identity")
    parser.add_argument("--probe-scale", type=float, nargs="+", default=[0.78, 1.28],
                        help=f"scale the lists scanned (countenance.gallery.ivf.probes): scales timed beside the default {PROBE_SCALE}")
    parser.add_argument("--build-threads", type=int, default=os.cpu_count() or 1,
                        help="FAISS threads for the build (1 on a machine other jobs keep busy: OpenMP spins)")
    parser.add_argument("--no-page-comparison", dest="page_comparison", action="store_false",
                        help="skip re-timing the default on 4 KiB pages (needs a second copy in memory)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds over all queries (median round reported)")
    parser.add_argument("--index-cache", metavar="DIR",
                        help="keep each built index here and time it again on later runs instead of rebuilding")
    parser.add_argument("--fit-lfw", action="store_true",
                        help="fit the synthetic templates to LFW's real dlib templates (computed once into the template cache)")
    parser.add_argument("--quick", action="store_true", help="100,000 templates, 300 queries (for make bench)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries = [100_000], 300

    real = _real_templates(args.fit_lfw)
    model = fit_template_model(real)
    print(f"synthetic templates: {model.source}; {args.per_identity} per identity; queries are new samples "
          f"of enrolled identities; exact up to {APPROXIMATE_ABOVE:,} vectors, IVF (4-bit PQ fast scan, "
          f"exact re-ranking) above; {args.build_threads} thread(s) for the build, {os.cpu_count()} for ground "
          f"truth, 1 for queries; k = {K}; load average {load_average()}")
    notes: list[str] = []
    rows = [row for n in args.sizes for row in bench_size(n, args, model, real, notes)]
    print("\n" + "\n".join(notes))
    print("R@1/R@10: vs exact search; id@1: top-1 is the query's identity; RSS: growth while building; "
          "numpy/x: numpy p50 / this p50")
    print(HEADER)
    for row in rows:
        print(_format(row))
    print(f"\ngoals (p50 on one core, recall@1 >= {GOAL_RECALL} vs exact), the product's default:")
    for row in rows:
        limit = next((ms for size, ms in GOALS if row.size <= size), None)
        if row.default and limit is not None:
            met = row.p50_ms < limit and row.recall1 >= GOAL_RECALL
            print(f"  {row.size:>10,}: p50 {row.p50_ms:.3f} ms / limit {limit:.0f} ms = {row.p50_ms / limit:.2f}; "
                  f"recall@1 {row.recall1:.4f}; build {row.build_s:.0f} s, RSS +{row.rss_mb:.0f} MB, "
                  f"file {row.disk_mb:.0f} MB; load {row.load}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
