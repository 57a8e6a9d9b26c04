"""How long a second gallery object takes to catch up after another one forgets someone.

Two ``Gallery`` objects on one folder (as two REST worker threads, or the service and a CLI
process, have): A forgets one subject; B's next request syncs its index. Before the deletion
log B rebuilt its whole index (``reset`` + every vector again); now it removes the deleted ids.
For each size N it fills a gallery with N synthetic 128-d templates (2 per subject, written
straight to the store in one transaction), opens A on no index file (a full build: HNSW above
20,000), opens B on A's file, then times:

- ``forget``: A forgets one subject (2 templates; includes the index save and ``erase_freed``);
- ``catch-up``: B's sync after it (the delta path; B's ``rebuilds`` must stay 0);
- ``catch-up x100``: B's sync after A forgot 100 more subjects;
- ``rebuild``: B's full rebuild from the store (what every such sync cost before).

Run: ``.venv/bin/python scripts/bench_mirror_catchup.py [--sizes 20000 50000 100000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from countenance.backends.dlib_backend import DLIB_RESNET_SPEC
from countenance.gallery import Gallery
from countenance.gallery.core import DB_NAME, INDEX_FILES
from countenance.gallery.store import Store

PER_SUBJECT = 2
NOW = "2026-01-01T00:00:00.000000Z"


def fill(folder: Path, n: int, seed: int = 0) -> None:
    """A gallery of ``n`` synthetic templates (isotropic stand-ins: same person ~0.4 apart)."""
    Gallery.create(folder, model=DLIB_RESNET_SPEC, actor="bench").close()
    rng = np.random.default_rng(seed)
    subjects = n // PER_SUBJECT
    centres = rng.standard_normal((subjects, 128)).astype(np.float32) * 0.06
    store = Store.open(folder / DB_NAME)
    try:
        with store.transaction():
            for s in range(subjects):
                subject_id = store.add_subject(f"s{s}", NOW)
                noise = rng.standard_normal((PER_SUBJECT, 128)).astype(np.float32) * 0.025
                for t in range(PER_SUBJECT):
                    store.add_template(subject_id, None, DLIB_RESNET_SPEC.name, centres[s] + noise[t], source_path=None,
                                       source_sha256=f"{s:032x}{t:032x}", box=[0.0, 0.0, 1.0, 1.0], crop=None, now=NOW,
                                       actor="bench")
    finally:
        store.close()
    for name in INDEX_FILES.values():
        (folder / name).unlink(missing_ok=True)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        folder = Path(tmp) / "g"
        fill_s = timed(lambda: fill(folder, n))
        start = time.perf_counter()
        a = Gallery(folder, actor="a")
        open_a = time.perf_counter() - start
        start = time.perf_counter()
        b = Gallery(folder, actor="b")
        open_b = time.perf_counter() - start
        try:
            mirror = b.mirrors["templates"]
            kind = b.info()["index"]["kind"]
            forget = timed(lambda: a.forget("s7"))
            catch_up = timed(b.sync)
            assert mirror.rebuilds == 0 and b.index("templates").count() == n - PER_SUBJECT, "B rebuilt"
            for s in range(100, 200):
                a.forget(f"s{s}")
            catch_up_100 = timed(b.sync)
            assert mirror.rebuilds == 0 and b.index("templates").count() == n - 101 * PER_SUBJECT
            rebuild = timed(mirror.rebuild)
            assert mirror.rebuilds == 1 and b.index("templates").count() == n - 101 * PER_SUBJECT
        finally:
            b.close()
            a.close()
    return {"n": n, "kind": kind, "fill": fill_s, "open_a": open_a, "open_b": open_b, "forget": forget,
            "catch_up": catch_up, "catch_up_100": catch_up_100, "rebuild": rebuild}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    args = parser.parse_args()
    print("| templates | index | A open (full build) | B open (file) | A forget | B catch-up | B catch-up, 100 forgets | B rebuild (before) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        r = measure(n)
        print(f"| {n:,} | {r['kind']} | {r['open_a']:.1f} s | {r['open_b']:.2f} s | {r['forget'] * 1e3:.0f} ms | "
              f"{r['catch_up'] * 1e3:.1f} ms | {r['catch_up_100'] * 1e3:.1f} ms | {r['rebuild']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
