"""`make load`: the REST service under load, on loopback only.

Builds a gallery of the fixture people (real faces, real consent records) plus synthetic
templates up to --templates (default 100,000; written straight into the gallery's SQLite in one
transaction, then indexed once), starts `countenance serve` on a free loopback port, creates an
identify key, and has --clients (8) concurrent clients send identify requests with the fixture
photos for --seconds (60). Prints throughput and p50/p95/p99 latency; exits 1 on any 5xx, any
error or any wrong name (an enrolled person answered "unknown" is counted as a miss).

Beside it, in the same run: the server's very first request (galleries are opened and models
loaded at start, so it should cost what any other does), single-request latency (one client,
one request at a time, --single requests), the photos' sizes, the load average before and
after, and what a one-shot command pays to open the gallery: its index mapped (what the CLI
does) against read into memory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
# The fast path the README recommends (YuNet), from ../shared when it is there and no model
# folder was chosen; otherwise "auto" is dlib's HOG, several times slower per photo.
_YUNET = REPO.parent / "shared" / "models" / "yunet"
if "COUNTENANCE_MODEL_DIR" not in os.environ and _YUNET.is_dir():
    os.environ["COUNTENANCE_MODEL_DIR"] = str(_YUNET)

from countenance.datasets import fixtures_dir  # noqa: E402
from countenance.gallery import Gallery  # noqa: E402
from countenance.service.enrolment import EnrolFolderOptions, enrol_folder  # noqa: E402
from countenance.service.gallery import InitOptions, init_gallery  # noqa: E402
from countenance.service.keys import create_key  # noqa: E402
from countenance.service.options import GalleryOptions, PipelineOptions  # noqa: E402

# Probe photos and who the gallery must name in them (data/fixtures/README.md).
PROBES = {
    "obama1.jpg": "obama", "obama-240p.jpg": "obama", "johnsnow_test1.jpg": "kit_harington",
    "alex_lacamoire1.jpg": "alex_lacamoire", "lin-manuel-miranda.png": "unknown",
}


def build_gallery(folder: Path, templates: int, per_subject: int, pipeline: PipelineOptions) -> int:
    """The fixture people enrolled for real, then synthetic subjects up to ``templates``."""
    fixtures = fixtures_dir()
    init_gallery(InitOptions(GalleryOptions(folder), embedder=pipeline.embedder))
    consent = folder.parent / "consent.json"
    consent.write_text(json.dumps({"*": {"text": "load test fixture", "evidence": "fixture licence"}}))
    enrol_folder(EnrolFolderOptions(fixtures / "people", consent, GalleryOptions(folder, actor="load"), pipeline))
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with Gallery(folder, actor="load") as gallery:
        real = gallery.store.vectors("templates", list(range(1, gallery.template_count + 1)))
        scale = float(np.mean([np.linalg.norm(v) for v in real.values()]))
        missing = max(0, templates - gallery.template_count)
        now = gallery.log.now()
        # One transaction, no audit entries: synthetic data, not enrolments of people.
        with gallery.store.transaction():
            subject_id = None
            for i in range(missing):
                if i % per_subject == 0:
                    subject_id = gallery.store.add_subject(f"synthetic-{i // per_subject:06d}", now)
                    centre = rng.normal(size=128).astype(np.float32)
                vector = centre + 0.35 * rng.normal(size=128).astype(np.float32)
                vector *= scale / np.linalg.norm(vector)
                gallery.store.add_template(subject_id, None, gallery.model.name, vector.astype(np.float32), source_path=None,
                                           source_sha256=f"synthetic-{i}", box=[0, 0, 0, 0], crop=None, now=now, actor="load")
        written = time.perf_counter()
        count = gallery.template_count  # brings the index up to date (HNSW above 20,000)
        gallery.flush()
    print(f"gallery: {count:,} templates ({missing:,} synthetic written in {written - start:.1f} s, "
          f"indexed in {time.perf_counter() - written:.1f} s)", flush=True)
    return count


def open_costs(folder: Path, repeat: int = 5) -> str:
    """Median time to open the gallery and answer one search: index mapped (one-shot commands) vs read."""
    probe = np.random.default_rng(1).normal(size=(1, 128)).astype(np.float32)
    costs = {}
    for label, mapped in (("mapped", True), ("read", False)):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            with Gallery(folder, actor="load", map_index=mapped) as gallery:
                gallery.index("templates").search(probe, 10)
            times.append((time.perf_counter() - start) * 1000)
        costs[label] = statistics.median(times)
    return f"open the gallery + one search (a one-shot command): index mapped {costs['mapped']:.0f} ms, read {costs['read']:.0f} ms"


def one_at_a_time(base: str, token: str, photos: dict[str, bytes], count: int) -> list[float]:
    """Latencies (ms) of ``count`` identify requests sent one after another; the first is the server's first."""
    names = list(photos)
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as session:
        for i in range(count + 1):
            start = time.perf_counter()
            session.post("/v1/identify", files={"image": (names[i % len(names)], photos[names[i % len(names)]])})
            out.append((time.perf_counter() - start) * 1000)
    return out


def photo_size(data: bytes) -> str:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return f"{image.width}x{image.height}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--per-subject", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--single", type=int, default=40, help="requests sent one at a time before the load")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2, help="server worker threads (one pipeline each)")
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--embedder", default="auto")
    args = parser.parse_args()
    pipeline = PipelineOptions(detector=args.detector, embedder=args.embedder)
    fixtures = fixtures_dir()
    photos = {name: (fixtures / "probes" / name).read_bytes() for name in PROBES}

    with tempfile.TemporaryDirectory(prefix="countenance-load-") as scratch:
        folder = Path(scratch) / "gallery"
        count = build_gallery(folder, args.templates, args.per_subject, pipeline)
        print(open_costs(folder), flush=True)
        token = create_key(GalleryOptions(folder), "identify", "load test").token
        port = free_port()
        command = [sys.executable, "-m", "countenance.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--gallery", str(folder), "--threads", str(args.threads), "--rate", "100000", "--burst", "100000",
                   "--detector", args.detector, "--embedder", args.embedder]
        env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start:", server.stderr.read()[-3000:] if server.stderr else "", file=sys.stderr)
                    return 1
                time.sleep(0.2)

            single_ms = one_at_a_time(base, token, photos, args.single)
            same = single_ms[len(photos) :: len(photos)]  # later requests with the first one's photo
            print(f"first request after start: {single_ms[0]:.0f} ms ({next(iter(photos))}; later with the same photo: "
                  f"median {percentile(same, 50):.0f} ms); one at a time ({len(single_ms) - 1} more, all photos): "
                  f"p50 {percentile(single_ms[1:], 50):.0f}, p99 {percentile(single_ms[1:], 99):.0f} ms", flush=True)
            load_before = os.getloadavg()[0]
            latencies_ms: list[float] = []
            statuses: dict[int, int] = {}
            problems: list[str] = []
            misses: dict[str, int] = {}
            lock = threading.Lock()
            stop_at = time.monotonic() + args.seconds
            names = list(photos)

            def client(index: int) -> None:
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as session:
                    i = index
                    while time.monotonic() < stop_at:
                        name = names[i % len(names)]
                        i += 1
                        start = time.perf_counter()
                        try:
                            response = session.post("/v1/identify", files={"image": (name, photos[name])})
                        except httpx.HTTPError as error:
                            with lock:
                                problems.append(f"{name}: {type(error).__name__}: {error}")
                            continue
                        elapsed = (time.perf_counter() - start) * 1000
                        with lock:
                            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                            if response.status_code != 200:
                                problems.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
                                continue
                            latencies_ms.append(elapsed)
                            decisions = [f["decision"] for f in response.json()["faces"]]
                            if decisions[:1] == ["unknown"] and PROBES[name] != "unknown":
                                # A miss, not an error: the threshold tightens with the gallery's
                                # size (FPIR held over 100k templates), so a weak match is "unknown".
                                misses[name] = misses.get(name, 0) + 1
                            elif decisions[:1] != [PROBES[name]]:
                                problems.append(f"{name}: expected {PROBES[name]}, got {decisions}")

            began = time.perf_counter()
            workers = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall_s = time.perf_counter() - began
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    sizes = ", ".join(f"{name} {photo_size(data)}" for name, data in photos.items())
    print(f"{args.clients} clients, {wall_s:.1f} s, gallery of {count:,} templates, {args.threads} server threads, "
          f"{os.cpu_count()} cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; photos: {sizes}")
    print(f"requests: {sum(statuses.values()):,} ({json.dumps(statuses)}); throughput {len(latencies_ms) / wall_s:.1f} req/s")
    print(f"latency ms: p50 {percentile(latencies_ms, 50):.0f}, p95 {percentile(latencies_ms, 95):.0f}, "
          f"p99 {percentile(latencies_ms, 99):.0f}, mean {statistics.fmean(latencies_ms) if latencies_ms else float('nan'):.0f}")
    print(f"5xx: {server_errors}, errors: {len(problems)} (wrong names, failed requests); "
          f"enrolled people answered unknown: {json.dumps(misses)}")
    for problem in problems[:10]:
        print("  ", problem)
    return 1 if server_errors or problems or not latencies_ms else 0


if __name__ == "__main__":
    sys.exit(main())
